package api_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/broker/api"
)

func decodeTx(t *testing.T, h string) *wire.MsgTx {
	t.Helper()
	raw, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	tx := new(wire.MsgTx)
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	return tx
}

func encodeTx(t *testing.T, tx *wire.MsgTx) string {
	t.Helper()
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(buf.Bytes())
}

// rawPost sends body as is and returns the status, content type and problem.
func rawPost(t *testing.T, url, body string, hdr map[string]string) (int, string, *api.Problem) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var p api.Problem
	_ = json.Unmarshal(data, &p)
	return resp.StatusCode, resp.Header.Get("Content-Type"), &p
}

// TestBadInput: every bad input gets a problem+json with its own type and a message a
// person understands, and none of them takes the daemon down.
func TestBadInput(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := e.ctx()

	// Transactions to play with.
	spentTx := decodeTx(t, e.faucetTx(0))
	// Mine spentTx into the chain so its input is spent there.
	if _, err := e.chain.GenerateOn(ctx, e.tipHash(t), 1, []*wire.MsgTx{spentTx}); err != nil {
		t.Fatalf("mine a faucet tx: %v", err)
	}
	doubleSpend := spentTx.Copy()
	doubleSpend.TxOut[0].Value -= 1000

	ordered := e.newOrder(0)
	orderedTx := decodeTx(t, e.orderTx(ordered))
	conflicting := orderedTx.Copy()
	conflicting.TxOut[0].Value -= 500

	missing := decodeTx(t, e.faucetTx(0))
	missing.TxIn[0].PreviousOutPoint.Hash = chainhash.Hash{1, 2, 3}

	badSig := decodeTx(t, e.faucetTx(0))
	sig := badSig.TxIn[0].SignatureScript
	sig[10] ^= 0x55 // inside the DER signature

	good := e.faucetTx(0)

	cases := []struct {
		name   string
		body   string
		status int
		kind   string
	}{
		{"non-hex", `{"tx":"zz00"}`, 400, "invalid-hex"},
		{"odd length", `{"tx":"abc"}`, 400, "invalid-hex"},
		{"not a transaction", `{"tx":"0100000000"}`, 422, "invalid-tx"},
		{"trailing bytes", `{"tx":"` + good + `00"}`, 422, "trailing-bytes"},
		{"missing inputs", `{"tx":"` + encodeTx(t, missing) + `"}`, 422, "missing-inputs"},
		{"input spent in the chain", `{"tx":"` + encodeTx(t, doubleSpend) + `"}`, 409, "input-spent"},
		{"conflict with another order", `{"tx":"` + encodeTx(t, conflicting) + `"}`, 409, "conflict"},
		{"invalid signature", `{"tx":"` + encodeTx(t, badSig) + `"}`, 422, "script-failure"},
		{"unknown field", `{"tx":"` + good + `","fee":1}`, 400, "unknown-field"},
		{"not JSON", `tx=00`, 400, "invalid-request"},
		{"oversized body", `{"tx":"` + strings.Repeat("00", api.MaxBodyBytes) + `"}`, 413, "body-too-large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, ctype, p := rawPost(t, e.url+"/v1/orders", c.body, map[string]string{"Content-Type": "application/json"})
			if status != c.status || p.Type != c.kind || ctype != api.ProblemContentType || p.Detail == "" || p.Title == "" {
				t.Fatalf("got %d %s %+v, want %d %s problem+json", status, ctype, p, c.status, c.kind)
			}
			t.Logf("%s: %s", p.Type, p.Detail)
		})
	}

	// Idempotency-Key replayed: same body gives the same order, another body a problem.
	body := `{"tx":"` + good + `"}`
	hdr := map[string]string{"Idempotency-Key": "user-42-try"}
	r1, err := e.client.CreateOrder(ctx, good, "user-42-try")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.client.CreateOrder(ctx, good, "user-42-try")
	if err != nil || r2.ID != r1.ID || r2.Token != r1.Token {
		t.Fatalf("replay: %+v %v, first %s", r2, err, r1.ID)
	}
	_ = body
	status, _, p := rawPost(t, e.url+"/v1/orders", `{"tx":"`+e.faucetTx(0)+`"}`, hdr)
	if status != 422 || p.Type != "idempotency-mismatch" {
		t.Fatalf("idempotency mismatch: %d %+v", status, p)
	}

	// Wrong token looks exactly like an unknown order.
	_, errWrong := e.client.Order(ctx, ordered.id, ordered.token+"x")
	_, errUnknown := e.client.Order(ctx, "ord_doesnotexist", ordered.token)
	if problemType(errWrong) != "not-found" || problemType(errUnknown) != "not-found" {
		t.Fatalf("wrong token %v / unknown %v", errWrong, errUnknown)
	}
	if _, err := e.client.Order(ctx, ordered.id, ""); problemType(err) != "unauthorized" {
		t.Fatalf("no token: %v", err)
	}

	// Shares.
	a := ordered.first
	other := e.newOrder(0)
	shareCases := []struct {
		name  string
		o     order
		share api.ShareIn
		kind  string
	}{
		{"another order's assignment", other, api.ShareIn{AssignmentID: a.ID, Nonce: 1}, "assignment-mismatch"},
		{"unknown assignment", ordered, api.ShareIn{AssignmentID: "asg_nope", Nonce: 1}, "assignment-not-found"},
		{"nonce outside the range", ordered, api.ShareIn{AssignmentID: a.ID, Nonce: uint32(a.NonceStart) + uint32(a.NonceCount)}, "nonce-out-of-range"},
		{"low difficulty", ordered, api.ShareIn{AssignmentID: a.ID, Nonce: lowNonce(t, a)}, "low-difficulty"},
	}
	for _, c := range shareCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.client.SubmitShares(ctx, c.o.id, c.o.token, []api.ShareIn{c.share})
			if problemType(err) != c.kind {
				t.Fatalf("got %v, want %s", err, c.kind)
			}
		})
	}
	ns := nonces(t, a, 2, false)
	if _, err := e.client.SubmitShares(ctx, ordered.id, ordered.token, shares(a, ns[:1])); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.SubmitShares(ctx, ordered.id, ordered.token, shares(a, ns[:1])); problemType(err) != "duplicate-share" {
		t.Fatalf("duplicate: %v", err)
	}
	// A batch with one good and one duplicate share: 200 with a result for each.
	r, err := e.client.SubmitShares(ctx, ordered.id, ordered.token, shares(a, ns[:2]))
	if err != nil || r.Accepted != 1 || r.Rejected != 1 || r.Results[0].Problem.Type != "duplicate-share" || !r.Results[1].Accepted {
		t.Fatalf("mixed batch %+v %v", r, err)
	}
	// Stale job: the tip moves under the assignment.
	stale := nonces(t, a, 3, false)[2]
	if _, err := e.chain.Generate(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	e.waitTip(t)
	if _, err := e.client.SubmitShares(ctx, ordered.id, ordered.token, []api.ShareIn{{AssignmentID: a.ID, Nonce: stale}}); problemType(err) != "stale-job" {
		t.Fatalf("stale: %v", err)
	}
	// The daemon is still fine.
	if err := e.client.Ready(ctx); err != nil {
		t.Fatalf("not ready after bad input: %v", err)
	}
}

// lowNonce finds a nonce that does not meet the share target.
func lowNonce(t *testing.T, a *api.Assignment) uint32 {
	good := map[uint32]bool{}
	for _, n := range nonces(t, a, 1, false) {
		good[n] = true
	}
	for n := a.NonceStart; ; n++ {
		if !good[n] && n != nonces(t, a, 1, false)[0] {
			return n // a share target of 2^-8 is missed by all but 1 in 256 nonces
		}
	}
}

func (e *env) tipHash(t *testing.T) chainhash.Hash {
	tip, err := e.chain.Tip(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tip.Hash
}

// waitTip waits until the broker follows the chain's tip.
func (e *env) waitTip(t *testing.T) {
	want := e.tipHash(t)
	for range 200 {
		st, err := e.client.Status(context.Background())
		if err == nil && st.TipHash == want.String() {
			return
		}
		waitABit()
	}
	t.Fatal("broker did not follow the tip")
}

// orderTx returns the raw transaction of an order (from a quote-free path: the store).
func (e *env) orderTx(o order) string {
	e.t.Helper()
	so, err := e.store.Order(context.Background(), o.id)
	if err != nil {
		e.t.Fatal(err)
	}
	return hex.EncodeToString(so.RawTx)
}
