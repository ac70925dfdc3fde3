package rpcnode_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/rpcnode"
	"github.com/proofow/powbroker/chain/rpcnode/btcdtest"
)

func TestMain(m *testing.M) { os.Exit(btcdtest.Main(m)) }

// segwitHeight is a height at which btcd's regtest has segwit active (it activates at 432).
const segwitHeight = 440

type env struct {
	btcd *btcdtest.Node
	key  *btcdtest.Key
	node *rpcnode.Node
}

// start runs a btcd paying key "miner", mines blocks, and connects a Node to it.
func start(t testing.TB, blocks int, timeout time.Duration) *env {
	t.Helper()
	key, err := btcdtest.NewKey("miner")
	if err != nil {
		t.Fatal(err)
	}
	b := btcdtest.Start(t, btcdtest.Options{MiningAddr: key.Addr.EncodeAddress()})
	if blocks > 0 {
		b.Generate(blocks)
	}
	return &env{btcd: b, key: key, node: connect(t, b, timeout)}
}

func connect(t testing.TB, b *btcdtest.Node, timeout time.Duration) *rpcnode.Node {
	t.Helper()
	n, err := rpcnode.New(context.Background(), rpcnode.Config{
		URL: b.URL(), User: b.User, Pass: b.Pass, NetName: "regtest",
		PollInterval: 50 * time.Millisecond, Timeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// coinbaseAt returns the coinbase of the main-chain block at height.
func (e *env) coinbaseAt(t testing.TB, height int) *wire.MsgTx {
	t.Helper()
	var hash, raw string
	e.btcd.Call(&hash, "getblockhash", height)
	e.btcd.Call(&raw, "getblock", hash, 0)
	b, err := hex.DecodeString(raw)
	if err != nil {
		t.Fatal(err)
	}
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return blk.Transactions[0]
}

// spend builds a transaction spending the given outputs of key to key with the fee.
func (e *env) spend(t testing.TB, fee int64, prevs ...*wire.MsgTx) *wire.MsgTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	var values []int64
	var total int64
	for _, p := range prevs {
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: p.TxHash(), Index: 0}, nil, nil))
		values = append(values, p.TxOut[0].Value)
		total += p.TxOut[0].Value
	}
	tx.AddTxOut(wire.NewTxOut(total-fee, e.key.PkScript))
	if err := e.key.Sign(tx, values); err != nil {
		t.Fatal(err)
	}
	return tx
}

func templateTx(tx *wire.MsgTx, fee int64) chain.TemplateTx {
	return chain.TemplateTx{Tx: tx, Fee: fee, Weight: blockchain.GetTransactionWeight(btcutil.NewTx(tx)), SigOpCost: 1}
}

var en1 = []byte{1, 2, 3, 4}

// assemble builds a block from tmpl plus extra with a zero nonce.
func (e *env) assemble(t testing.TB, tmpl *chain.Template, extra ...chain.TemplateTx) *wire.MsgBlock {
	t.Helper()
	a, err := chain.Assemble(chain.AssembleSpec{Template: tmpl, Extra: extra, PayoutScript: e.key.PkScript, Tag: []byte("rpcnode test")})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Dropped) > 0 {
		t.Fatalf("assemble dropped %v", a.Dropped)
	}
	en2 := make([]byte, a.Extranonce2Size)
	hdr := a.Header(en1, en2, tmpl.Version, uint32(tmpl.CurTime.Unix()), 0)
	b, err := a.Block(en1, en2, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// solve finds a nonce that meets the block's target (trivial on regtest).
func solve(t *testing.T, b *wire.MsgBlock) {
	t.Helper()
	target := blockchain.CompactToBig(b.Header.Bits)
	for nonce := uint32(0); nonce < 1<<20; nonce++ {
		b.Header.Nonce = nonce
		h := b.Header.BlockHash()
		if blockchain.HashToBig(&h).Cmp(target) <= 0 {
			return
		}
	}
	t.Fatal("no nonce found")
}

// remerkle recomputes the merkle root after a transaction was changed.
func remerkle(b *wire.MsgBlock) {
	txs := make([]*btcutil.Tx, len(b.Transactions))
	for i, tx := range b.Transactions {
		txs[i] = btcutil.NewTx(tx)
	}
	store := blockchain.BuildMerkleTreeStore(txs, false)
	b.Header.MerkleRoot = *store[len(store)-1]
}
