package backendtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/backendtest"
	"github.com/proofow/powbroker/chain/embedded"
	"github.com/proofow/powbroker/chain/rpcnode"
	"github.com/proofow/powbroker/chain/rpcnode/bitcoindtest"
	"github.com/proofow/powbroker/chain/rpcnode/btcdtest"
)

func TestMain(m *testing.M) { os.Exit(btcdtest.Main(m)) }

// embeddedDriver: the in-process chain on btcd's regtest parameters.
type embeddedDriver struct{ c *embedded.Chain }

func (d embeddedDriver) Backend() chain.Backend { return d.c }
func (d embeddedDriver) Mine(t testing.TB, n int, payout btcutil.Address) []chainhash.Hash {
	t.Helper()
	script, err := txscript.PayToAddrScript(payout)
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.c.Generate(context.Background(), n, script)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
func (d embeddedDriver) MempoolAdd(t testing.TB, tx *wire.MsgTx) {
	t.Helper()
	if err := d.c.AcceptToMempool(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
}
func (d embeddedDriver) SegwitHeight() int32      { return 432 }
func (d embeddedDriver) Lacks() map[string]string { return nil }

func TestEmbedded(t *testing.T) {
	c, err := embedded.Open(context.Background(), embedded.Config{DataDir: t.TempDir(), Net: embedded.NetRegtest, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	backendtest.Run(t, "embedded", embeddedDriver{c})
}

// rpcDriver: a real node through rpcnode; mine and send use the node's own RPCs.
type rpcDriver struct {
	node   *rpcnode.Node
	mine   func(t testing.TB, n int, payout btcutil.Address) []chainhash.Hash
	send   func(tx *wire.MsgTx) chainhash.Hash
	segwit int32
}

func (d rpcDriver) Backend() chain.Backend { return d.node }
func (d rpcDriver) Mine(t testing.TB, n int, payout btcutil.Address) []chainhash.Hash {
	t.Helper()
	return d.mine(t, n, payout)
}
func (d rpcDriver) MempoolAdd(t testing.TB, tx *wire.MsgTx) { t.Helper(); d.send(tx) }
func (d rpcDriver) SegwitHeight() int32                     { return d.segwit }
func (d rpcDriver) Lacks() map[string]string                { return nil }

// TestBtcd: a real btcd mining to the suite's address (btcd's regtest activates segwit
// at 432).
func TestBtcd(t *testing.T) {
	n := btcdtest.Start(t, btcdtest.Options{MiningAddr: backendtest.Address(&chaincfg.RegressionNetParams).String()})
	backendtest.Run(t, "btcd", rpcDriver{
		node: connect(t, n.URL(), n.User, n.Pass, rpcnode.KindBtcd),
		mine: func(t testing.TB, count int, payout btcutil.Address) []chainhash.Hash {
			if payout.String() != backendtest.Address(&chaincfg.RegressionNetParams).String() {
				t.Fatalf("btcd mines to its --miningaddr only, not %s", payout)
			}
			return n.Generate(count)
		},
		send: func(tx *wire.MsgTx) chainhash.Hash { n.SendTx(tx); return tx.TxHash() }, segwit: 432,
	})
}

// TestBitcoind: a real bitcoind v30 on regtest (segwit active from genesis).
func TestBitcoind(t *testing.T) {
	n := bitcoindtest.Start(t, bitcoindtest.Options{NoWallet: true})
	backendtest.Run(t, "bitcoind", rpcDriver{
		node: connect(t, n.URL(), n.User, n.Pass, rpcnode.KindBitcoind),
		mine: func(t testing.TB, count int, payout btcutil.Address) []chainhash.Hash {
			return n.GenerateTo(count, payout.String())
		},
		send: n.SendTx,
	})
}

func connect(t *testing.T, url, user, pass, kind string) *rpcnode.Node {
	t.Helper()
	node, err := rpcnode.New(context.Background(), rpcnode.Config{
		URL: url, User: user, Pass: pass, Kind: kind, NetName: "regtest",
		PollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	return node
}
