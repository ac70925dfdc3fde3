package embedded

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/proofow/powbroker/chain"
)

// blockFromTemplate builds an unsolved block from a backend template the way a broker
// would: coinbase paying CoinbaseValue, then the template's transactions.
func blockFromTemplate(t *testing.T, c *Chain, tmpl *chain.Template, extra []*wire.MsgTx, value int64) *wire.MsgBlock {
	t.Helper()
	var txs []*wire.MsgTx
	for _, tt := range tmpl.Transactions {
		txs = append(txs, tt.Tx)
	}
	txs = append(txs, extra...)
	b, err := c.buildBlock(wire.BlockHeader{Version: tmpl.Version, PrevBlock: tmpl.PrevHash, Timestamp: tmpl.CurTime, Bits: tmpl.Bits},
		tmpl.Height, txs, []*wire.TxOut{wire.NewTxOut(value, c.faucetScript)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProposeAndSubmit(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, "", "private", testBits)
	tips := c.Tips(ctx)

	order := mustFaucet(t, c, 4e6, 500)
	tmpl, err := c.Template(ctx)
	if err != nil {
		t.Fatal(err)
	}
	value := tmpl.CoinbaseValue + 500
	good := blockFromTemplate(t, c, tmpl, []*wire.MsgTx{order}, value)
	// Unsolved: at 0x1f00ffff nonce 0 almost surely misses the target; Propose does not care.
	if err := c.Propose(ctx, good); err != nil {
		t.Fatalf("Propose of a valid unsolved block: %v", err)
	}

	badRoot := blockFromTemplate(t, c, tmpl, []*wire.MsgTx{order}, value)
	badRoot.Header.MerkleRoot[0] ^= 1
	greedy := blockFromTemplate(t, c, tmpl, []*wire.MsgTx{order}, value+1)
	stale := blockFromTemplate(t, c, tmpl, nil, tmpl.CoinbaseValue)
	stale.Header.PrevBlock = *c.params.GenesisHash
	early := blockFromTemplate(t, c, tmpl, nil, tmpl.CoinbaseValue)
	early.Header.Timestamp = tmpl.MinTime.Add(-time.Second)
	dup := blockFromTemplate(t, c, tmpl, []*wire.MsgTx{order, order}, value+500)
	for _, tt := range []struct {
		name  string
		block *wire.MsgBlock
		msg   string
	}{
		{"bad merkle root", badRoot, "merkle root"},
		{"coinbase pays too much", greedy, "coinbase"},
		{"not on the tip", stale, "tip"},
		{"time before median time past", early, "timestamp"},
		{"duplicate transaction", dup, "duplicate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Propose(ctx, tt.block)
			var be *chain.BlockError
			if !errors.As(err, &be) || be.Hash != tt.block.BlockHash() || !strings.Contains(be.Reason, tt.msg) {
				t.Fatalf("Propose: %v, want a BlockError about %q", err, tt.msg)
			}
			t.Log(be.Reason)
			if err := c.SubmitBlock(ctx, tt.block); !errors.As(err, &be) {
				t.Fatalf("SubmitBlock of a broken block: %v", err)
			}
		})
	}
	noEvent(t, tips)

	// An unsolved block is refused by SubmitBlock with the proof-of-work reason.
	var be *chain.BlockError
	for hash := good.BlockHash(); chain.MeetsTarget(&hash, blockchain.CompactToBig(good.Header.Bits)); hash = good.BlockHash() {
		good.Header.Nonce++ // nonce 0 solved it by chance (p = 2^-16)
	}
	if err := c.SubmitBlock(ctx, good); !errors.As(err, &be) || !strings.Contains(be.Reason, "higher than expected max") {
		t.Fatalf("SubmitBlock of an unsolved block: %v", err)
	}
	if err := c.solve(ctx, &good.Header, tmpl.Height); err != nil {
		t.Fatal(err)
	}
	if err := c.SubmitBlock(ctx, good); err != nil {
		t.Fatalf("SubmitBlock: %v", err)
	}
	tip := mustTip(t, c)
	if tip.Hash != good.BlockHash() || tip.Height != tmpl.Height {
		t.Fatalf("tip %+v after submit", tip)
	}
	ev := nextEvent(t, tips)
	if ev.Reorg() || !hashesEqual(ev.Connected, []chainhash.Hash{good.BlockHash()}) || ev.Tip != tip {
		t.Fatalf("event %+v", ev)
	}
	if st, err := c.TxStatus(ctx, order.TxHash(), good.BlockHash()); err != nil || !st.Confirmed || st.Height != tip.Height {
		t.Fatalf("order status %+v %v", st, err)
	}
	// The same block again is fine (it is the tip); a block of a side chain is not.
	if err := c.SubmitBlock(ctx, good); err != nil {
		t.Fatalf("resubmitting the tip: %v", err)
	}
	side, err := c.GenerateOn(ctx, tmpl.PrevHash, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	sideBlock, h, err := c.Block(ctx, side[0])
	if err != nil || h != -1 {
		t.Fatalf("side block height %d, %v", h, err)
	}
	if err := c.SubmitBlock(ctx, sideBlock); !errors.As(err, &be) || !strings.Contains(be.Reason, "side chain") {
		t.Fatalf("side block: %v", err)
	}
	// An orphan.
	orphan := *sideBlock
	orphan.Header.PrevBlock = chainhash.Hash{1}
	if err := c.solve(ctx, &orphan.Header, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.SubmitBlock(ctx, &orphan); !errors.As(err, &be) || !strings.Contains(be.Reason, "orphan") {
		t.Fatalf("orphan: %v", err)
	}
	if _, _, err := c.Block(ctx, chainhash.Hash{9}); !errors.Is(err, ErrUnknownBlock) {
		t.Fatalf("unknown block: %v", err)
	}
	noEvent(t, tips)
}

func TestReorg(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, "", "regtest", 0)
	tips := c.Tips(ctx)
	base := mustTip(t, c)

	tx := mustFaucet(t, c, 1e6+1, 0)
	a, err := c.GenerateOn(ctx, base.Hash, 1, []*wire.MsgTx{tx})
	if err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, tips)
	if !hashesEqual(ev.Connected, a) || ev.Reorg() {
		t.Fatalf("event %+v", ev)
	}
	st, err := c.TxStatus(ctx, tx.TxHash(), chainhash.Hash{})
	if err != nil || !st.Confirmed || st.BlockHash != a[0] || st.Height != base.Height+1 || st.Confirmations != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	if _, err := c.Generate(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, tips)
	if st, _ := c.TxStatus(ctx, tx.TxHash(), chainhash.Hash{}); st.Confirmations != 2 {
		t.Fatalf("confirmations %d", st.Confirmations)
	}
	top := ev.Tip.Hash

	// A longer branch from base, without tx: the first two blocks stay on a side chain,
	// the third makes it the main chain in one event.
	side, err := c.GenerateOn(ctx, base.Hash, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	noEvent(t, tips)
	if got := mustTip(t, c); got.Hash != top {
		t.Fatal("equal-work branch took over")
	}
	more, err := c.GenerateOn(ctx, side[1], 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, tips)
	if !ev.Reorg() || !hashesEqual(ev.Disconnected, []chainhash.Hash{top, a[0]}) ||
		!hashesEqual(ev.Connected, append(side, more...)) || ev.Tip.Hash != more[0] || ev.Tip.Height != base.Height+3 {
		t.Fatalf("reorg event %+v", ev)
	}
	noEvent(t, tips)
	if st, err := c.TxStatus(ctx, tx.TxHash(), a[0]); err != nil || st.Confirmed {
		t.Fatalf("status after reorg %+v %v", st, err)
	}
	if _, h, err := c.Block(ctx, a[0]); err != nil || h != -1 {
		t.Fatalf("old block height %d, %v", h, err)
	}
	// The transaction is valid again, and its input is back in the faucet's coins
	// (still reserved: the faucet does not hand it out again).
	if _, err := c.CheckTx(ctx, tx, nil); err != nil {
		t.Fatalf("CheckTx after reorg: %v", err)
	}
	op := tx.TxIn[0].PreviousOutPoint
	c.faucetMu.Lock()
	_, have := c.coins[op]
	c.faucetMu.Unlock()
	if !have {
		t.Fatal("faucet lost the coin the reorg unspent")
	}
	for {
		ftx, err := c.Faucet(ctx, 1e6, 0)
		if errors.Is(err, ErrNoFaucetCoin) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ftx.TxIn[0].PreviousOutPoint == op {
			t.Fatal("faucet handed out again a coin whose faucet transaction a reorg unconfirmed")
		}
	}
	// Mining it again on the new tip confirms it in the new chain.
	again, err := c.GenerateOn(ctx, more[0], 1, []*wire.MsgTx{tx})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.TxStatus(ctx, tx.TxHash(), chainhash.Hash{}); err != nil || st.BlockHash != again[0] {
		t.Fatalf("status after re-mining %+v %v", st, err)
	}
}

func TestTipsLifecycle(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, "", "regtest", 0)

	// Two subscribers get every event; a canceled one is closed.
	cctx, cancel := context.WithCancel(ctx)
	one, two, gone := c.Tips(ctx), c.Tips(ctx), c.Tips(cctx)
	cancel()
	if _, ok := <-gone; ok {
		t.Fatal("canceled subscriber got an event")
	}
	hs, err := c.Generate(ctx, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan chain.TipEvent{one, two} {
		for i := range hs {
			if ev := nextEvent(t, ch); !hashesEqual(ev.Connected, hs[i:i+1]) {
				t.Fatalf("event %d: %+v", i, ev)
			}
		}
	}
	// A subscriber that does not read does not block mining, and its backlog is
	// merged into events that together describe every block.
	slow := c.Tips(ctx)
	hs, err = c.Generate(ctx, 2*maxQueuedEvents, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []chainhash.Hash
	for len(got) < len(hs) {
		ev := nextEvent(t, slow)
		got = append(got, ev.Connected...)
	}
	if !hashesEqual(got, hs) {
		t.Fatal("merged events lost blocks")
	}
	// Close ends every channel.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan chain.TipEvent{one, two, slow} {
		for range ch { // drain what was queued; the channel must close
		}
	}
}

func TestMergeEvents(t *testing.T) {
	h := func(b byte) chainhash.Hash { return chainhash.Hash{b} }
	tests := []struct {
		name       string
		a, b       chain.TipEvent
		disc, conn []chainhash.Hash
	}{
		{"two extensions", chain.TipEvent{Connected: []chainhash.Hash{h(1)}}, chain.TipEvent{Connected: []chainhash.Hash{h(2)}},
			nil, []chainhash.Hash{h(1), h(2)}},
		{"reorg undoes a new block", chain.TipEvent{Connected: []chainhash.Hash{h(1), h(2)}},
			chain.TipEvent{Disconnected: []chainhash.Hash{h(2)}, Connected: []chainhash.Hash{h(3), h(4)}},
			nil, []chainhash.Hash{h(1), h(3), h(4)}},
		{"reorg deeper than the new blocks", chain.TipEvent{Connected: []chainhash.Hash{h(2)}},
			chain.TipEvent{Disconnected: []chainhash.Hash{h(2), h(1)}, Connected: []chainhash.Hash{h(5)}},
			[]chainhash.Hash{h(1)}, []chainhash.Hash{h(5)}},
		{"two reorgs", chain.TipEvent{Disconnected: []chainhash.Hash{h(1)}, Connected: []chainhash.Hash{h(2)}},
			chain.TipEvent{Disconnected: []chainhash.Hash{h(2)}, Connected: []chainhash.Hash{h(3)}},
			[]chainhash.Hash{h(1)}, []chainhash.Hash{h(3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.b.Tip.Height = 7
			m := mergeEvents(tt.a, tt.b)
			if !hashesEqual(m.Disconnected, tt.disc) || !hashesEqual(m.Connected, tt.conn) || m.Tip.Height != 7 {
				t.Fatalf("merged %+v", m)
			}
		})
	}
}

// TestConcurrentUse runs readers against a chain that mines and reorganizes (go test -race).
func TestConcurrentUse(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := openTest(t, "", "regtest", 0)
	tx := mustFaucet(t, c, 1e6, 0)
	base := mustTip(t, c)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	reader := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := f(); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		}()
	}
	reader(func() error { _, err := c.Template(ctx); return err })
	reader(func() error {
		_, err := c.CheckTx(ctx, tx, nil)
		if err != nil && reasonOf(err) == "" {
			return err
		}
		return nil
	})
	reader(func() error { _, err := c.TxStatus(ctx, tx.TxHash(), chainhash.Hash{}); return err })
	reader(func() error {
		tip, err := c.Tip(ctx)
		if err != nil {
			return err
		}
		_, _, err = c.Block(ctx, tip.Hash)
		return err
	})
	sub := c.Tips(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range sub {
		}
	}()
	if _, err := c.Generate(ctx, 20, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GenerateOn(ctx, base.Hash, 25, []*wire.MsgTx{tx}); err != nil {
		t.Fatal(err)
	}
	if st, err := c.TxStatus(ctx, tx.TxHash(), chainhash.Hash{}); err != nil || !st.Confirmed || st.Height != base.Height+1 {
		t.Fatalf("after reorg: %+v %v", st, err)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestOpenCanceled checks that a canceled first start leaves a directory the next
// Open completes.
func TestOpenCanceled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c, err := Open(ctx, Config{DataDir: dir, Net: "private", PrivateBits: testBits}); err == nil {
		c.Close()
		t.Fatal("Open with a canceled context succeeded")
	}
	c := openTest(t, dir, "private", testBits)
	if tip := mustTip(t, c); tip.Height != 2 {
		t.Fatalf("height %d after completing the first start", tip.Height)
	}
}

// TestSolveStops checks that proof-of-work search at a hard difficulty ends promptly
// when its context ends or the chain closes.
func TestSolveStops(t *testing.T) {
	c := openTest(t, "", "regtest", 0)
	hard := func() *wire.BlockHeader {
		return &wire.BlockHeader{Version: 4, Timestamp: time.Unix(time.Now().Unix(), 0), Bits: 0x1b00ffff}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.solve(ctx, hard(), 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("solve with a deadline: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("solve took %v to notice its deadline", el)
	}
	done := make(chan error, 1)
	go func() { done <- c.solve(context.Background(), hard(), 1) }()
	time.Sleep(20 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("solve after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("solve did not stop on Close")
	}
}
