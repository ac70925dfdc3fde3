package sse_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker/sse"
)

type received struct{ id, typ, data string }

// stream connects to url and sends what it reads on the returned channel.
func stream(t *testing.T, ctx context.Context, url, lastID string) <-chan received {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	out := make(chan received, 4096)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var cur received
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.typ != "" {
					out <- cur
				}
				cur = received{}
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

func next(t *testing.T, c <-chan received) received {
	t.Helper()
	select {
	case r, ok := <-c:
		if !ok {
			t.Fatal("stream ended")
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return received{}
}

func waitClients(t *testing.T, h *sse.Hub, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if c, _ := h.Stats(); c == n {
			return
		}
	}
	c, _ := h.Stats()
	t.Fatalf("%d clients, want %d", c, n)
}

func TestOrderAndReconnect(t *testing.T) {
	h := sse.NewHub(sse.Options{Replay: 50})
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	c := stream(t, ctx, srv.URL, "")
	waitClients(t, h, 1)
	for i := 1; i <= 20; i++ {
		if err := h.Publish("n", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	var lastID string
	for i := 1; i <= 10; i++ {
		r := next(t, c)
		if r.typ != "n" || r.data != fmt.Sprintf(`{"i":%d}`, i) || r.id != h.ID(uint64(i)) {
			t.Fatalf("event %d: %+v", i, r)
		}
		lastID = r.id
	}
	cancel() // the client goes away after event 10
	waitClients(t, h, 0)
	for i := 21; i <= 25; i++ {
		_ = h.Publish("n", map[string]int{"i": i})
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	c2 := stream(t, ctx2, srv.URL, lastID)
	for i := 11; i <= 25; i++ {
		if r := next(t, c2); r.data != fmt.Sprintf(`{"i":%d}`, i) || r.id != h.ID(uint64(i)) {
			t.Fatalf("replayed event %d: %+v", i, r)
		}
	}
	_ = h.Publish("n", map[string]int{"i": 26})
	if r := next(t, c2); r.data != `{"i":26}` {
		t.Fatalf("live after replay: %+v", r)
	}

	// An id older than the replay buffer, or of another hub instance, gets a reset.
	for i := 27; i <= 80; i++ {
		_ = h.Publish("n", map[string]int{"i": i})
	}
	for _, id := range []string{h.ID(1), "otherhub-3", "garbage"} {
		ctx3, cancel3 := context.WithCancel(context.Background())
		if r := next(t, stream(t, ctx3, srv.URL, id)); r.typ != "reset" {
			t.Fatalf("Last-Event-ID %s: first event %+v, want reset", id, r)
		}
		cancel3()
	}
}

func TestSlowClientDropped(t *testing.T) {
	h := sse.NewHub(sse.Options{ClientBuf: 8, WriteTimeout: time.Second})
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })

	// The slow client sends its request and never reads.
	slow, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waitClients(t, h, 1)
	fast := stream(t, ctx, srv.URL, "")
	waitClients(t, h, 2)

	// The publisher goes at the fast client's pace; the slow one's socket buffers fill,
	// then its queue of 8, and it is dropped.
	big := strings.Repeat("x", 32<<10)
	const n = 400 // 12.8 MB: more than the socket buffers of the slow connection
	start := time.Now()
	for i := 1; i <= n; i++ {
		_ = h.Publish("big", map[string]any{"i": i, "pad": big})
		r := next(t, fast)
		if !strings.HasPrefix(r.data, fmt.Sprintf(`{"i":%d,`, i)) {
			t.Fatalf("fast client event %d: %.40s", i, r.data)
		}
	}
	t.Logf("%d events of 32 KiB to the fast client in %s", n, time.Since(start))
	if clients, dropped := h.Stats(); dropped != 1 || clients != 1 {
		t.Fatalf("clients %d dropped %d; want the slow one dropped and the fast one kept", clients, dropped)
	}
}
