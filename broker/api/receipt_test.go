package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/proofow/powbroker/broker/receipt"
)

// TestReceipts: a paid order gets a signed receipt that verifies against the key in
// /v1/status; every accepted share has an inclusion proof; once a block carries the
// order the receipt names the block; a working order, a wrong token and a share that is
// not the order's get precise problems; the receipt survives a restart.
func TestReceipts(t *testing.T) {
	e := newEnv(t, testConfig())
	o := e.newOrder(0)
	st, err := e.client.Status(e.ctx())
	if err != nil || len(st.PublicKey) != 64 {
		t.Fatalf("status public key %q, %v", st.PublicKey, err)
	}
	if _, err := e.client.Receipt(e.ctx(), o.id, o.token); problemType(err) != "no-receipt" {
		t.Fatalf("receipt of a working order: %v", err)
	}
	res, err := e.client.SubmitShares(e.ctx(), o.id, o.token, shares(o.first, nonces(t, o.first, 16, false)))
	if err != nil || res.Order.State != "paid" {
		t.Fatalf("shares: %v %+v", err, res)
	}
	r, err := e.client.Receipt(e.ctx(), o.id, o.token)
	if err != nil {
		t.Fatal(err)
	}
	if err := receipt.Verify(r, st.PublicKey); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if r.OrderID != o.id || r.Txid != res.Order.Txid || r.State != "paid" || r.Shares != 16 ||
		r.CreditedWork != res.Order.CreditedWork || r.RequiredWork != res.Order.RequiredWork || r.ShareDifficulty != testShareDiff ||
		r.FirstShareAt == nil || r.LastShareAt.Before(*r.FirstShareAt) || r.BlockHash != "" {
		t.Fatalf("receipt %+v", r)
	}
	for _, sh := range res.Results {
		p, err := e.client.ReceiptProof(e.ctx(), o.id, o.token, sh.Hash)
		if err != nil {
			t.Fatalf("proof of %s: %v", sh.Hash, err)
		}
		if err := receipt.VerifyProof(r, p); err != nil {
			t.Fatalf("proof of %s: %v", sh.Hash, err)
		}
	}
	if _, err := e.client.ReceiptProof(e.ctx(), o.id, o.token, strings.Repeat("ab", 32)); problemType(err) != "share-not-in-receipt" {
		t.Fatalf("proof of a foreign share: %v", err)
	}
	if _, err := e.client.ReceiptProof(e.ctx(), o.id, o.token, "xyz"); problemType(err) != "invalid-hex" {
		t.Fatalf("proof of a malformed hash: %v", err)
	}
	if _, err := e.client.Receipt(e.ctx(), o.id, "pow_wrong"); problemType(err) != "not-found" {
		t.Fatalf("receipt with a wrong token: %v", err)
	}

	// A block carries the order: the receipt is issued again, with the block.
	o2 := e.newOrder(0)
	blk, err := e.client.SubmitShares(e.ctx(), o2.id, o2.token, shares(o2.first, nonces(t, o2.first, 1, true)))
	if err != nil || !blk.Results[0].BlockAccepted {
		t.Fatalf("block: %v", err)
	}
	mined := e.waitState(o, "mined")
	r2, err := e.client.Receipt(e.ctx(), o.id, o.token)
	if err != nil {
		t.Fatal(err)
	}
	if err := receipt.Verify(r2, st.PublicKey); err != nil || r2.State != "mined" || r2.BlockHash != mined.BlockHash ||
		r2.Height != mined.Height || r2.MerkleRoot != r.MerkleRoot || r2.Shares != 16 {
		t.Fatalf("mined receipt %v %+v", err, r2)
	}
	// o2 was mined by its own block share without being paid: its receipt says so.
	e.waitState(o2, "mined")
	r3, err := e.client.Receipt(e.ctx(), o2.id, o2.token)
	if err != nil || receipt.Verify(r3, st.PublicKey) != nil || r3.State != "mined" || r3.Shares != 1 {
		t.Fatalf("receipt of the block's own order: %v %+v", err, r3)
	}

	// After a restart the stored receipt is served (same signature), by the same key
	// when the broker keeps its key (the daemon's datadir key; this env makes a fresh one).
	before, _ := json.Marshal(r2)
	e.stop()
	e.start()
	r4, err := e.client.Receipt(e.ctx(), o.id, o.token)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(r4)
	if string(before) != string(after) {
		t.Fatalf("receipt after restart differs:\n%s\n%s", before, after)
	}
}
