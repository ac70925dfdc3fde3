package embedded

import (
	"context"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/proofow/powbroker/chain"
)

// TestAssembledBlock runs the broker's block path against the embedded chain: a
// template, order transactions checked with CheckTx (a zero-fee one and its child as
// pending), chain.Assemble, Propose of the unsolved block, then SubmitBlock.
func TestAssembledBlock(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, "", "private", testBits)
	nodeTx := mustFaucet(t, c, 2e6, 300)
	if err := c.AcceptToMempool(ctx, nodeTx); err != nil {
		t.Fatal(err)
	}
	parent, err := c.FaucetTo(ctx, c.faucetScript, 3e6, 0)
	if err != nil {
		t.Fatal(err)
	}
	child := c.spend(t, []wire.OutPoint{{Hash: parent.TxHash(), Index: 0}}, []*wire.TxOut{wire.NewTxOut(3e6-150, c.faucetScript)}, 0, wire.MaxTxInSequenceNum)

	var extra []chain.TemplateTx
	var pending []*wire.MsgTx
	for _, tx := range []*wire.MsgTx{parent, child} {
		chk, err := c.CheckTx(ctx, tx, pending)
		if err != nil {
			t.Fatalf("CheckTx: %v", err)
		}
		extra = append(extra, chain.TemplateTx{Tx: tx, Fee: chk.Fee, SigOpCost: chk.SigOpCost, Weight: chk.Weight})
		pending = append(pending, tx)
	}
	tmpl, err := c.Template(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := chain.Assemble(chain.AssembleSpec{Template: tmpl, Extra: extra, PayoutScript: c.faucetScript, Tag: []byte("/test/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Included) != 3 || len(a.Dropped) != 0 || a.Fees != 150 {
		t.Fatalf("assembly included %d, dropped %v, fees %d", len(a.Included), a.Dropped, a.Fees)
	}
	en1, en2 := []byte{1, 2, 3, 4}, []byte{5, 6, 7, 8}
	hdr := a.Header(en1, en2, tmpl.Version, uint32(tmpl.CurTime.Unix()), 0)
	block, err := a.Block(en1, en2, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Propose(ctx, block); err != nil {
		t.Fatalf("Propose of the assembled block: %v", err)
	}
	if err := c.solve(ctx, &block.Header, tmpl.Height); err != nil {
		t.Fatal(err)
	}
	if err := c.SubmitBlock(ctx, block); err != nil {
		t.Fatalf("SubmitBlock: %v", err)
	}
	for _, tx := range []*wire.MsgTx{nodeTx, parent, child} {
		st, err := c.TxStatus(ctx, tx.TxHash(), chainhash.Hash{})
		if err != nil || !st.Confirmed || st.BlockHash != block.BlockHash() {
			t.Fatalf("status of %s: %+v %v", tx.TxHash(), st, err)
		}
	}
	if n := len(c.MempoolTxids()); n != 0 {
		t.Fatalf("mempool holds %d transactions after the block", n)
	}
}
