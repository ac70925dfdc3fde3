package rpcnode_test

import (
	"context"
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

func (e *env) coinbaseAt(t testing.TB, height int) *wire.MsgTx {
	return e.btcd.CoinbaseAt(int32(height))
}

// spend builds a transaction spending output 0 of prevs to key with the fee.
func (e *env) spend(t testing.TB, fee int64, prevs ...*wire.MsgTx) *wire.MsgTx {
	t.Helper()
	tx, err := e.key.Spend(fee, nil, prevs...)
	if err != nil {
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
