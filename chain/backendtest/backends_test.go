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

// btcdDriver: a real btcd (mining to the suite's address) through rpcnode.
type btcdDriver struct {
	n    *btcdtest.Node
	node *rpcnode.Node
}

func (d btcdDriver) Backend() chain.Backend { return d.node }
func (d btcdDriver) Mine(t testing.TB, n int, payout btcutil.Address) []chainhash.Hash {
	t.Helper()
	if payout.String() != backendtest.Address(&chaincfg.RegressionNetParams).String() {
		t.Fatalf("btcd mines to its --miningaddr only, not %s", payout)
	}
	return d.n.Generate(n)
}
func (d btcdDriver) MempoolAdd(t testing.TB, tx *wire.MsgTx) { t.Helper(); d.n.SendTx(tx) }
func (d btcdDriver) SegwitHeight() int32                     { return 432 }
func (d btcdDriver) Lacks() map[string]string                { return nil }

func TestBtcd(t *testing.T) {
	n := btcdtest.Start(t, btcdtest.Options{MiningAddr: backendtest.Address(&chaincfg.RegressionNetParams).String()})
	backendtest.Run(t, "btcd", btcdDriver{n, connect(t, n.URL(), n.User, n.Pass, rpcnode.KindBtcd)})
}

// bitcoindDriver: a real bitcoind v30 on regtest through rpcnode.
type bitcoindDriver struct {
	n    *bitcoindtest.Node
	node *rpcnode.Node
}

func (d bitcoindDriver) Backend() chain.Backend { return d.node }
func (d bitcoindDriver) Mine(t testing.TB, n int, payout btcutil.Address) []chainhash.Hash {
	t.Helper()
	return d.n.GenerateTo(n, payout.String())
}
func (d bitcoindDriver) MempoolAdd(t testing.TB, tx *wire.MsgTx) { t.Helper(); d.n.SendTx(tx) }
func (d bitcoindDriver) SegwitHeight() int32                     { return 0 }
func (d bitcoindDriver) Lacks() map[string]string                { return nil }

func TestBitcoind(t *testing.T) {
	n := bitcoindtest.Start(t, bitcoindtest.Options{NoWallet: true})
	backendtest.Run(t, "bitcoind", bitcoindDriver{n, connect(t, n.URL(), n.User, n.Pass, rpcnode.KindBitcoind)})
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
