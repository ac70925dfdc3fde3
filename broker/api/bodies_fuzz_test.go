package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/proofow/powbroker/broker/api"
)

// FuzzRequestBodies sends fuzzed bodies to the real handler of POST /v1/quotes,
// POST /v1/orders and POST /v1/orders/{id}/shares over a real broker (embedded chain,
// SQLite). Nothing panics, nothing is a 5xx, every error is a problem+json object with
// a type and its status, and a batch answered 200 has one result per share.
func FuzzRequestBodies(f *testing.F) {
	e := newEnv(f, testConfig())
	o := e.newOrder(0)
	tx := e.faucetTx(0)
	h := api.NewServer(e.broker, api.ServerOptions{Logger: quiet(), RequestsPerSecond: 1e9})
	asg := o.first.ID
	for _, s := range []struct {
		kind uint8
		body string
	}{
		{0, `{"tx":"` + tx + `"}`}, {1, `{"tx":"` + tx + `"}`}, {0, `{"tx":"00"}`}, {1, `{"tx":"zz"}`},
		{0, `{"tx":"` + tx + `00"}`}, {1, `{"tx":1}`}, {0, `{}`}, {1, `{"tx":"` + tx + `","x":1}`},
		{2, `{"shares":[{"assignment_id":"` + asg + `","nonce":1},{"assignment_id":"` + asg + `","nonce":1}]}`},
		{2, `{"shares":[{"assignment_id":"asg_x","nonce":4294967295}]}`}, {2, `{"shares":[]}`},
		{2, `{"shares":[{"assignment_id":"` + asg + `","nonce":-1}]}`}, {2, "\x00\xff"}, {0, ``},
	} {
		f.Add(s.kind, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		path := [...]string{"/v1/quotes", "/v1/orders", "/v1/orders/" + o.id + "/shares"}[kind%3]
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+o.token)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		res := w.Result()
		if res.StatusCode >= 500 {
			t.Fatalf("%s %q: status %d: %s", path, body, res.StatusCode, w.Body.Bytes())
		}
		if res.StatusCode >= 400 {
			var p api.Problem
			if !strings.HasPrefix(res.Header.Get("Content-Type"), api.ProblemContentType) ||
				json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Type == "" || p.Status != res.StatusCode {
				t.Fatalf("%s %q: status %d without a problem: %s", path, body, res.StatusCode, w.Body.Bytes())
			}
			return
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q: invalid JSON answer %s", path, body, w.Body.Bytes())
		}
		if kind%3 == 2 {
			var in api.SharesRequest
			var out api.SharesResponse
			_ = json.Unmarshal(body, &in)
			if json.Unmarshal(w.Body.Bytes(), &out) != nil || len(out.Results) != len(in.Shares) ||
				out.Accepted+out.Rejected != len(in.Shares) {
				t.Fatalf("%q: %d shares, answer %s", body, len(in.Shares), w.Body.Bytes())
			}
		}
	})
}
