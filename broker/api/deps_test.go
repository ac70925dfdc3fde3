package api_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// TestChildOrderAcrossRestart: an order spending the output of another active order's
// transaction is minable again after a restart, and both are mined by one block; a
// child whose parent order was canceled says that its input is missing, naming it.
func TestChildOrderAcrossRestart(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := e.ctx()
	// The parent pays a P2SH output anyone can spend (redeem script OP_TRUE).
	redeem := []byte{txscript.OP_TRUE}
	addr, err := btcutil.NewAddressScriptHash(redeem, e.chain.Params())
	if err != nil {
		t.Fatal(err)
	}
	p2sh, _ := txscript.PayToAddrScript(addr)
	child := func(parent *wire.MsgTx) string {
		tx := wire.NewMsgTx(2)
		sig, _ := txscript.NewScriptBuilder().AddData(redeem).Script()
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: parent.TxHash(), Index: 0}, sig, nil))
		tx.AddTxOut(wire.NewTxOut(parent.TxOut[0].Value, p2sh))
		var b bytes.Buffer
		_ = tx.Serialize(&b)
		return hex.EncodeToString(b.Bytes())
	}
	order2 := func(parent *wire.MsgTx) (order, order) {
		var b bytes.Buffer
		_ = parent.Serialize(&b)
		p, err := e.client.CreateOrder(ctx, hex.EncodeToString(b.Bytes()), "")
		if err != nil {
			t.Fatalf("parent order: %v", err)
		}
		c, err := e.client.CreateOrder(ctx, child(parent), "")
		if err != nil {
			t.Fatalf("child order: %v", err)
		}
		return order{id: p.ID, token: p.Token}, order{id: c.ID, token: c.Token}
	}
	ptx, err := e.chain.FaucetTo(ctx, p2sh, 1_000_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent, kid := order2(ptx)
	e.stop()
	e.start()
	ctx = e.ctx()
	a, err := e.client.Assignment(ctx, kid.id, kid.token)
	if err != nil {
		t.Fatalf("child after restart: %v", err)
	}
	blk := nonces(t, a, 1, true)
	if _, err := e.client.SubmitShares(ctx, kid.id, kid.token, shares(a, blk)); err != nil {
		t.Fatal(err)
	}
	pm, km := e.waitState(parent, "mined"), e.waitState(kid, "mined")
	if pm.BlockHash != km.BlockHash {
		t.Fatalf("parent in %s, child in %s", pm.BlockHash, km.BlockHash)
	}

	// The parent canceled: the child lost its input and says which.
	ptx2, err := e.chain.FaucetTo(ctx, p2sh, 1_000_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent2, kid2 := order2(ptx2)
	if _, err := e.client.Cancel(ctx, parent2.id, parent2.token); err != nil {
		t.Fatal(err)
	}
	e.stop()
	e.start()
	ctx = e.ctx()
	var reason string
	for i := 0; i < 100 && reason == ""; i++ {
		got, err := e.client.Order(ctx, kid2.id, kid2.token)
		if err != nil {
			t.Fatal(err)
		}
		reason = got.Reason
		if reason == "" {
			if _, err := e.client.WaitOrder(ctx, kid2.id, kid2.token, 200*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !strings.Contains(reason, "missing-inputs") || !strings.Contains(reason, ptx2.TxHash().String()) {
		t.Fatalf("child of a canceled parent: reason %q", reason)
	}
	t.Logf("child of a canceled parent: %s", reason)
}
