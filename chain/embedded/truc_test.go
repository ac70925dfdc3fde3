package embedded

import (
	"context"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/standard"
)

// signV spends outpoints to outs in a transaction of the given version, signing the
// inputs listed in signed (outputs to the faucet script) and leaving the others (P2A
// spends) with an empty scriptSig and witness.
func (c *Chain) signV(t *testing.T, version int32, ins []wire.OutPoint, signed []bool, outs []*wire.TxOut) *wire.MsgTx {
	t.Helper()
	tx := wire.NewMsgTx(version)
	for i := range ins {
		tx.AddTxIn(wire.NewTxIn(&ins[i], nil, nil))
	}
	for _, o := range outs {
		tx.AddTxOut(o)
	}
	for i := range tx.TxIn {
		if !signed[i] {
			continue
		}
		sig, err := txscript.SignatureScript(tx, i, c.faucetScript, txscript.SigHashAll, c.faucetKey, true)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		tx.TxIn[i].SignatureScript = sig
	}
	return tx
}

// TestTRUCAnchor checks that a zero-fee version-3 transaction with a 0-value P2A
// output passes CheckTx, that a child spending the anchor (empty scriptSig and witness)
// and a parent output passes with the parent pending, that both are mined in one block,
// and that the variants Core's policy refuses are non-standard here too.
func TestTRUCAnchor(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, "", "private", testBits)
	fund, err := c.FaucetTo(ctx, c.faucetScript, 5e6, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GenerateOn(ctx, mustTip(t, c).Hash, 1, []*wire.MsgTx{fund}); err != nil {
		t.Fatal(err)
	}
	coin := wire.OutPoint{Hash: fund.TxHash(), Index: 0}
	anchor := func(v int64) *wire.TxOut { return wire.NewTxOut(v, standard.PayToAnchorScript()) }
	pay := func(v int64) *wire.TxOut { return wire.NewTxOut(v, c.faucetScript) }
	yes := []bool{true}

	parent := c.signV(t, 3, []wire.OutPoint{coin}, yes, []*wire.TxOut{pay(5e6), anchor(0)})
	chk, err := c.CheckTx(ctx, parent, nil)
	if err != nil {
		t.Fatalf("CheckTx of a zero-fee v3 parent with a 0-value P2A output: %v", err)
	}
	if chk.Fee != 0 {
		t.Fatalf("parent fee %d", chk.Fee)
	}
	ptxid := parent.TxHash()
	child := c.signV(t, 3, []wire.OutPoint{{Hash: ptxid, Index: 1}, {Hash: ptxid, Index: 0}}, []bool{false, true}, []*wire.TxOut{pay(5e6 - 1000)})
	cchk, err := c.CheckTx(ctx, child, []*wire.MsgTx{parent})
	if err != nil {
		t.Fatalf("CheckTx of the child spending the anchor: %v", err)
	}
	if cchk.Fee != 1000 {
		t.Fatalf("child fee %d, want 1000", cchk.Fee)
	}

	// (The private chain has no segwit yet, so a scriptSig stands for a non-empty spend.)
	withSig := child.Copy()
	withSig.TxIn[0].SignatureScript = []byte{txscript.OP_1}
	refused := []struct {
		name    string
		tx      *wire.MsgTx
		pending []*wire.MsgTx
	}{
		{"version 4", c.signV(t, 4, []wire.OutPoint{coin}, yes, []*wire.TxOut{pay(5e6)}), nil},
		{"dust anchor with a fee", c.signV(t, 3, []wire.OutPoint{coin}, yes, []*wire.TxOut{pay(5e6 - 500), anchor(0)}), nil},
		{"two dust anchors", c.signV(t, 3, []wire.OutPoint{coin}, yes, []*wire.TxOut{pay(5e6 - 1), anchor(0), anchor(1)}), nil},
		{"anchor spent with a scriptSig", withSig, []*wire.MsgTx{parent}},
	}
	for _, r := range refused {
		if _, err := c.CheckTx(ctx, r.tx, r.pending); reasonOf(err) != chain.TxNonStandard {
			t.Errorf("%s: CheckTx = %v, want %s", r.name, err, chain.TxNonStandard)
		}
	}
	// A P2A output at the dust threshold is standard on a transaction paying a fee.
	if _, err := c.CheckTx(ctx, c.signV(t, 3, []wire.OutPoint{coin}, yes, []*wire.TxOut{pay(5e6 - 500 - standard.P2ADustThreshold), anchor(standard.P2ADustThreshold)}), nil); err != nil {
		t.Errorf("P2A of %d sat with a fee: %v", standard.P2ADustThreshold, err)
	}

	hashes, err := c.GenerateOn(ctx, mustTip(t, c).Hash, 1, []*wire.MsgTx{parent, child})
	if err != nil {
		t.Fatalf("mining parent and child: %v", err)
	}
	for _, tx := range []*wire.MsgTx{parent, child} {
		st, err := c.TxStatus(ctx, tx.TxHash(), chainhash.Hash{})
		if err != nil || !st.Confirmed || st.BlockHash != hashes[0] {
			t.Fatalf("status of %s: %+v %v", tx.TxHash(), st, err)
		}
	}
}
