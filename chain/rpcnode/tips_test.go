package rpcnode_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/rpcnode"
	"github.com/proofow/powbroker/chain/rpcnode/btcdtest"
)

// tipWatcher collects tip events.
type tipWatcher struct {
	t  *testing.T
	ch <-chan chain.TipEvent
}

func watch(t *testing.T, n *rpcnode.Node) *tipWatcher {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &tipWatcher{t: t, ch: n.Tips(ctx)}
}

// until collects events until one has tip want, and returns them all.
func (w *tipWatcher) until(want chainhash.Hash) []chain.TipEvent {
	w.t.Helper()
	var evs []chain.TipEvent
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-w.ch:
			if !ok {
				w.t.Fatal("tips channel closed")
			}
			evs = append(evs, ev)
			if ev.Tip.Hash == want {
				return evs
			}
		case <-timeout:
			w.t.Fatalf("no tip event for %s within 20 s; got %+v", want, evs)
		}
	}
}

// none checks that no event arrives for d.
func (w *tipWatcher) none(d time.Duration) {
	w.t.Helper()
	select {
	case ev := <-w.ch:
		w.t.Fatalf("unexpected tip event %+v", ev)
	case <-time.After(d):
	}
}

func flatten(evs []chain.TipEvent) (disc, conn []chainhash.Hash) {
	for _, ev := range evs {
		// A later disconnect of a block connected earlier in the batch cancels it.
		for _, d := range ev.Disconnected {
			if i := slices.Index(conn, d); i >= 0 {
				conn = slices.Delete(conn, i, i+1)
				continue
			}
			disc = append(disc, d)
		}
		conn = append(conn, ev.Connected...)
	}
	return disc, conn
}

func TestTipsGenerate(t *testing.T) {
	e := start(t, 3, 2*time.Second)
	w := watch(t, e.node)
	first := w.until(e.btcd.BestHash())
	if len(first) != 1 || first[0].Tip.Height != 3 || len(first[0].Connected) != 1 || first[0].Reorg() {
		t.Fatalf("first event %+v, want the current tip", first)
	}
	hashes := e.btcd.Generate(5)
	evs := w.until(hashes[4])
	disc, conn := flatten(evs)
	if len(disc) != 0 || !slices.Equal(conn, hashes) {
		t.Fatalf("events %+v: connected %v, want %v", evs, conn, hashes)
	}
	last := evs[len(evs)-1].Tip
	if last.Height != 8 || last.Bits != chaincfg.RegressionNetParams.PowLimitBits || last.MedianTime.IsZero() {
		t.Fatalf("tip %+v", last)
	}
	w.none(300 * time.Millisecond)
}

// TestTipsReorgBetweenNodes builds a real reorg: two btcd nodes share 5 blocks, mine
// apart (2 blocks on the watched node, 4 on the other), then connect.
func TestTipsReorgBetweenNodes(t *testing.T) {
	e := start(t, 0, 2*time.Second)
	other := btcdtest.Start(t, btcdtest.Options{MiningAddr: e.key.Addr.EncodeAddress()})
	e.btcd.Connect(other)
	common := e.btcd.Generate(5)
	e.btcd.WaitTip(other)
	e.btcd.Disconnect(other)

	w := watch(t, e.node)
	w.until(common[4])
	ours := e.btcd.Generate(2)
	theirs := other.Generate(4)
	w.until(ours[1])

	e.btcd.Connect(other)
	evs := w.until(theirs[3])
	disc, conn := flatten(evs)
	if !slices.Equal(disc, []chainhash.Hash{ours[1], ours[0]}) {
		t.Fatalf("disconnected %v, want %v (newest first)", disc, []chainhash.Hash{ours[1], ours[0]})
	}
	if !slices.Equal(conn, theirs) {
		t.Fatalf("connected %v, want %v", conn, theirs)
	}
	if !slices.ContainsFunc(evs, chain.TipEvent.Reorg) {
		t.Fatal("no event is a reorg")
	}
	// The disconnected blocks are now off the main chain.
	_, height, err := e.node.Block(context.Background(), ours[1])
	if err != nil || height != -1 {
		t.Fatalf("Block of a disconnected block: height %d, err %v", height, err)
	}
}

// TestNodePaused stops btcd with SIGSTOP: requests fail with ErrUnavailable within the
// configured timeout, tip polling sends nothing, and everything recovers on SIGCONT.
func TestNodePaused(t *testing.T) {
	const timeout = time.Second
	e := start(t, 2, timeout)
	w := watch(t, e.node)
	w.until(e.btcd.BestHash())
	ctx := context.Background()

	e.btcd.Pause()
	paused := true
	defer func() {
		if paused {
			e.btcd.Resume()
		}
	}()
	calls := map[string]func() error{
		"Tip":      func() error { _, err := e.node.Tip(ctx); return err },
		"Template": func() error { _, err := e.node.Template(ctx); return err },
		"TxStatus": func() error { _, err := e.node.TxStatus(ctx, chainhash.Hash{1}, chainhash.Hash{}); return err },
	}
	for name, call := range calls {
		began := time.Now()
		err := call()
		took := time.Since(began)
		if !errors.Is(err, chain.ErrUnavailable) {
			t.Fatalf("%s on a paused node: %v, want ErrUnavailable", name, err)
		}
		// A hang guard, not a speed measurement: the request must end near its timeout.
		if took > timeout+3*time.Second {
			t.Fatalf("%s on a paused node took %v with a %v timeout", name, took, timeout)
		}
		t.Logf("%s: %v after %v", name, err, took.Round(time.Millisecond))
	}
	w.none(1500 * time.Millisecond)
	if err := e.node.Health(); !errors.Is(err, chain.ErrUnavailable) {
		t.Fatalf("Health during the outage: %v, want ErrUnavailable", err)
	}

	e.btcd.Resume()
	paused = false
	hashes := e.btcd.Generate(1)
	evs := w.until(hashes[0])
	if _, conn := flatten(evs); !slices.Equal(conn, hashes) {
		t.Fatalf("after resume: events %+v", evs)
	}
	if err := e.node.Health(); err != nil {
		t.Fatalf("Health after the outage: %v", err)
	}
	if _, err := e.node.Template(ctx); err != nil {
		t.Fatalf("Template after resume: %v", err)
	}
}

// TestNodeRestarted kills btcd and starts it again: btcd wipes its regtest chain, and
// the tip back at genesis arrives as a reorg that disconnects every block.
func TestNodeRestarted(t *testing.T) {
	e := start(t, 0, time.Second)
	w := watch(t, e.node)
	w.until(*chaincfg.RegressionNetParams.GenesisHash)
	hashes := e.btcd.Generate(6)
	w.until(hashes[5])

	e.btcd.Restart()
	if h := e.btcd.Height(); h != 0 {
		t.Fatalf("restarted btcd at height %d, want 0", h)
	}
	evs := w.until(*chaincfg.RegressionNetParams.GenesisHash)
	ev := evs[len(evs)-1]
	want := slices.Clone(hashes)
	slices.Reverse(want)
	if !ev.Reorg() || ev.Tip.Height != 0 || !slices.Equal(ev.Disconnected, want) || len(ev.Connected) != 0 {
		t.Fatalf("event after restart %+v, want all 6 blocks disconnected", ev)
	}
	again := e.btcd.Generate(2)
	evs = w.until(again[1])
	if disc, conn := flatten(evs); len(disc) != 0 || !slices.Equal(conn, again) {
		t.Fatalf("after restart: events %+v", evs)
	}
	if tmpl, err := e.node.Template(context.Background()); err != nil || tmpl.Height != 3 {
		t.Fatalf("template after restart: %+v %v", tmpl, err)
	}
}

// TestTipsWebsocket: with a poll interval of an hour, new blocks still arrive at once
// through btcd's block notifications; with the websocket off, nothing arrives.
func TestTipsWebsocket(t *testing.T) {
	e := start(t, 1, time.Second)
	for _, ws := range []bool{true, false} {
		n, err := rpcnode.New(context.Background(), rpcnode.Config{
			URL: e.btcd.URL(), User: e.btcd.User, Pass: e.btcd.Pass,
			PollInterval: time.Hour, Timeout: time.Second, DisableWebsocket: !ws,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		w := watch(t, n)
		w.until(e.btcd.BestHash()) // the first poll happens at once
		time.Sleep(200 * time.Millisecond)
		hashes := e.btcd.Generate(2)
		if !ws {
			w.none(time.Second)
			continue
		}
		evs := w.until(hashes[1])
		if _, conn := flatten(evs); !slices.Equal(conn, hashes) {
			t.Fatalf("events %+v", evs)
		}
		// btcd restarted: the websocket reconnects, and its new subscription
		// triggers a poll that finds the new chain (a reorg).
		e.btcd.Restart()
		fresh := e.btcd.Generate(2)
		evs = w.until(fresh[1])
		disc, conn := flatten(evs)
		if !slices.Contains(disc, hashes[1]) || !slices.Equal(conn, fresh) {
			t.Fatalf("after restart: disconnected %v connected %v", disc, conn)
		}
	}
}
