package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

type sseEvent struct{ id, typ, data string }

// readStream follows GET /v1/stream and delivers its events.
func readStream(t *testing.T, ctx context.Context, url, lastID string) <-chan sseEvent {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/stream", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 1024)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var cur sseEvent
		for sc.Scan() {
			switch line := sc.Text(); {
			case line == "":
				if cur.typ != "" {
					out <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.data = line[6:]
			}
		}
	}()
	return out
}

// until reads events until one of type typ satisfies ok, and returns it with the
// events before it.
func until(t *testing.T, c <-chan sseEvent, typ string, ok func(data map[string]any) bool) (sseEvent, []sseEvent) {
	t.Helper()
	var seen []sseEvent
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev, open := <-c:
			if !open {
				t.Fatalf("stream ended waiting for %s", typ)
			}
			var d map[string]any
			_ = json.Unmarshal([]byte(ev.data), &d)
			if ev.typ == typ && ok(d) {
				return ev, seen
			}
			seen = append(seen, ev)
		case <-deadline:
			t.Fatalf("no %s event within 20 s (saw %d others)", typ, len(seen))
		}
	}
}

// TestStream: the broker's stream carries an order's progress, then, for a block
// share, the block before the new tip and the order's mined state; a client that
// reconnects with Last-Event-ID gets what it missed.
func TestStream(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := readStream(t, ctx, e.url, "")
	time.Sleep(100 * time.Millisecond) // subscribed before the changes below
	o := e.newOrder(0)
	until(t, c, "order", func(d map[string]any) bool { return d["id"] == o.id && d["state"] == "working" })
	if _, err := e.client.SubmitShares(e.ctx(), o.id, o.token, shares(o.first, nonces(t, o.first, 4, false))); err != nil {
		t.Fatal(err)
	}
	progress, _ := until(t, c, "order", func(d map[string]any) bool { return d["id"] == o.id && d["shares"] == 4.0 })
	if !strings.Contains(progress.data, `"progress":0.25`) || strings.Contains(progress.data, "pow_") {
		t.Fatalf("order event %s", progress.data)
	}
	tip := e.broker.Tip().Height
	res, err := e.client.SubmitShares(e.ctx(), o.id, o.token, shares(o.first, nonces(t, o.first, 1, true)))
	if err != nil || !res.Results[0].BlockAccepted {
		t.Fatalf("block share: %v", err)
	}
	blk, _ := until(t, c, "block", func(d map[string]any) bool { return d["hash"] == res.Results[0].Hash })
	tipEv, between := until(t, c, "tip", func(d map[string]any) bool { return d["height"] == float64(tip+1) })
	for _, ev := range between {
		if ev.typ == "tip" {
			t.Fatalf("a tip event before the block's tip: %s", ev.data)
		}
	}
	live := append(between, tipEv)
	isMined := func(ev sseEvent) bool {
		return ev.typ == "order" && strings.Contains(ev.data, `"id":"`+o.id+`"`) && strings.Contains(ev.data, `"state":"mined"`)
	}
	if !slices.ContainsFunc(live, isMined) {
		mined, more := until(t, c, "order", func(d map[string]any) bool { return d["id"] == o.id && d["state"] == "mined" })
		live = append(append(live, more...), mined)
	}

	// Reconnect from the block event: the replay is what followed it, in order.
	cancel()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	c2 := readStream(t, ctx2, e.url, blk.id)
	for i, want := range live {
		var got sseEvent
		select {
		case got = <-c2:
		case <-time.After(10 * time.Second):
			t.Fatalf("replay: no event %d", i)
		}
		if got != want {
			t.Fatalf("replayed event %d: %+v, live it was %+v", i, got, want)
		}
	}
}
