package api_test

import (
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/wire"

	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/embedded"
)

// replayFaucet is the embedded chain whose faucet first answers with transactions
// queued in again: what a faucet whose reservation expired could hand out.
type replayFaucet struct {
	*embedded.Chain
	mu    sync.Mutex
	again []*wire.MsgTx
}

func (f *replayFaucet) Faucet(ctx context.Context, amount, fee int64) (*wire.MsgTx, error) {
	f.mu.Lock()
	if len(f.again) > 0 {
		tx := f.again[0]
		f.again = f.again[1:]
		f.mu.Unlock()
		return tx, nil
	}
	f.mu.Unlock()
	return f.Chain.Faucet(ctx, amount, fee)
}

// TestFaucetSkipsCoinsOfActiveOrders: the broker never hands out a faucet transaction
// whose coin an active order spends, whatever the chain's faucet offers.
func TestFaucetSkipsCoinsOfActiveOrders(t *testing.T) {
	f := &replayFaucet{}
	e := &env{t: t, dir: t.TempDir(), cfg: testConfig(), backend: func(c *embedded.Chain) chain.Backend {
		f.Chain = c
		return f
	}}
	e.start()
	first := e.faucetTx(0)
	if _, err := e.client.CreateOrder(e.ctx(), first, ""); err != nil {
		t.Fatal(err)
	}
	raw, _ := hex.DecodeString(first)
	var tx wire.MsgTx
	if err := tx.Deserialize(strings.NewReader(string(raw))); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.again = []*wire.MsgTx{&tx, &tx}
	f.mu.Unlock()
	next := e.faucetTx(0)
	if next == first {
		t.Fatal("the faucet handed out the coin of an active order")
	}
	if _, err := e.client.CreateOrder(e.ctx(), next, ""); err != nil {
		t.Fatalf("order from the next faucet answer: %v", err)
	}
}
