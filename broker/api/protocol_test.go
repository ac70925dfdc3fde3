package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/proofow/powbroker/broker/api"
)

// TestMethodsAndMediaTypes: a wrong method on a real path answers 405 with Allow, an
// unknown path 404, a body that is not JSON 415, a missing token 401 with
// WWW-Authenticate; all as problems.
func TestMethodsAndMediaTypes(t *testing.T) {
	e := newEnv(t, testConfig())
	cases := []struct {
		method, path, ctype, body string
		status                    int
		typ, allow, authn         string
	}{
		{"PUT", "/v1/orders", "", "", 405, "method-not-allowed", "GET, HEAD, POST", ""},
		{"GET", "/v1/quotes", "", "", 405, "method-not-allowed", "POST", ""},
		{"DELETE", "/v1/status", "", "", 405, "method-not-allowed", "GET, HEAD", ""},
		{"POST", "/v1/orders/ord_x", "", "", 405, "method-not-allowed", "GET, HEAD, DELETE", ""},
		{"GET", "/v1/nothing", "", "", 404, "not-found", "", ""},
		{"POST", "/v1/quotes", "text/plain", `{"tx":"00"}`, 415, "unsupported-media-type", "", ""},
		{"POST", "/v1/quotes", "application/x-www-form-urlencoded", `{"tx":"00"}`, 415, "unsupported-media-type", "", ""},
		{"POST", "/v1/quotes", "application/json; charset=utf-8", `{"tx":"zz"}`, 400, "invalid-hex", "", ""},
		{"GET", "/v1/orders/ord_x", "", "", 401, "unauthorized", "", "Bearer"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, e.url+c.path, strings.NewReader(c.body))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p api.Problem
		_ = json.Unmarshal(body, &p)
		if resp.StatusCode != c.status || p.Type != c.typ || resp.Header.Get("Content-Type") != api.ProblemContentType {
			t.Errorf("%s %s: %d %s %q; want %d %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.status, c.typ)
		}
		if got := resp.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
		if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, c.authn) || (c.authn == "") != (got == "") {
			t.Errorf("%s %s: WWW-Authenticate %q", c.method, c.path, got)
		}
	}
}
