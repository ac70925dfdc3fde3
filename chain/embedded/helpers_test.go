package embedded

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/proofow/powbroker/chain"
)

// testBits is the private difficulty of tests: about 65,000 hashes per block.
const testBits = 0x1f00ffff

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("EMBEDDED_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// openTest opens a chain in dir (a new temporary directory when empty) and closes it
// when the test ends.
func openTest(t *testing.T, dir, net string, bits uint32) *Chain {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	start := time.Now()
	c, err := Open(context.Background(), Config{DataDir: dir, Net: net, PrivateBits: bits, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open %s: %v", net, err)
	}
	t.Logf("Open %s in %v", net, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// spend signs a transaction spending faucet outputs ins to outs.
func (c *Chain) spend(t *testing.T, ins []wire.OutPoint, outs []*wire.TxOut, lockTime, sequence uint32) *wire.MsgTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	for i := range ins {
		in := wire.NewTxIn(&ins[i], nil, nil)
		in.Sequence = sequence
		tx.AddTxIn(in)
	}
	for _, o := range outs {
		tx.AddTxOut(o)
	}
	tx.LockTime = lockTime
	for i := range tx.TxIn {
		sig, err := txscript.SignatureScript(tx, i, c.faucetScript, txscript.SigHashAll, c.faucetKey, true)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		tx.TxIn[i].SignatureScript = sig
	}
	return tx
}

func mustTip(t *testing.T, c *Chain) chain.Tip {
	t.Helper()
	tip, err := c.Tip(context.Background())
	if err != nil {
		t.Fatalf("Tip: %v", err)
	}
	return tip
}

func mustFaucet(t *testing.T, c *Chain, amount, fee int64) *wire.MsgTx {
	t.Helper()
	tx, err := c.Faucet(context.Background(), amount, fee)
	if err != nil {
		t.Fatalf("Faucet: %v", err)
	}
	return tx
}

func reasonOf(err error) chain.TxReason {
	var te *chain.TxError
	if errors.As(err, &te) {
		return te.Reason
	}
	return ""
}

// nextEvent waits for one TipEvent.
func nextEvent(t *testing.T, ch <-chan chain.TipEvent) chain.TipEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("tips channel closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no tip event within 10 s")
	}
	return chain.TipEvent{}
}

// noEvent checks that no TipEvent is waiting.
func noEvent(t *testing.T, ch <-chan chain.TipEvent) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected tip event %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

func hashesEqual(a, b []chainhash.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var chainhashZero chainhash.Hash

func btcutilTx(tx *wire.MsgTx) *btcutil.Tx { return btcutil.NewTx(tx) }
