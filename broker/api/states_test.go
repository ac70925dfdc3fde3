package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/api"
)

// TestFailedWhenInputSpentElsewhere: another transaction spending the order's input is
// confirmed; the order fails with a reason naming it.
func TestFailedWhenInputSpentElsewhere(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := e.ctx()
	o := e.newOrder(0)
	tx := decodeTx(t, e.orderTx(o))

	rival := e.rivalSpend(tx)
	if _, err := e.chain.GenerateOn(ctx, e.tipHash(t), 1, []*wire.MsgTx{rival}); err != nil {
		t.Fatalf("mine the rival: %v", err)
	}
	failed := e.waitState(o, "failed")
	if !strings.Contains(failed.Reason, rival.TxHash().String()) {
		t.Fatalf("reason %q does not name the rival %s", failed.Reason, rival.TxHash())
	}
	if _, err := e.client.Assignment(ctx, o.id, o.token); problemType(err) != "order-closed" {
		t.Fatalf("assignment on failed order: %v", err)
	}
}

func TestExpireAndCancel(t *testing.T) {
	cfg := testConfig()
	cfg.OrderTTL = broker.Duration(1500 * time.Millisecond)
	e := newEnv(t, cfg)
	ctx := e.ctx()
	exp := e.newOrder(0)
	can := e.newOrder(0)
	c, err := e.client.Cancel(ctx, can.id, can.token)
	if err != nil || c.State != "canceled" || !c.Stop {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	if _, err := e.client.Cancel(ctx, can.id, can.token); problemType(err) != "order-closed" {
		t.Fatalf("second cancel: %v", err)
	}
	if _, err := e.client.Cancel(ctx, can.id, "pow_nope"); problemType(err) != "not-found" {
		t.Fatalf("cancel with a wrong token: %v", err)
	}
	got := e.waitState(exp, "expired")
	if !got.Stop {
		t.Fatalf("expired order does not say stop: %+v", got)
	}
	_, err = e.client.SubmitShares(ctx, exp.id, exp.token, shares(exp.first, nonces(t, exp.first, 1, false)))
	if problemType(err) != "expired" {
		t.Fatalf("share on expired order: %v", err)
	}
	// Both transactions left the template: a new order can spend... the job has no orders.
	st, err := e.client.Status(ctx)
	if err != nil || st.Orders["expired"] != 1 || st.Orders["canceled"] != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
}

// TestLongPoll: ?wait returns at the next change, and If-None-Match gives 304 when
// nothing changed.
func TestLongPoll(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := e.ctx()
	o := e.newOrder(0)
	req, _ := http.NewRequest(http.MethodGet, e.url+"/v1/orders/"+o.id, nil)
	req.Header.Set("Authorization", "Bearer "+o.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	req, _ = http.NewRequest(http.MethodGet, e.url+"/v1/orders/"+o.id+"?wait=300ms", nil)
	req.Header.Set("Authorization", "Bearer "+o.token)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("unchanged long-poll: %d", resp.StatusCode)
	}
	// A share arrives during the wait: the poll returns with it.
	ns := nonces(t, o.first, 1, false)
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, _ = e.client.SubmitShares(context.Background(), o.id, o.token, shares(o.first, ns))
	}()
	start := time.Now()
	got, err := e.client.WaitOrder(ctx, o.id, o.token, 20*time.Second)
	if err != nil || got.Shares != 1 {
		t.Fatalf("long-poll: %+v %v", got, err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("long-poll did not return at the change")
	}
	if _, err := http.Get(e.url + "/v1/orders/" + o.id + "?wait=nonsense"); err != nil {
		t.Fatal(err)
	}
}

// TestRestartKeepsOrders: the broker, store and chain stop and start again on the same
// datadir; orders, tokens, credited work and assignments survive.
func TestRestartKeepsOrders(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := e.ctx()
	o := e.newOrder(0)
	if _, err := e.client.SubmitShares(ctx, o.id, o.token, shares(o.first, nonces(t, o.first, 3, false))); err != nil {
		t.Fatal(err)
	}
	e.stop()
	e.start()
	got, err := e.client.Order(ctx, o.id, o.token)
	if err != nil || got.State != "working" || got.Shares != 3 {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	// Work continues on a new assignment; the old one is stale (new jobs after restart).
	a, err := e.client.Assignment(ctx, o.id, o.token)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.client.SubmitShares(ctx, o.id, o.token, shares(a, nonces(t, a, 13, false)))
	if err != nil || r.Order.State != "paid" || r.Order.Shares != 16 {
		t.Fatalf("after restart, 13 more shares: %+v %v", r, err)
	}
}

// rivalSpend signs, with the faucet key, another spend of tx's first input.
func (e *env) rivalSpend(tx *wire.MsgTx) *wire.MsgTx {
	t := e.t
	wifText, err := os.ReadFile(filepath.Join(e.chain.Dir(), "faucet.key"))
	if err != nil {
		t.Fatal(err)
	}
	wif, err := btcutil.DecodeWIF(strings.TrimSpace(string(wifText)))
	if err != nil {
		t.Fatal(err)
	}
	prevScript, _ := txscript.PayToAddrScript(e.chain.FaucetAddress())
	rival := wire.NewMsgTx(2)
	rival.AddTxIn(wire.NewTxIn(&tx.TxIn[0].PreviousOutPoint, nil, nil))
	rival.AddTxOut(wire.NewTxOut(tx.TxOut[0].Value/2, prevScript))
	sig, err := txscript.SignatureScript(rival, 0, prevScript, txscript.SigHashAll, wif.PrivKey, wif.CompressPubKey)
	if err != nil {
		t.Fatal(err)
	}
	rival.TxIn[0].SignatureScript = sig
	return rival
}

// TestReorgToConflict: the order's block is replaced by a longer branch in which a
// rival spend of its input is confirmed: mined -> paid -> failed.
func TestReorgToConflict(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := e.ctx()
	o := e.newOrder(0)
	if _, err := e.client.SubmitShares(ctx, o.id, o.token, shares(o.first, nonces(t, o.first, 1, true))); err != nil {
		t.Fatal(err)
	}
	mined := e.waitState(o, "mined")
	var bh chainhash.Hash
	_ = chainhash.Decode(&bh, mined.BlockHash)
	blk, _, err := e.chain.Block(ctx, bh)
	if err != nil {
		t.Fatal(err)
	}
	rival := e.rivalSpend(decodeTx(t, e.orderTx(o)))
	if _, err := e.chain.GenerateOn(ctx, blk.Header.PrevBlock, 2, []*wire.MsgTx{rival}); err != nil {
		t.Fatalf("rival branch: %v", err)
	}
	failed := e.waitState(o, "failed")
	if !strings.Contains(failed.Reason, rival.TxHash().String()) {
		t.Fatalf("reason %q", failed.Reason)
	}
	evs, _ := e.client.Events(ctx, o.id, o.token)
	var path []string
	for _, ev := range evs {
		path = append(path, ev.To)
	}
	if strings.Join(path, " ") != "working mined paid failed" {
		t.Fatalf("events %v", path)
	}
}

// TestMetrics: /metrics speaks the Prometheus text format and counts what happened.
func TestMetrics(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := e.ctx()
	o := e.newOrder(0)
	ns := nonces(t, o.first, 2, false)
	if _, err := e.client.SubmitShares(ctx, o.id, o.token, shares(o.first, ns[:1])); err != nil {
		t.Fatal(err)
	}
	_, _ = e.client.SubmitShares(ctx, o.id, o.token, shares(o.first, ns[:1])) // duplicate
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	for _, want := range []string{
		"# TYPE powbroker_shares_accepted_total counter\npowbroker_shares_accepted_total 1\n",
		`powbroker_shares_rejected_total{type="duplicate-share"} 1`,
		`powbroker_orders{state="working"} 1`,
		"powbroker_ready 1\n",
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("metrics lack %q:\n%s", want, text)
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
}

// TestSlowDown: a client over the request rate gets 429 slow-down with Retry-After.
func TestSlowDown(t *testing.T) {
	e := newEnv(t, testConfig())
	srv := httptest.NewServer(api.NewServer(e.broker, api.ServerOptions{RequestsPerSecond: 2}))
	defer srv.Close()
	var limited *http.Response
	for range 20 {
		resp, err := http.Get(srv.URL + "/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = resp
			break
		}
	}
	if limited == nil {
		t.Fatal("20 requests at once were never limited")
	}
	if limited.Header.Get("Retry-After") == "" || limited.Header.Get("Content-Type") != api.ProblemContentType {
		t.Fatalf("429 without Retry-After or problem+json: %v", limited.Header)
	}
}

// TestOpenAPI: the served spec is valid JSON and names every route the server has.
func TestOpenAPI(t *testing.T) {
	e := newEnv(t, testConfig())
	resp, err := http.Get(e.url + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var spec struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&spec); err != nil || spec.OpenAPI != "3.1.0" {
		t.Fatalf("spec: %v %q", err, spec.OpenAPI)
	}
	routes := map[string][]string{
		"/v1/quotes": {"post"}, "/v1/orders": {"post", "get"}, "/v1/orders/{id}": {"get", "delete"},
		"/v1/orders/{id}/events": {"get"}, "/v1/orders/{id}/assignments": {"post"}, "/v1/orders/{id}/shares": {"post"},
		"/v1/status": {"get"}, "/v1/blocks": {"get"}, "/v1/faucet": {"post"}, "/v1/openapi.json": {"get"},
		"/healthz": {"get"}, "/readyz": {"get"}, "/metrics": {"get"},
		"/v1/orders/{id}/receipt": {"get"}, "/v1/orders/{id}/receipt/proof": {"get"}, "/v1/workers": {"get"},
		"/v1/stats": {"get"}, "/v1/stream": {"get"},
	}
	for path, methods := range routes {
		for _, m := range methods {
			if _, ok := spec.Paths[path][m]; !ok {
				t.Errorf("spec lacks %s %s", m, path)
			}
		}
	}
	if len(spec.Paths) != len(routes) {
		t.Errorf("spec has %d paths, the server %d", len(spec.Paths), len(routes))
	}
}
