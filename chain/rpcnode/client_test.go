package rpcnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/proofow/powbroker/chain"
)

func TestDecodeResponse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		result  string // want result, when no error
		rpcCode int    // want an RPCError with this code
		err     string // want another error containing this
	}{
		{name: "1.0 result", body: `{"result":"abc","error":null,"id":7}`, result: `"abc"`},
		{name: "1.0 null result", body: `{"result":null,"error":null,"id":7}`, result: `null`},
		{name: "1.0 error", body: `{"result":null,"error":{"code":-5,"message":"Block not found"},"id":7}`, rpcCode: -5},
		{name: "2.0 result", body: `{"jsonrpc":"2.0","result":{"a":1},"id":7}`, result: `{"a":1}`},
		{name: "2.0 null result", body: `{"jsonrpc":"2.0","result":null,"id":7}`, result: `null`},
		{name: "2.0 error", body: `{"jsonrpc":"2.0","error":{"code":-8,"message":"x"},"id":7}`, rpcCode: -8},
		{name: "error with null id", body: `{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}`, rpcCode: -32700},
		{name: "string id", body: `{"result":1,"error":null,"id":"7"}`, result: `1`},
		{name: "whitespace", body: " \n{\"result\":1,\"error\":null,\"id\":7}\n", result: `1`},
		{name: "2.0 without result", body: `{"jsonrpc":"2.0","id":7}`, err: "neither"},
		{name: "1.0 error key only, null", body: `{"error":null,"id":7}`, result: `null`},
		{name: "empty object", body: `{}`, err: "id"},
		{name: "wrong id", body: `{"result":1,"error":null,"id":8}`, err: "id"},
		{name: "missing id", body: `{"result":1,"error":null}`, err: "id"},
		{name: "error without code", body: `{"result":null,"error":{"message":"x"},"id":7}`, err: "error object"},
		{name: "error as string", body: `{"result":null,"error":"boom","id":7}`, err: "error object"},
		{name: "bad version", body: `{"jsonrpc":"3.0","result":1,"id":7}`, err: "version"},
		{name: "array", body: `[{"result":1,"error":null,"id":7}]`, err: "malformed"},
		{name: "truncated", body: `{"result":"ab`, err: "malformed"},
		{name: "trailing object", body: `{"result":1,"error":null,"id":7}{}`, err: "after"},
		{name: "trailing junk", body: `{"result":1,"error":null,"id":7} x`, err: "after"},
		{name: "empty", body: ``, err: "malformed"},
		{name: "html", body: `<html>502 Bad Gateway</html>`, err: "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := decodeResponse([]byte(tc.body), 7)
			var re *RPCError
			switch {
			case tc.rpcCode != 0:
				if !errors.As(err, &re) || re.Code != tc.rpcCode {
					t.Fatalf("got %s, %v; want RPC error %d", res, err, tc.rpcCode)
				}
			case tc.err != "":
				if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %s, %v; want an error with %q", res, err, tc.err)
				}
			default:
				if err != nil || string(res) != tc.result {
					t.Fatalf("got %s, %v; want %s", res, err, tc.result)
				}
			}
		})
	}
}

// FuzzDecodeResponse: the decoder never panics, and whatever it accepts is a
// well-formed JSON value (the result) or an RPCError.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`{"result":"abc","error":null,"id":1}`,
		`{"jsonrpc":"2.0","result":{"a":[1,2,{"b":null}]},"id":1}`,
		`{"jsonrpc":"2.0","error":{"code":-5,"message":"Block not found"},"id":1}`,
		`{"result":null,"error":{"code":-28,"message":"Loading"},"id":null}`,
		`{"result":1,"error":null,"id":"1"}`,
		`{"result":1e999,"error":null,"id":1}`,
		`{"result":"\ud800","error":null,"id":1}`,
		`{"jsonrpc":"2.0","id":1}`,
		`{"result":1,"error":null,"id":1} {}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := decodeResponse(data, 1)
		if err != nil {
			if res != nil {
				t.Fatalf("result %q with error %v", res, err)
			}
			return
		}
		if !json.Valid(res) {
			t.Fatalf("accepted an invalid result %q from %q", res, data)
		}
	})
}

// TestResponseSizeLimit: a body above the limit is refused, not read to the end.
func TestResponseSizeLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req rpcRequest
		json.NewDecoder(r.Body).Decode(&req)
		fmt.Fprintf(w, `{"result":"%s","error":null,"id":%d}`, strings.Repeat("a", 1000), req.ID)
	}))
	defer srv.Close()
	c := newClient(srv.URL, &credentials{user: "u", pass: "p"}, "1.0", time.Second)
	defer c.close()
	c.maxBody = 500
	err := c.call(context.Background(), "getbestblockhash", nil)
	if !errors.Is(err, chain.ErrUnavailable) || !strings.Contains(err.Error(), "larger than 500") {
		t.Fatalf("oversized response: %v", err)
	}
	c.maxBody = 2000
	var s string
	if err := c.call(context.Background(), "getbestblockhash", &s); err != nil || len(s) != 1000 {
		t.Fatalf("response within the limit: %d bytes, %v", len(s), err)
	}
}
