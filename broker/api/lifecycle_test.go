package api_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/proofow/powbroker/broker/api"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// TestOrderLifecycle drives one order through working -> paid -> mined -> confirmed
// over real HTTP, with a real SQLite file and the real embedded chain.
func TestOrderLifecycle(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := e.ctx()
	tx := e.faucetTx(0) // zero fee: the network would not mine it
	q, err := e.client.Quote(ctx, tx)
	if err != nil {
		t.Fatalf("quote: %v", err)
	}
	if q.Fee != 0 || q.RequiredWork != testMinWork {
		t.Fatalf("quote fee %d work %g, want 0 and %g", q.Fee, q.RequiredWork, testMinWork)
	}
	created, err := e.client.CreateOrder(ctx, tx, "")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.State != "working" || created.Token == "" || created.Assignment == nil || created.Order.Txid != q.Txid {
		t.Fatalf("created %+v", created)
	}
	a := created.Assignment
	o := order{id: created.ID, token: created.Token}

	// 15 shares: still working; the 16th pays the order.
	ns := nonces(t, a, 17, false)
	r, err := e.client.SubmitShares(ctx, o.id, o.token, shares(a, ns[:15]))
	if err != nil || r.Accepted != 15 || r.Stop || r.Order.State != "working" {
		t.Fatalf("15 shares: %+v %v", r, err)
	}
	r, err = e.client.SubmitShares(ctx, o.id, o.token, shares(a, ns[15:16]))
	if err != nil || r.Accepted != 1 || !r.Stop || r.Order.State != "paid" || r.Order.PaidAt == nil {
		t.Fatalf("16th share: %+v %v", r, err)
	}
	if r.Order.CreditedWork < r.Order.RequiredWork {
		t.Fatalf("paid with %g of %g", r.Order.CreditedWork, r.Order.RequiredWork)
	}
	// Work stops: a further share gets order-complete, and no new assignment.
	_, err = e.client.SubmitShares(ctx, o.id, o.token, shares(a, ns[16:17]))
	if problemType(err) != "order-complete" {
		t.Fatalf("share after paid: %v, want order-complete", err)
	}
	if _, err := e.client.Assignment(ctx, o.id, o.token); problemType(err) != "order-complete" {
		t.Fatalf("assignment after paid: %v", err)
	}

	// Pooled mining: a second user's work finds the block that carries both transactions.
	o2 := e.newOrder(1000)
	a2, err := e.client.Assignment(ctx, o2.id, o2.token)
	if err != nil {
		t.Fatal(err)
	}
	block := nonces(t, a2, 1, true)
	r, err = e.client.SubmitShares(ctx, o2.id, o2.token, shares(a2, block))
	if err != nil || r.Accepted != 1 || !r.Results[0].Block || !r.Results[0].BlockAccepted {
		t.Fatalf("block share: %+v %v", r, err)
	}
	mined := e.waitState(o, "mined")
	mined2 := e.waitState(o2, "mined")
	if mined.BlockHash == "" || mined.BlockHash != mined2.BlockHash || mined.Confirmations != 1 {
		t.Fatalf("mined %+v / %+v", mined, mined2)
	}
	// The chain itself has the transaction in that block.
	var bh, txid chainhash.Hash
	_ = chainhash.Decode(&bh, mined.BlockHash)
	_ = chainhash.Decode(&txid, mined.Txid)
	ts, err := e.chain.TxStatus(ctx, txid, bh)
	if err != nil || !ts.Confirmed || ts.Height != mined.Height {
		t.Fatalf("chain tx status %+v %v", ts, err)
	}
	// A share on the mined order: order-complete, naming the state.
	late := nonces(t, a2, 2, false)[1]
	_, err = e.client.SubmitShares(ctx, o2.id, o2.token, []api.ShareIn{{AssignmentID: a2.ID, Nonce: late}})
	var p *api.Problem
	if !errors.As(err, &p) || p.Type != "order-complete" || !strings.Contains(p.Detail, "mined") {
		t.Fatalf("share on a mined order: %v", err)
	}
	blocks, err := e.client.Blocks(ctx)
	if err != nil || len(blocks) != 1 || !blocks[0].Accepted || blocks[0].Hash != mined.BlockHash {
		t.Fatalf("blocks %+v %v", blocks, err)
	}
	// One more block: two confirmations make it confirmed.
	if _, err := e.chain.Generate(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	conf := e.waitState(o, "confirmed")
	if conf.Confirmations != 2 || conf.ConfirmedAt == nil {
		t.Fatalf("confirmed %+v", conf)
	}
	evs, err := e.client.Events(ctx, o.id, o.token)
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, ev := range evs {
		path = append(path, ev.To)
	}
	want := []string{"working", "paid", "mined", "confirmed"}
	if len(path) != len(want) {
		t.Fatalf("events %v, want %v", path, want)
	}
	for i := range want {
		if path[i] != want[i] {
			t.Fatalf("events %v, want %v", path, want)
		}
	}
}

// TestReorg: an order's block leaves the main chain; the order goes back to paid,
// back into templates, and is mined again in a later block.
func TestReorg(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := e.ctx()
	o := e.newOrder(0)
	block := nonces(t, o.first, 1, true)
	if _, err := e.client.SubmitShares(ctx, o.id, o.token, shares(o.first, block)); err != nil {
		t.Fatal(err)
	}
	mined := e.waitState(o, "mined")
	if mined.PaidAt != nil {
		t.Fatalf("mined before paid still shows paid_at %v", mined.PaidAt)
	}
	var bh chainhash.Hash
	_ = chainhash.Decode(&bh, mined.BlockHash)
	blk, _, err := e.chain.Block(ctx, bh)
	if err != nil {
		t.Fatal(err)
	}
	// A longer branch from the block's parent, without the order's transaction.
	if _, err := e.chain.GenerateOn(ctx, blk.Header.PrevBlock, 2, nil); err != nil {
		t.Fatalf("side branch: %v", err)
	}
	back := e.waitState(o, "paid")
	if back.BlockHash != "" {
		t.Fatalf("after reorg the order still names block %s", back.BlockHash)
	}
	// Back in the template: another user's block mines it again.
	o2 := e.newOrder(0)
	a2, err := e.client.Assignment(ctx, o2.id, o2.token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.SubmitShares(ctx, o2.id, o2.token, shares(a2, nonces(t, a2, 1, true))); err != nil {
		t.Fatal(err)
	}
	again := e.waitState(o, "mined")
	if again.BlockHash == mined.BlockHash || again.Height != mined.Height+2 {
		t.Fatalf("mined again in %s at %d; first %s at %d", again.BlockHash, again.Height, mined.BlockHash, mined.Height)
	}
	evs, _ := e.client.Events(ctx, o.id, o.token)
	var path []string
	for _, ev := range evs {
		path = append(path, ev.To)
	}
	if len(path) != 4 || path[1] != "mined" || path[2] != "paid" || path[3] != "mined" {
		t.Fatalf("events %v, want working mined paid mined", path)
	}
}
