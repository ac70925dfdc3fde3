package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/chain/embedded"
	"github.com/proofow/powbroker/cmd/internal/apiworker"
)

// killBits is the private difficulty of the kill -9 tests: about 65,000 hashes a block
// (checkBlocks opens the chain with the same bits).
const killBits = "1f00ffff"

// killDaemon is a `powbroker serve` on the private network that a test kills with -9.
type killDaemon struct {
	t    *testing.T
	bin  string
	dir  string
	proc *exec.Cmd
	c    *api.Client
}

func (d *killDaemon) start() {
	d.t.Helper()
	t0 := time.Now()
	defer func() { d.t.Logf("daemon ready in %v", time.Since(t0).Round(time.Millisecond)) }()
	proc, addr := startServe(d.t, d.bin, "--datadir", d.dir, "--net", "private", "--private-bits", killBits,
		"--http", "127.0.0.1:0", "--log-level", "warn")
	c, err := api.NewClient("http://" + addr)
	if err != nil {
		d.t.Fatal(err)
	}
	d.proc, d.c = proc, c
}

func (d *killDaemon) kill() {
	d.t.Helper()
	if err := d.proc.Process.Signal(syscall.SIGKILL); err != nil {
		d.t.Fatal(err)
	}
	_ = d.proc.Wait()
}

func (d *killDaemon) status(ctx context.Context) *api.Status {
	d.t.Helper()
	st, err := d.c.Status(ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	return st
}

// foundBlock is a block share the daemon acknowledged: accepted and its block accepted.
type foundBlock struct {
	hash, order, token string
}

// mineBlock has a block found for the order and returns it once the daemon
// acknowledged it.
func mineBlock(ctx context.Context, c *api.Client, id, token string) (foundBlock, error) {
	hash, err := apiworker.MineBlock(ctx, c, id, token)
	return foundBlock{hash: hash, order: id, token: token}, err
}

// newOrder submits a zero-fee faucet transaction.
func newOrder(ctx context.Context, c *api.Client) (*api.CreateResponse, *wire.MsgTx, error) {
	f, err := c.Faucet(ctx, 1_000_000, 0)
	if err != nil {
		return nil, nil, err
	}
	raw, err := hex.DecodeString(f.Tx)
	if err != nil {
		return nil, nil, err
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, nil, err
	}
	o, err := c.CreateOrder(ctx, f.Tx, "")
	return o, &tx, err
}

// checkBlocks opens the stopped daemon's chain and checks every block on its main chain.
func checkBlocks(t *testing.T, dir string, blocks []foundBlock) {
	t.Helper()
	ctx := context.Background()
	c, err := embedded.Open(ctx, embedded.Config{DataDir: dir, Net: "private", PrivateBits: 0x1f00ffff, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, b := range blocks {
		var h chainhash.Hash
		if err := chainhash.Decode(&h, b.hash); err != nil {
			t.Fatal(err)
		}
		if _, height, err := c.Block(ctx, h); err != nil || height < 0 {
			t.Errorf("acknowledged block %s (order %s): height %d in the chain, %v", b.hash, b.order, height, err)
		}
	}
}

// TestKill9KeepsChain runs the daemon binary and kills it with SIGKILL: idle a little
// after start, right after a block, and at random moments while blocks are found. Each
// restart comes back with every block acknowledged before, at the same tip when none
// was found since, and the orders those blocks mined stay mined.
func TestKill9KeepsChain(t *testing.T) {
	pb, _ := binaries(t)
	d := &killDaemon{t: t, bin: pb, dir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// An idle daemon killed a few seconds after its first start.
	d.start()
	first := d.status(ctx)
	time.Sleep(2 * time.Second)
	d.kill()
	d.start()
	if st := d.status(ctx); st.TipHash != first.TipHash || st.TipHeight != first.TipHeight {
		t.Fatalf("idle kill -9: tip %s at %d, was %s at %d", st.TipHash, st.TipHeight, first.TipHash, first.TipHeight)
	}

	// Right after a block.
	o, _, err := newOrder(ctx, d.c)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mineBlock(ctx, d.c, o.ID, o.Token)
	if err != nil {
		t.Fatal(err)
	}
	d.kill()
	d.start()
	if st := d.status(ctx); st.TipHash != b.hash || st.TipHeight != first.TipHeight+1 {
		t.Fatalf("kill -9 after block %s at %d: tip %s at %d", b.hash, first.TipHeight+1, st.TipHash, st.TipHeight)
	}
	if got, err := d.c.Order(ctx, o.ID, o.Token); err != nil || got.State != "mined" || got.BlockHash != b.hash {
		t.Fatalf("order after kill -9: %+v %v", got, err)
	}
	found := []foundBlock{b}

	// At random moments while a miner finds blocks.
	for cycle := 0; cycle < 3; cycle++ {
		var mu sync.Mutex
		mctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for mctx.Err() == nil {
				o, _, err := newOrder(mctx, d.c)
				if err != nil {
					return
				}
				b, err := mineBlock(mctx, d.c, o.ID, o.Token)
				if err != nil {
					return
				}
				mu.Lock()
				found = append(found, b)
				mu.Unlock()
			}
		}()
		time.Sleep(time.Duration(300+rand.IntN(1500)) * time.Millisecond)
		d.kill()
		<-done
		stop()
		d.start()
		mu.Lock()
		last := found[len(found)-1]
		mu.Unlock()
		// The order of the last block is mined by it: a restart that lost the block
		// would have moved it back to paid.
		got, err := d.c.Order(ctx, last.order, last.token)
		if err != nil || got.State != "mined" || got.BlockHash != last.hash {
			t.Fatalf("cycle %d: order %s of the last acknowledged block %s: %+v %v", cycle, last.order, last.hash, got, err)
		}
		t.Logf("cycle %d: %d blocks acknowledged so far, tip at %d", cycle, len(found), d.status(ctx).TipHeight)
	}
	d.kill()
	checkBlocks(t, d.dir, found)
}

// TestKill9KeepsOrdersMinable: after kill -9, an order that was waiting for a block is
// mined by the next one (the coin it spends is still there), and the faucet does not
// hand out a coin that an order or an earlier faucet answer already has.
func TestKill9KeepsOrdersMinable(t *testing.T) {
	pb, _ := binaries(t)
	d := &killDaemon{t: t, bin: pb, dir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d.start()
	// A block first: the restart has a block the broker found to keep, too.
	o0, _, err := newOrder(ctx, d.c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mineBlock(ctx, d.c, o0.ID, o0.Token); err != nil {
		t.Fatal(err)
	}
	waiting, wtx, err := newOrder(ctx, d.c)
	if err != nil {
		t.Fatal(err)
	}
	handed, err := d.c.Faucet(ctx, 1_000_000, 0) // handed out, never submitted
	if err != nil {
		t.Fatal(err)
	}
	d.kill()
	d.start()
	got, err := d.c.Order(ctx, waiting.ID, waiting.Token)
	if err != nil || got.State != "working" || got.Reason != "" {
		t.Fatalf("waiting order after kill -9: %+v %v", got, err)
	}
	// The faucet's next coins are neither the order's nor the one handed out.
	taken := map[wire.OutPoint]bool{wtx.TxIn[0].PreviousOutPoint: true}
	raw, _ := hex.DecodeString(handed.Tx)
	var htx wire.MsgTx
	if err := htx.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	taken[htx.TxIn[0].PreviousOutPoint] = true
	for i := 0; i < 3; i++ {
		o, tx, err := newOrder(ctx, d.c)
		var p *api.Problem
		if errors.As(err, &p) {
			t.Fatalf("order %d after kill -9: %s: %s", i, p.Type, p.Detail)
		}
		if err != nil {
			t.Fatal(err)
		}
		if taken[tx.TxIn[0].PreviousOutPoint] {
			t.Fatalf("faucet handed out %v again", tx.TxIn[0].PreviousOutPoint)
		}
		taken[tx.TxIn[0].PreviousOutPoint] = true
		if o.State != "working" {
			t.Fatalf("order %d after kill -9: %s", i, o.State)
		}
	}
	b, err := mineBlock(ctx, d.c, waiting.ID, waiting.Token)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.c.Order(ctx, waiting.ID, waiting.Token); err != nil || got.State != "mined" || got.BlockHash != b.hash {
		t.Fatalf("order after its block: %+v %v", got, err)
	}
}
