package rpcnode_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/rpcnode"
	"github.com/proofow/powbroker/chain/rpcnode/btcdtest"
)

// Fixture tests of the bitcoind paths, kept only for answers a live bitcoind v30 cannot
// be made to give (everything else runs against a real bitcoind: bitcoind_live_test.go
// and chain/backendtest):
//   - a wrong default_witness_commitment (a live node's is always right, so copying it
//     would go unnoticed) and the legacy JSON-RPC 1.0 shape with HTTP 500 for -10
//     "in initial sync" (regtest templates never wait for sync; older Cores answer so);
//   - submitblock answering null for a block that is not the tip afterwards (Core says
//     "inconclusive" for a side-branch block; a node racing a reorg can still say null)
//     and the bare BIP 22 reason "rejected" (Core gives it only for an invalid state
//     without a reason string);
//   - transport and format faults (slow node, HTML error pages, malformed or trailing
//     JSON, wrong ids, -28 warming up, results of the wrong type, faults in the middle
//     of CheckTx/Propose/SubmitBlock), which no healthy node produces.
//
// Removed as covered live: the template's fields, the other submitblock answers
// (null, duplicate, inconclusive, a consensus reason, duplicate-invalid, -22), the
// mempool conflict through gettxout, the wrong chain, wrong credentials, and -5 for an
// unknown block.

// fakeCore answers like Bitcoin Core 28+: a "jsonrpc":"2.0" request gets a 2.0 response
// (exactly one of result and error, HTTP 200), a legacy request gets the 1.0 shape
// (both keys, HTTP 500 for an error). It injects answers; it validates nothing.
type fakeCore struct {
	mu       sync.Mutex
	handlers map[string]func(params []json.RawMessage) (any, *coreError)
	versions []string
	raw      map[string]string // method -> raw body to send instead (format faults)
	status   int               // HTTP status to force
}

type coreError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func newFakeCore(t *testing.T) (*fakeCore, *httptest.Server) {
	f := &fakeCore{handlers: map[string]func([]json.RawMessage) (any, *coreError){}, raw: map[string]string{}}
	f.on("getblockhash", func(p []json.RawMessage) (any, *coreError) {
		if string(p[0]) == "0" {
			return chaincfg.RegressionNetParams.GenesisHash.String(), nil
		}
		return nil, &coreError{-8, "Block height out of range"}
	})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeCore) on(method string, h func(params []json.RawMessage) (any, *coreError)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[method] = h
}

func (f *fakeCore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		JSONRPC string            `json:"jsonrpc"`
		ID      json.RawMessage   `json:"id"`
		Method  string            `json:"method"`
		Params  []json.RawMessage `json:"params"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad request", 400)
		return
	}
	f.mu.Lock()
	f.versions = append(f.versions, req.JSONRPC)
	h := f.handlers[req.Method]
	raw, hasRaw := f.raw[req.Method]
	status := f.status
	f.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if hasRaw {
		io.WriteString(w, raw)
		return
	}
	var result any
	var rerr *coreError
	if h == nil {
		rerr = &coreError{-32601, "Method not found"}
	} else {
		result, rerr = h(req.Params)
	}
	resp := map[string]any{"id": req.ID}
	if req.JSONRPC == "2.0" {
		resp["jsonrpc"] = "2.0"
		if rerr != nil {
			resp["error"] = rerr
		} else {
			resp["result"] = result
		}
	} else {
		resp["result"], resp["error"] = result, rerr
		if rerr != nil {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}
	json.NewEncoder(w).Encode(resp)
}

func coreNode(t *testing.T, srv *httptest.Server) *rpcnode.Node {
	t.Helper()
	n, err := rpcnode.New(context.Background(), rpcnode.Config{
		URL: srv.URL, User: "u", Pass: "p", Kind: rpcnode.KindBitcoind, Net: &chaincfg.RegressionNetParams, Timeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func hexOf(t *testing.T, ser func(io.Writer) error) string {
	t.Helper()
	var buf bytes.Buffer
	if err := ser(&buf); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(buf.Bytes())
}

// witnessSpend is a signed P2WPKH spend, a template transaction with a witness.
func witnessSpend(t *testing.T) (*wire.MsgTx, *btcdtest.Key) {
	t.Helper()
	key, err := btcdtest.NewKey("core fixture")
	if err != nil {
		t.Fatal(err)
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.DoubleHashH([]byte("funding")), Index: 0}, nil, nil))
	tx.AddTxOut(wire.NewTxOut(49_0000_0000, key.PkScript))
	if err := key.Sign(tx, []int64{50_0000_0000}); err != nil {
		t.Fatal(err)
	}
	return tx, key
}

// TestBitcoindTemplate feeds a getblocktemplate answer whose default_witness_commitment
// is wrong and checks that the block assembled from it carries our own, valid
// commitment; then Core's legacy error shape while it syncs.
func TestBitcoindTemplate(t *testing.T) {
	f, srv := newFakeCore(t)
	n := coreNode(t, srv)
	tx, key := witnessSpend(t)
	prev := chainhash.DoubleHashH([]byte("tip"))
	bogus := "6a24aa21a9ed" + strings.Repeat("ee", 32) // a full script, and deliberately wrong
	f.on("getblocktemplate", func(p []json.RawMessage) (any, *coreError) {
		var req struct {
			Rules []string `json:"rules"`
		}
		if json.Unmarshal(p[0], &req); len(req.Rules) == 0 || req.Rules[0] != "segwit" {
			return nil, &coreError{-8, "getblocktemplate must be called with the segwit rule set (call with {\"rules\": [\"segwit\"]})"}
		}
		return map[string]any{
			"capabilities": []string{"proposal"}, "version": 536870912,
			"rules": []string{"csv", "!segwit", "taproot"}, "vbavailable": map[string]any{}, "vbrequired": 0,
			"previousblockhash": prev.String(),
			"transactions": []map[string]any{{
				"data": hexOf(t, tx.Serialize), "txid": tx.TxHash().String(), "hash": tx.WitnessHash().String(),
				"depends": []int{}, "fee": 1_0000_0000, "sigops": 1, "weight": 437,
			}},
			"coinbaseaux": map[string]any{}, "coinbasevalue": 26_0000_0000, "longpollid": prev.String() + "5",
			"target":  "7fffff0000000000000000000000000000000000000000000000000000000000",
			"mintime": 1764200001, "mutable": []string{"time", "transactions", "prevblock"},
			"noncerange": "00000000ffffffff", "sigoplimit": 80000, "sizelimit": 4000000, "weightlimit": 4000000,
			"curtime": 1764200100, "bits": "207fffff", "height": 201,
			"default_witness_commitment": bogus,
		}, nil
	})
	tmpl, err := n.Template(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tmpl.Transactions) != 1 || !tmpl.SegwitActive {
		t.Fatalf("template %+v", tmpl)
	}
	a, err := chain.Assemble(chain.AssembleSpec{Template: tmpl, PayoutScript: key.PkScript})
	if err != nil {
		t.Fatal(err)
	}
	en2 := make([]byte, a.Extranonce2Size)
	b, err := a.Block(en1, en2, a.Header(en1, en2, tmpl.Version, uint32(tmpl.CurTime.Unix()), 0))
	if err != nil {
		t.Fatal(err)
	}
	cb := b.Transactions[0]
	if got := hex.EncodeToString(cb.TxOut[len(cb.TxOut)-1].PkScript); got == bogus {
		t.Fatal("the node's default_witness_commitment was copied into the coinbase")
	}
	if err := blockchain.ValidateWitnessCommitment(btcutil.NewBlock(b)); err != nil {
		t.Fatalf("our commitment: %v", err)
	}
	for _, v := range f.versions {
		if v != "2.0" {
			t.Fatalf("request sent as JSON-RPC %q to bitcoind, want 2.0", v)
		}
	}

	// The legacy JSON-RPC 1.0 shape with an HTTP 500 error is understood too.
	f.on("getblocktemplate", func([]json.RawMessage) (any, *coreError) {
		return nil, &coreError{-10, "Bitcoin Core is in initial sync and waiting for blocks..."}
	})
	f.raw["getblocktemplate"] = `{"result":null,"error":{"code":-10,"message":"Bitcoin Core is in initial sync and waiting for blocks..."},"id":7}`
	_, err = n.Template(context.Background())
	if !errors.Is(err, chain.ErrUnavailable) {
		t.Fatalf("template while the node syncs: %v, want ErrUnavailable", err)
	}
}

// TestBitcoindSubmitResults maps the submitblock answers a live Core does not give.
func TestBitcoindSubmitResults(t *testing.T) {
	block := &wire.MsgBlock{Header: wire.BlockHeader{Version: 4, Bits: 0x207fffff, Timestamp: time.Unix(1764200100, 0)}}
	block.AddTransaction(wire.NewMsgTx(1))
	hash := block.BlockHash()
	other := chainhash.DoubleHashH([]byte("another tip"))
	for _, tc := range []struct {
		name    string
		result  any
		rpcErr  *coreError
		best    chainhash.Hash
		sideway bool // getblockheader answers confirmations -1
		stale   bool
		reason  string
	}{
		{name: "null but stale", result: nil, best: other, sideway: true, stale: true, reason: "answered success"},
		{name: "rejected", result: "rejected", reason: "rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeCore(t)
			n := coreNode(t, srv)
			f.on("submitblock", func([]json.RawMessage) (any, *coreError) { return tc.result, tc.rpcErr })
			f.on("getbestblockhash", func([]json.RawMessage) (any, *coreError) { return tc.best.String(), nil })
			f.on("getblockheader", func([]json.RawMessage) (any, *coreError) {
				conf := 1
				if tc.sideway {
					conf = -1
				}
				return map[string]any{"hash": hash.String(), "confirmations": conf, "height": 5, "bits": "207fffff"}, nil
			})
			err := n.SubmitBlock(context.Background(), block)
			var be *chain.BlockError
			if !errors.As(err, &be) || !strings.Contains(be.Reason, tc.reason) || be.Hash != hash || be.Stale != tc.stale {
				t.Fatalf("SubmitBlock: %v, want a BlockError with %q", err, tc.reason)
			}
			if errors.Is(err, chain.ErrUnavailable) {
				t.Fatal("a rejection must not be 'unavailable'")
			}
		})
	}
}

// TestFaults injects transport and format faults.
func TestFaults(t *testing.T) {
	ctx := context.Background()
	t.Run("dead node", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = rpcnode.New(ctx, rpcnode.Config{URL: "http://" + addr, Timeout: time.Second})
		if !errors.Is(err, chain.ErrUnavailable) {
			t.Fatalf("New against a closed port: %v", err)
		}
	})
	t.Run("slow node", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-release
		}))
		defer srv.Close()
		defer close(release)
		_, err := rpcnode.New(ctx, rpcnode.Config{URL: srv.URL, Timeout: 200 * time.Millisecond})
		if !errors.Is(err, chain.ErrUnavailable) || !strings.Contains(err.Error(), "no answer") {
			t.Fatalf("New against a node that never answers: %v", err)
		}
	})
	for _, tc := range []struct {
		name   string
		status int
		raw    string
		want   string
	}{
		{name: "HTML error page", status: 502, want: "HTTP 502"},
		{name: "malformed JSON", raw: `{"result": "00`, want: "malformed"},
		{name: "wrong id", raw: `{"jsonrpc":"2.0","result":"00","id":999}`, want: "id"},
		{name: "neither result nor error", raw: `{"jsonrpc":"2.0","id":2}`, want: "neither"},
		{name: "trailing garbage", raw: `{"result":"00","error":null,"id":2} {}`, want: "after"},
		{name: "warming up", raw: `{"jsonrpc":"2.0","error":{"code":-28,"message":"Loading block index…"},"id":2}`, want: "-28"},
		{name: "result of the wrong type", raw: `{"jsonrpc":"2.0","result":[1],"id":2}`, want: "malformed result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeCore(t)
			n := coreNode(t, srv) // request id 1 was getblockhash 0
			f.mu.Lock()
			f.status = tc.status
			if tc.raw != "" {
				f.raw["getblockchaininfo"] = tc.raw // Tip's first request, id 2
			}
			f.mu.Unlock()
			_, err := n.Tip(ctx)
			if !errors.Is(err, chain.ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrUnavailable mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("no tip events from a broken node", func(t *testing.T) {
		f, srv := newFakeCore(t)
		n := coreNode(t, srv)
		f.raw["getbestblockhash"] = `{"result": "00`
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		for ev := range n.Tips(pctx) {
			t.Fatalf("event %+v from a broken node", ev)
		}
	})
	t.Run("node errors are never rejections", func(t *testing.T) {
		// A node that fails mid-operation must not turn into a TxError or a
		// BlockError: the broker would reject an order or drop a block for it.
		tx, _ := witnessSpend(t)
		block := &wire.MsgBlock{Header: wire.BlockHeader{Version: 4, Bits: 0x207fffff}}
		block.AddTransaction(tx)
		for _, method := range []string{"getblockchaininfo", "getdeploymentinfo", "gettxout", "getblocktemplate", "submitblock", "getbestblockhash", "getblockheader"} {
			for _, fault := range []string{`{"jsonrpc":"2.0","result":"00`, `{"jsonrpc":"2.0","error":{"code":-1,"message":"internal"},"id":%d}`} {
				f, srv := newFakeCore(t)
				n := coreNode(t, srv)
				tip := chainhash.DoubleHashH([]byte("tip"))
				f.on("getblockchaininfo", func([]json.RawMessage) (any, *coreError) {
					return map[string]any{"blocks": 300, "bestblockhash": tip.String(), "mediantime": 1764199000}, nil
				})
				f.on("getdeploymentinfo", func([]json.RawMessage) (any, *coreError) {
					return map[string]any{"deployments": map[string]any{"segwit": map[string]any{"active": true}}}, nil
				})
				f.on("submitblock", func([]json.RawMessage) (any, *coreError) { return nil, nil })
				f.on("getbestblockhash", func([]json.RawMessage) (any, *coreError) { return tip.String(), nil })
				f.on("getblockheader", func([]json.RawMessage) (any, *coreError) {
					return map[string]any{"confirmations": -1, "height": 5}, nil
				})
				// Every request is answered with the fault once the method is reached.
				f.mu.Lock()
				if strings.Contains(fault, "%d") {
					f.handlers[method] = func([]json.RawMessage) (any, *coreError) { return nil, &coreError{-1, "internal"} }
				} else {
					f.raw[method] = fault
				}
				f.mu.Unlock()
				var errs []error
				_, err := n.CheckTx(ctx, tx, nil)
				errs = append(errs, err)
				errs = append(errs, n.Propose(ctx, block))
				errs = append(errs, n.SubmitBlock(ctx, block))
				for i, err := range errs {
					var te *chain.TxError
					var be *chain.BlockError
					if err != nil && (errors.As(err, &te) || errors.As(err, &be)) && !errors.Is(err, chain.ErrUnavailable) {
						// A BlockError is right only for the stale check, which
						// needs working getbestblockhash/getblockheader answers.
						if !(i == 2 && method != "getbestblockhash" && method != "getblockheader" && method != "submitblock") {
							t.Fatalf("%s fault %.30q, call %d: %v is a rejection", method, fault, i, err)
						}
					}
				}
			}
		}
	})
}
