package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/proofow/powbroker/broker"
)

// TestSubmittedBlocksSettledAtStart: a block recorded as submitted whose answer was
// never recorded (the daemon was killed in between) is settled at the next start from
// the chain: found when the chain has it, not found otherwise.
func TestSubmittedBlocksSettledAtStart(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := e.ctx()
	tip, err := e.chain.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unknown := chainhash.Hash{0xaa}
	for _, b := range []*broker.Block{
		{Hash: tip.Hash.String(), Height: tip.Height, FoundAt: time.Now(), Reason: broker.SubmittedBlockReason},
		{Hash: unknown.String(), Height: tip.Height, FoundAt: time.Now(), Reason: broker.SubmittedBlockReason},
	} {
		if err := e.store.AddBlock(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	e.stop()
	e.start()
	blocks, err := e.client.Blocks(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, b := range blocks {
		switch b.Hash {
		case tip.Hash.String():
			seen++
			if !b.Accepted || b.Reason != "" {
				t.Errorf("block on the chain: %+v", b)
			}
		case unknown.String():
			seen++
			if b.Accepted || !strings.Contains(b.Reason, "not in the chain") {
				t.Errorf("block the chain does not have: %+v", b)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("blocks %+v", blocks)
	}
}
