package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/rpcnode"
	"github.com/proofow/powbroker/chain/rpcnode/bitcoindtest"
)

// startCore runs a bitcoind v30 on regtest with a wallet whose first coinbases are
// mature.
func startCore(t *testing.T) *bitcoindtest.Node {
	t.Helper()
	c := bitcoindtest.Start(t, bitcoindtest.Options{})
	c.Generate(110)
	return c
}

// newCoreEnv starts a broker on the bitcoind c.
func newCoreEnv(t *testing.T, c *bitcoindtest.Node, opt rpcEnvOptions) *rpcEnv {
	t.Helper()
	if opt.timeout == 0 {
		opt.timeout = 2 * time.Second
	}
	if opt.url == "" {
		opt.url = c.URL()
	}
	e := &rpcEnv{t: t, nd: c, kind: rpcnode.KindBitcoind, user: c.User, pass: c.Pass,
		key: testKey(t, "miner"), payout: testKey(t, "payout"), dir: t.TempDir(), opt: opt}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// walletOrder orders a zero-fee transaction built and signed by Core's wallet.
func (e *rpcEnv) walletOrder(c *bitcoindtest.Node) (order, *wire.MsgTx) {
	e.t.Helper()
	tx := c.ZeroFeeTx(c.NewAddress(bitcoindtest.DefaultWallet, "bech32m"))
	return e.orderTx(tx), tx
}

// rivalOf is another spend of tx's input with a fee, signed by Core's wallet.
func rivalOf(t *testing.T, c *bitcoindtest.Node, tx *wire.MsgTx) *wire.MsgTx {
	t.Helper()
	in := tx.TxIn[0].PreviousOutPoint
	var unsigned string
	c.Call(&unsigned, "createrawtransaction", []map[string]any{{"txid": in.Hash.String(), "vout": in.Index}},
		[]map[string]any{{c.NewAddress(bitcoindtest.DefaultWallet, "bech32"): float64(tx.TxOut[0].Value-10000) / 1e8}})
	return c.SignTx(bitcoindtest.DefaultWallet, unsigned)
}

func mustHash(t *testing.T, s string) chainhash.Hash {
	t.Helper()
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		t.Fatal(err)
	}
	return *h
}

// TestCoreBlocks: on bitcoind, a block Core rejects (broken witness commitment) is
// recorded as rejected with Core's reason and not counted as found; two valid blocks
// at one height carrying the same order (two jobs of the tip) make Core keep the first
// and answer "inconclusive" for the second, which is recorded and logged as stale, not
// rejected; the order is mined by the first.
func TestCoreBlocks(t *testing.T) {
	c := startCore(t)
	var fault *faultyNode
	logs := &syncBuffer{}
	e := newCoreEnv(t, c, rpcEnvOptions{cfg: rpcConfig(), logs: logs, wrap: func(n *rpcnode.Node) chain.Backend {
		fault = &faultyNode{Node: n}
		fault.breakNext.Store(1)
		return fault
	}})
	o, _ := e.walletOrder(c)
	r := e.mineBlock(o)
	blocks, err := e.client.Blocks(e.ctx())
	if err != nil || len(blocks) != 1 || r.Results[0].BlockAccepted {
		t.Fatalf("blocks %+v %v; share %+v", blocks, err, r.Results[0])
	}
	if rej := blocks[0]; rej.Accepted || !strings.Contains(rej.Reason, "witness") || strings.HasPrefix(rej.Reason, broker.StaleBlockPrefix) {
		t.Fatalf("the block Core refused: %+v", rej)
	}
	blocks0 := blocks[0].Hash
	if _, err := c.RPC("getblock", blocks0, 1); err == nil {
		t.Fatal("Core has the rejected block")
	}
	if st, err := e.client.Status(e.ctx()); err != nil || st.BlocksFound != 0 {
		t.Fatalf("status %+v %v", st, err)
	}

	// Two jobs on the tip carrying o: the second is made when another order arrives.
	a1, err := e.client.Assignment(e.ctx(), o.id, o.token)
	if err != nil {
		t.Fatal(err)
	}
	e.walletOrder(c)
	a2, err := e.client.Assignment(e.ctx(), o.id, o.token)
	if err != nil || a2.JobID == a1.JobID {
		t.Fatalf("second assignment %+v %v on the job of the first (%s)", a2, err, a1.JobID)
	}
	tip := c.Height()
	r, err = e.client.SubmitShares(e.ctx(), o.id, o.token, append(shares(a1, nonces(t, a1, 1, true)), shares(a2, nonces(t, a2, 1, true))...))
	if err != nil || len(r.Results) != 2 || !r.Results[0].Block || !r.Results[0].BlockAccepted || !r.Results[1].Block || r.Results[1].BlockAccepted {
		t.Fatalf("two block shares at one height: %+v %v", r, err)
	}
	first, second := r.Results[0].Hash, r.Results[1].Hash
	if got := c.BestHash().String(); got != first || c.Height() != tip+1 {
		t.Fatalf("Core's tip %s at %d, want the first block %s at %d", got, c.Height(), first, tip+1)
	}
	if info := c.Info(mustHash(t, second)); info.Confirmations != -1 || info.Height != tip+1 {
		t.Fatalf("Core's view of the second block: %+v, want stored off the main chain at %d", info, tip+1)
	}
	mined := e.waitState(o, "mined")
	if mined.BlockHash != first {
		t.Fatalf("order mined in %s, want %s", mined.BlockHash, first)
	}
	blocks, err = e.client.Blocks(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	var stale *api.Block
	for i := range blocks {
		if blocks[i].Hash == second {
			stale = &blocks[i]
		}
	}
	if stale == nil || stale.Accepted || !strings.HasPrefix(stale.Reason, broker.StaleBlockPrefix) || !strings.Contains(stale.Reason, "inconclusive") {
		t.Fatalf("the block that lost the race: %+v", stale)
	}
	if st, err := e.client.Status(e.ctx()); err != nil || st.BlocksFound != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	// Logged as stale at info level, the refused block as rejected.
	var staleLogged, rejectedLogged bool
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct {
			Level, Msg, Hash string
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch {
		case rec.Msg == "stale block" && rec.Hash == second && rec.Level == "INFO":
			staleLogged = true
		case rec.Msg == "block rejected" && rec.Hash == second:
			t.Fatalf("the stale block was logged as rejected: %s", line)
		case rec.Msg == "block rejected" && rec.Hash == blocks0:
			rejectedLogged = true
		}
	}
	if !staleLogged || !rejectedLogged {
		t.Fatalf("stale logged %v, rejected logged %v; log:\n%s", staleLogged, rejectedLogged, logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the broker's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestCoreReorgInvalidate: invalidateblock takes the broker's block off Core's chain:
// the order goes back to paid, and reconsiderblock mines it again (mined → paid →
// mined); a second order's block is invalidated and Core confirms another spend of its
// coin instead (mined → paid → failed).
func TestCoreReorgInvalidate(t *testing.T) {
	c := startCore(t)
	e := newCoreEnv(t, c, rpcEnvOptions{cfg: rpcConfig()})
	o, _ := e.walletOrder(c)
	e.mineBlock(o)
	x := e.waitState(o, "mined")
	c.Invalidate(mustHash(t, x.BlockHash))
	if back := e.waitState(o, "paid"); back.BlockHash != "" {
		t.Fatalf("after invalidateblock the order names block %s", back.BlockHash)
	}
	c.Reconsider(mustHash(t, x.BlockHash))
	if again := e.waitState(o, "mined"); again.BlockHash != x.BlockHash {
		t.Fatalf("after reconsiderblock mined in %s, want %s", again.BlockHash, x.BlockHash)
	}
	if got := e.path(o); got != "working mined paid mined" {
		t.Fatalf("events %q", got)
	}

	o2, tx2 := e.walletOrder(c)
	e.mineBlock(o2)
	y := e.waitState(o2, "mined")
	c.Invalidate(mustHash(t, y.BlockHash))
	e.waitState(o2, "paid")
	rival := rivalOf(t, c, tx2)
	c.SendTx(rival) // replaces the zero-fee spend if Core put it back in its mempool
	c.Generate(1)
	failed := e.waitState(o2, "failed")
	if !strings.Contains(failed.Reason, rival.TxHash().String()) && !strings.Contains(failed.Reason, "already spent") {
		t.Fatalf("reason %q neither names the rival %s nor a spent input", failed.Reason, rival.TxHash())
	}
	if got := e.path(o2); got != "working mined paid failed" {
		t.Fatalf("events %q", got)
	}
}

// TestCoreReorgBetweenNodes: two bitcoind nodes share a chain and part; the broker's
// block carries two orders on one; the other mines a longer branch confirming another
// spend of the second order's coin; when they connect, the first order goes back to
// paid and a later broker block mines it again, the second fails.
func TestCoreReorgBetweenNodes(t *testing.T) {
	a := startCore(t)
	other := bitcoindtest.Start(t, bitcoindtest.Options{NoWallet: true})
	other.Connect(a)
	a.WaitTip(other)
	other.Disconnect(a)

	e := newCoreEnv(t, a, rpcEnvOptions{cfg: rpcConfig()})
	o, _ := e.walletOrder(a)
	rivalled, rtx := e.walletOrder(a)
	rival := rivalOf(t, a, rtx) // signed while its coin is unspent
	e.mineBlock(o)
	mined := e.waitState(o, "mined")
	if r := e.waitState(rivalled, "mined"); r.BlockHash != mined.BlockHash {
		t.Fatalf("second order mined in %s, want %s", r.BlockHash, mined.BlockHash)
	}
	other.SendTx(rival)
	branch := other.GenerateTo(2, a.MiningAddr)
	if !slices.Contains(other.Info(branch[0]).Tx, rival.TxHash().String()) {
		t.Fatal("the other branch did not confirm the rival spend")
	}
	other.Connect(a)
	if got := a.WaitTip(other); got != branch[1] {
		t.Fatalf("tip after connecting: %s, want the longer branch %s", got, branch[1])
	}
	e.waitState(o, "paid")
	o2, _ := e.walletOrder(a)
	e.mineBlock(o2)
	again := e.waitState(o, "mined")
	if m2 := e.waitState(o2, "mined"); again.BlockHash != m2.BlockHash || again.BlockHash == mined.BlockHash {
		t.Fatalf("mined again in %s (o2 in %s), first in %s", again.BlockHash, m2.BlockHash, mined.BlockHash)
	}
	if !slices.Contains(e.nodeBlock(again.BlockHash).Tx, again.Txid) {
		t.Fatalf("Core's block %s lacks %s", again.BlockHash, again.Txid)
	}
	if got := e.path(o); got != "working mined paid mined" {
		t.Fatalf("events %q", got)
	}
	e.waitState(rivalled, "failed")
	if got := e.path(rivalled); got != "working mined paid failed" {
		t.Fatalf("events %q", got)
	}
}

// TestCoreRestartAndPause: bitcoind stopped and started again keeps its chain (unlike
// btcd), so a mined order stays mined; while it is down, and while it is paused with
// SIGSTOP, /readyz says not ready, quotes and orders fail fast with node-unavailable,
// shares are still answered and no order changes state; the broker recovers by itself.
func TestCoreRestartAndPause(t *testing.T) {
	const timeout = 2 * time.Second
	c := startCore(t)
	e := newCoreEnv(t, c, rpcEnvOptions{cfg: rpcConfig(), timeout: timeout})
	done, _ := e.walletOrder(c)
	e.mineBlock(done)
	minedBefore := e.waitState(done, "mined")
	working, _ := e.walletOrder(c)
	height := c.Height()
	quoteTx := encodeTx(t, c.ZeroFeeTx(c.MiningAddr))
	outageNonces := nonces(t, working.first, 2, true) // block shares: none reaches the node
	outage := func(what string) {
		t.Helper()
		if typ := e.waitReady(http.StatusServiceUnavailable); typ != "node-unavailable" && typ != "not-ready" {
			t.Fatalf("%s: readyz problem type %q", what, typ)
		}
		began := time.Now()
		if _, err := e.client.Quote(e.ctx(), quoteTx); problemType(err) != "node-unavailable" {
			t.Fatalf("%s: quote: %v, want node-unavailable", what, err)
		}
		if _, err := e.client.CreateOrder(e.ctx(), quoteTx, ""); problemType(err) != "node-unavailable" {
			t.Fatalf("%s: order: %v, want node-unavailable", what, err)
		}
		if took := time.Since(began); took > 2*timeout+3*time.Second { // a hang guard, not a measurement
			t.Fatalf("%s: quote and order took %v (node timeout %v)", what, took, timeout)
		}
		r, err := e.client.SubmitShares(e.ctx(), working.id, working.token, shares(working.first, outageNonces[:1]))
		if err != nil || r.Accepted != 1 || r.Order.State != "working" || r.Results[0].BlockAccepted {
			t.Fatalf("%s: share: %+v %v", what, r, err)
		}
		outageNonces = outageNonces[1:]
	}

	c.Stop()
	outage("stopped")
	c.Launch()
	e.waitReady(http.StatusOK)
	if c.Height() != height || e.broker.Tip().Height != height {
		t.Fatalf("after the restart Core is at %d, the broker at %d; want %d", c.Height(), e.broker.Tip().Height, height)
	}

	c.Pause()
	paused := true
	defer func() {
		if paused {
			c.Resume()
		}
	}()
	outage("paused")
	c.Resume()
	paused = false
	e.waitReady(http.StatusOK)

	e.mineBlock(working)
	mined := e.waitState(working, "mined")
	if !slices.Contains(e.nodeBlock(mined.BlockHash).Tx, mined.Txid) {
		t.Fatalf("Core's block %s lacks %s", mined.BlockHash, mined.Txid)
	}
	for _, ch := range []struct {
		o    order
		path string
	}{{done, "working mined"}, {working, "working mined"}} {
		if got := e.path(ch.o); got != ch.path {
			t.Fatalf("order %s: events %q, want %q", ch.o.id, got, ch.path)
		}
	}
	if after := e.waitState(done, "mined"); after.BlockHash != minedBefore.BlockHash {
		t.Fatalf("the order mined before the restart moved to %s", after.BlockHash)
	}
}
