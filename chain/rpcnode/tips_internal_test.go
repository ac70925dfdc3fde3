package rpcnode

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
)

// fakeChain serves the calls the tip poller makes from synthetic headers, so that
// reorgs deeper than the poller's window and jumps longer than its walk limit can be
// injected cheaply.
type fakeChain struct {
	mu      sync.Mutex
	headers map[chainhash.Hash]wire.BlockHeader
	main    []chainhash.Hash // by height
	nonce   uint32
}

func newFakeChain() *fakeChain {
	g := chaincfg.RegressionNetParams.GenesisBlock.Header
	return &fakeChain{headers: map[chainhash.Hash]wire.BlockHeader{g.BlockHash(): g}, main: []chainhash.Hash{g.BlockHash()}}
}

// extend replaces the main chain above height from with count new blocks.
func (f *fakeChain) extend(from, count int) []chainhash.Hash {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.main = f.main[:from+1]
	var added []chainhash.Hash
	for range count {
		f.nonce++
		h := wire.BlockHeader{Version: 4, PrevBlock: f.main[len(f.main)-1], Timestamp: time.Unix(1764200000+int64(f.nonce), 0), Bits: 0x207fffff, Nonce: f.nonce}
		f.headers[h.BlockHash()] = h
		f.main = append(f.main, h.BlockHash())
		added = append(added, h.BlockHash())
	}
	return added
}

func (f *fakeChain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     uint64            `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	body, _ := io.ReadAll(r.Body)
	json.Unmarshal(body, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	var result any
	var rerr any
	tip := len(f.main) - 1
	switch req.Method {
	case "getbestblockhash":
		result = f.main[tip].String()
	case "getblockchaininfo":
		result = map[string]any{"blocks": tip, "bestblockhash": f.main[tip].String(), "mediantime": 1764200000}
	case "getblockhash":
		var h int
		json.Unmarshal(req.Params[0], &h)
		if h < 0 || h > tip {
			rerr = map[string]any{"code": -1, "message": "Block number out of range"}
		} else {
			result = f.main[h].String()
		}
	case "getblockheader":
		var s string
		json.Unmarshal(req.Params[0], &s)
		hash, _ := chainhash.NewHashFromStr(s)
		hdr, ok := f.headers[*hash]
		if !ok {
			rerr = map[string]any{"code": -5, "message": "Block not found"}
			break
		}
		var buf bytes.Buffer
		hdr.Serialize(&buf)
		result = hex.EncodeToString(buf.Bytes())
	default:
		rerr = map[string]any{"code": -32601, "message": "Method not found"}
	}
	json.NewEncoder(w).Encode(map[string]any{"result": result, "error": rerr, "id": req.ID})
}

func rev(h []chainhash.Hash) []chainhash.Hash {
	c := slices.Clone(h)
	slices.Reverse(c)
	return c
}

func TestPollOnceLimits(t *testing.T) {
	f := newFakeChain()
	srv := httptest.NewServer(f)
	defer srv.Close()
	n, err := New(context.Background(), Config{URL: srv.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	n.window, n.walkLimit = 10, 20
	var view *chainView
	poll := func() chain.TipEvent {
		t.Helper()
		ev, changed, err := n.pollOnce(context.Background(), &view)
		if err != nil || !changed {
			t.Fatalf("poll: changed %v, err %v", changed, err)
		}
		if ev.Tip.Hash != f.main[len(f.main)-1] || int(ev.Tip.Height) != len(f.main)-1 {
			t.Fatalf("event tip %s at %d, want %s at %d", ev.Tip.Hash, ev.Tip.Height, f.main[len(f.main)-1], len(f.main)-1)
		}
		return ev
	}
	check := func(name string, ev chain.TipEvent, disc, conn []chainhash.Hash) {
		t.Helper()
		if !slices.Equal(ev.Disconnected, disc) || !slices.Equal(ev.Connected, conn) {
			t.Fatalf("%s: disconnected %d %v connected %d %v, want %d %v and %d %v", name,
				len(ev.Disconnected), ev.Disconnected, len(ev.Connected), ev.Connected, len(disc), disc, len(conn), conn)
		}
	}

	base := f.extend(0, 30)
	check("first", poll(), nil, base[29:])
	if _, changed, _ := n.pollOnce(context.Background(), &view); changed {
		t.Fatal("an event without a change")
	}

	old := slices.Clone(f.main[28:31])
	added := f.extend(27, 4) // replaces heights 28..30, adds 28..31
	check("reorg of 3", poll(), rev(old), added)

	// A reorg deeper than the window (10): the remembered blocks 22..31 leave,
	// the new blocks down to the old window (22..35) are reported.
	old = slices.Clone(f.main[22:32])
	added = f.extend(15, 20)                                     // heights 16..35
	check("deeper than the window", poll(), rev(old), added[6:]) // heights 22..35

	// A jump longer than the walk limit (20) on the same chain: nothing leaves, the
	// newest 20 blocks are reported, and the next block links to them.
	added = f.extend(35, 50) // heights 36..85
	check("long jump", poll(), nil, added[30:])
	added = f.extend(85, 1)
	check("after the jump", poll(), nil, added)

	// A restarted btcd: back to genesis. Every remembered block (the window) leaves.
	old = slices.Clone(f.main[77:87])
	f.extend(0, 0)
	check("restart", poll(), rev(old), nil)
	added = f.extend(0, 2)
	check("after restart", poll(), nil, added)
}
