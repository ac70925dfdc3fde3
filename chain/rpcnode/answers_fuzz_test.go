package rpcnode

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
)

// scriptedNode answers the node's requests in order from a script of lines: a JSON
// value becomes the result of a well-formed answer with the request's id, "E<code>"
// an error answer with that code, "!<body>" is sent as the body itself, and anything
// else is sent as is. The script repeats; after maxCalls requests the transport fails.
type scriptedNode struct {
	mu    sync.Mutex
	lines []string
	calls int
}

const maxScriptedCalls = 100

func (s *scriptedNode) RoundTrip(r *http.Request) (*http.Response, error) {
	var req struct {
		ID json.RawMessage `json:"id"`
	}
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &req)
	s.mu.Lock()
	k := s.calls
	s.calls++
	s.mu.Unlock()
	if k >= maxScriptedCalls {
		return nil, errors.New("scripted node: too many calls")
	}
	line := "null"
	if len(s.lines) > 0 {
		line = s.lines[k%len(s.lines)]
	}
	var out string
	switch {
	case strings.HasPrefix(line, "!"):
		out = line[1:]
	case strings.HasPrefix(line, "E"):
		code, _ := strconv.Atoi(line[1:])
		out = fmt.Sprintf(`{"result":null,"error":{"code":%d,"message":"scripted"},"id":%s}`, code, req.ID)
	case json.Valid([]byte(line)):
		out = fmt.Sprintf(`{"result":%s,"error":null,"id":%s}`, line, req.ID)
	default:
		out = line
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(out)),
		ContentLength: int64(len(out)), Request: r}, nil
}

func scriptedNodeFor(script []byte) *Node {
	s := &scriptedNode{lines: strings.Split(string(script), "\n")}
	c := newClient("http://scripted.invalid", &credentials{user: "u", pass: "p"}, "2.0", DefaultTimeout)
	c.http.Transport = s
	return &Node{cfg: Config{Kind: KindBitcoind}, params: &chaincfg.RegressionNetParams, rpc: c,
		log: slog.New(slog.DiscardHandler), mempool: make(map[chainhash.Hash][]wire.OutPoint), window: 6, walkLimit: 6}
}

// backendError tells whether err is one of the errors the node backend promises:
// an unavailable node, an error answer, or a block the node refused.
func backendError(err error) bool {
	var re *RPCError
	var be *chain.BlockError
	return errors.Is(err, chain.ErrUnavailable) || errors.As(err, &re) || errors.As(err, &be)
}

func fuzzTx() *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{1}, Index: 0}, nil, nil))
	tx.AddTxOut(wire.NewTxOut(1000, append([]byte{0x00, 0x14}, make([]byte, 20)...)))
	return tx
}

// FuzzNodeAnswers: whatever the node answers to each request of each backend
// operation (the answers are the fuzzed script), the backend never panics, never
// loops without bound, and fails only with the errors it promises; what it accepts
// is consistent (a block has the asked hash, a confirmation count is positive).
func FuzzNodeAnswers(f *testing.F) {
	g := chaincfg.RegressionNetParams.GenesisBlock
	gh := g.BlockHash()
	var hb, bb bytes.Buffer
	_ = g.Header.Serialize(&hb)
	_ = g.Serialize(&bb)
	hdr, blk := strconv.Quote(hex.EncodeToString(hb.Bytes())), strconv.Quote(hex.EncodeToString(bb.Bytes()))
	hash := strconv.Quote(gh.String())
	ci := fmt.Sprintf(`{"chain":"regtest","blocks":0,"bestblockhash":%s,"mediantime":1296688602,"bip9_softforks":{"segwit":{"status":"active"}}}`, hash)
	gbt := fmt.Sprintf(`{"bits":"207fffff","curtime":1296688700,"height":1,"previousblockhash":%s,"version":536870912,"coinbasevalue":5000000000,"rules":["segwit"],"transactions":[]}`, hash)
	for op, script := range []string{
		ci + "\n" + hdr,
		gbt,
		blk + "\n" + fmt.Sprintf(`{"hash":%s,"confirmations":1,"height":0}`, hash) + "\n" + hash,
		fmt.Sprintf(`{"blockhash":%s}`, hash) + "\n" + fmt.Sprintf(`{"tx":[%q]}`, fuzzTx().TxHash()) + "\nE-5",
		fmt.Sprintf(`{"tx":[%q]}`, fuzzTx().TxHash()) + "\n" + fmt.Sprintf(`{"hash":%s,"confirmations":1,"height":0}`, hash) + "\n" + hash + "\n3",
		"null\n" + hash,
		`"bad-txns"`,
		hash + "\n" + ci + "\n" + hdr,
		ci + "\n" + `{"bestblock":"00","confirmations":1,"value":0.1,"scriptPubKey":{"hex":"0014"},"coinbase":false}` + "\n[]",
		"E-5\n" + hdr + "\nE-1",
		"!{\"result\":1}\n!<html>\n!",
	} {
		f.Add(uint8(op), []byte(script))
	}
	f.Fuzz(func(t *testing.T, op uint8, script []byte) {
		n := scriptedNodeFor(script)
		ctx := context.Background()
		var err error
		switch op % 10 {
		case 0:
			var tip chain.Tip
			if tip, err = n.Tip(ctx); err == nil && tip.Height < 0 {
				t.Fatalf("negative tip height %d", tip.Height)
			}
		case 1:
			var tpl *chain.Template
			if tpl, err = n.Template(ctx); err == nil && (tpl.Height <= 0 || tpl.CoinbaseValue < 0) {
				t.Fatalf("accepted template with height %d, coinbase value %d", tpl.Height, tpl.CoinbaseValue)
			}
		case 2:
			var b *wire.MsgBlock
			if b, _, err = n.Block(ctx, gh); err == nil && b.BlockHash() != gh {
				t.Fatalf("Block returned %s for %s", b.BlockHash(), gh)
			}
		case 3, 4:
			hint := chainhash.Hash{}
			if op%10 == 4 {
				hint = gh
			}
			var st chain.TxStatus
			if st, err = n.TxStatus(ctx, fuzzTx().TxHash(), hint); err == nil && st.Confirmed && st.Confirmations < 1 {
				t.Fatalf("confirmed with %d confirmations", st.Confirmations)
			}
		case 5:
			err = n.SubmitBlock(ctx, g)
		case 6:
			err = n.Propose(ctx, g)
		case 7:
			var view *chainView
			if _, _, err = n.pollOnce(ctx, &view); err == nil {
				_, _, err = n.pollOnce(ctx, &view)
			}
		case 8:
			_, err = n.CheckTx(ctx, fuzzTx(), nil)
			return // transaction verdicts have their own error kinds
		case 9:
			_, err = n.mainChainHeight(ctx, gh)
		}
		if err != nil && !backendError(err) {
			t.Fatalf("op %d: error outside the backend's promises: %T %v", op%10, err, err)
		}
	})
}
