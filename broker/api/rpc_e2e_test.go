package api_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/broker/brokertest"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/rpcnode"
	"github.com/proofow/powbroker/chain/rpcnode/btcdtest"
	"github.com/proofow/powbroker/store"
)

// TestMain builds btcd once for the tests that run the broker against a real node.
func TestMain(m *testing.M) { os.Exit(btcdtest.Main(m)) }

// rpcSegwitHeight is where the tests start mining through the broker: btcd's regtest
// activates segwit at 432 and the test key's coins are P2WPKH.
const rpcSegwitHeight = 440

// rpcEnv is a real broker on a real btcd: rpcnode backend, SQLite file, HTTP on
// loopback. On regtest every share is a block.
type rpcEnv struct {
	t      *testing.T
	btcd   *btcdtest.Node // nil on bitcoind
	nd     testNode       // the node: btcd or bitcoind
	kind   string         // rpcnode.KindBtcd or KindBitcoind
	key    *btcdtest.Key  // the node's mining key: its mature coinbases are spendable
	payout *btcdtest.Key  // the broker's payout key
	node   *rpcnode.Node
	store  *store.Store
	halt   func() // stops the broker and its HTTP server
	broker *broker.Broker
	client *api.Client
	url    string
	dir    string
	opt    rpcEnvOptions
	user   string
	pass   string
}

// testNode is what the env needs of a btcdtest or bitcoindtest node.
type testNode interface {
	URL() string
	BestHash() chainhash.Hash
	Call(out any, method string, params ...any)
}

type rpcEnvOptions struct {
	cfg     broker.Config
	timeout time.Duration // rpcnode request timeout
	// wrap, when set, puts a fault injector between the broker and the node.
	wrap func(*rpcnode.Node) chain.Backend
	// url, when set, is where the broker reaches the node (a fault proxy, which
	// does not carry btcd's websocket).
	url string
	// logs, when set, receives the broker's log records (JSON, info and above).
	logs io.Writer
}

func (e *rpcEnv) brokerLogger() *slog.Logger {
	if e.opt.logs == nil {
		return quiet()
	}
	return slog.New(slog.NewJSONHandler(e.opt.logs, nil))
}

func rpcConfig() broker.Config {
	return broker.Config{Confirmations: 6, RefreshInterval: broker.Duration(200 * time.Millisecond)}
}

func testKey(t *testing.T, seed string) *btcdtest.Key {
	t.Helper()
	k, err := btcdtest.NewKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startBtcd runs a btcd paying the "miner" key.
func startBtcd(t *testing.T) *btcdtest.Node {
	t.Helper()
	return btcdtest.Start(t, btcdtest.Options{MiningAddr: testKey(t, "miner").Addr.EncodeAddress()})
}

// newRPCEnv starts a broker on b. The broker is stopped before b (cleanups run last
// registered first), also when the test fails.
func newRPCEnv(t *testing.T, b *btcdtest.Node, opt rpcEnvOptions) *rpcEnv {
	t.Helper()
	if opt.timeout == 0 {
		opt.timeout = 2 * time.Second
	}
	if opt.url == "" {
		opt.url = b.URL()
	}
	e := &rpcEnv{t: t, btcd: b, nd: b, kind: rpcnode.KindBtcd, user: b.User, pass: b.Pass,
		key: testKey(t, "miner"), payout: testKey(t, "payout"), dir: t.TempDir(), opt: opt}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// start opens the node client, the store (again, after stop: a broker restart), the
// broker and its HTTP server.
func (e *rpcEnv) start() {
	t, opt := e.t, e.opt
	t.Helper()
	ctx := context.Background()
	var err error
	e.node, err = rpcnode.New(ctx, rpcnode.Config{URL: opt.url, User: e.user, Pass: e.pass, Kind: e.kind, NetName: "regtest",
		PollInterval: 50 * time.Millisecond, Timeout: opt.timeout, DisableWebsocket: opt.url != e.nd.URL(), Logger: quiet()})
	if err != nil {
		t.Fatalf("rpcnode: %v", err)
	}
	var backend chain.Backend = e.node
	if opt.wrap != nil {
		backend = opt.wrap(e.node)
	}
	e.store = brokertest.OpenStore(t, e.dir)
	e.broker, err = broker.New(broker.Options{Config: opt.cfg, Net: "regtest", Backend: backend, Store: e.store,
		PayoutScript: e.payout.PkScript, TokenKey: []byte("0123456789abcdef0123456789abcdef"), Logger: e.brokerLogger()})
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	e.client, e.url, e.halt = serveBroker(t, e.broker)
}

// stop ends the broker and closes the store and the node client.
func (e *rpcEnv) stop() {
	if e.halt == nil {
		return
	}
	e.halt()
	e.halt = nil
	_ = e.store.Close()
	_ = e.node.Close()
}

func (e *rpcEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// spend is a zero-fee transaction spending the coinbase at height (of the node's
// current chain) back to the miner key.
func (e *rpcEnv) spend(height int32) *wire.MsgTx {
	e.t.Helper()
	tx, err := e.key.Spend(0, nil, e.btcd.CoinbaseAt(height))
	if err != nil {
		e.t.Fatal(err)
	}
	return tx
}

// newOrder orders a zero-fee spend of the coinbase at height.
func (e *rpcEnv) newOrder(height int32) order {
	e.t.Helper()
	return e.orderTx(e.spend(height))
}

// orderTx orders tx.
func (e *rpcEnv) orderTx(tx *wire.MsgTx) order {
	e.t.Helper()
	r, err := e.client.CreateOrder(e.ctx(), encodeTx(e.t, tx), "")
	if err != nil {
		e.t.Fatalf("create order: %v", err)
	}
	if r.State != "working" || r.Assignment == nil {
		e.t.Fatalf("created %+v", r)
	}
	return order{id: r.ID, token: r.Token, first: r.Assignment}
}

// mineBlock submits one share of a fresh assignment of o that meets the network target
// (on regtest nearly every share does) and returns the answer.
func (e *rpcEnv) mineBlock(o order) *api.SharesResponse {
	e.t.Helper()
	a, err := e.client.Assignment(e.ctx(), o.id, o.token)
	if err != nil {
		e.t.Fatalf("assignment: %v", err)
	}
	r, err := e.client.SubmitShares(e.ctx(), o.id, o.token, shares(a, nonces(e.t, a, 1, true)))
	if err != nil || r.Accepted != 1 || !r.Results[0].Block {
		e.t.Fatalf("block share: %+v %v", r, err)
	}
	return r
}

// waitOrder long-polls until the order satisfies ok or 20 s pass.
func (e *rpcEnv) waitOrder(o order, what string, ok func(*api.Order) bool) *api.Order {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := e.client.Order(e.ctx(), o.id, o.token)
		if err != nil {
			e.t.Fatalf("order: %v", err)
		}
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("order %s: %s not reached; it is %s (reason %q)", o.id, what, got.State, got.Reason)
		}
		if _, err := e.client.WaitOrder(e.ctx(), o.id, o.token, time.Second); err != nil {
			e.t.Fatalf("wait order: %v", err)
		}
	}
}

func (e *rpcEnv) waitState(o order, state string) *api.Order {
	e.t.Helper()
	return e.waitOrder(o, "state "+state, func(got *api.Order) bool { return got.State == state })
}

// path is the order's history of states.
func (e *rpcEnv) path(o order) string {
	e.t.Helper()
	evs, err := e.client.Events(e.ctx(), o.id, o.token)
	if err != nil {
		e.t.Fatalf("events: %v", err)
	}
	var p []string
	for _, ev := range evs {
		p = append(p, ev.To)
	}
	return strings.Join(p, " ")
}

// nodeBlock is the node's verbose getblock of a block.
type nodeBlock struct {
	Hash          string   `json:"hash"`
	Height        int32    `json:"height"`
	Confirmations int64    `json:"confirmations"`
	Tx            []string `json:"tx"`
}

func (e *rpcEnv) nodeBlock(hash string) nodeBlock {
	e.t.Helper()
	var b nodeBlock
	e.nd.Call(&b, "getblock", hash, 1)
	return b
}

// waitTipHeight waits until the broker follows the node to height.
func (e *rpcEnv) waitTipHeight(height int32) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for e.broker.Tip().Height != height || e.broker.Tip().Hash != e.nd.BestHash() {
		if time.Now().After(deadline) {
			e.t.Fatalf("broker tip %d, want %d", e.broker.Tip().Height, height)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readyz returns the status of /readyz and its problem type, if any.
func (e *rpcEnv) readyz() (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.url + "/readyz")
	if err != nil {
		e.t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, api.ProblemContentType) {
		e.t.Fatalf("readyz %d with content type %q", resp.StatusCode, ct)
	}
	var p api.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		e.t.Fatalf("readyz problem %q: %v", body, err)
	}
	return resp.StatusCode, p.Type
}

func (e *rpcEnv) waitReady(want int) string {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, typ := e.readyz()
		if code == want {
			return typ
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("readyz stays %d %s, want %d", code, typ, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRPCReorgBetweenNodes: two btcd nodes share 440 blocks and part; the broker's
// block carries two orders on one; the other mines a longer branch without them, which
// confirms another spend of the second order's coin; when they connect the first order
// goes back to paid and a later broker block mines it again, the second one fails.
func TestRPCReorgBetweenNodes(t *testing.T) {
	a := startBtcd(t)
	other := startBtcd(t)
	a.Connect(other)
	a.Generate(rpcSegwitHeight)
	a.WaitTip(other)
	a.Disconnect(other)

	e := newRPCEnv(t, a, rpcEnvOptions{cfg: rpcConfig()})
	o := e.newOrder(1)
	rivalled := e.newOrder(3) // the other branch confirms another spend of its coin
	e.mineBlock(o)
	mined := e.waitState(o, "mined")
	if mined.Height != rpcSegwitHeight+1 || !slices.Contains(e.nodeBlock(mined.BlockHash).Tx, mined.Txid) {
		t.Fatalf("mined %+v; node block %+v", mined, e.nodeBlock(mined.BlockHash))
	}
	if r := e.waitState(rivalled, "mined"); r.BlockHash != mined.BlockHash {
		t.Fatalf("second order mined in %s, want %s", r.BlockHash, mined.BlockHash)
	}

	rival, err := e.key.Spend(1000, nil, other.CoinbaseAt(3))
	if err != nil {
		t.Fatal(err)
	}
	other.SendTx(rival)
	branch := other.Generate(2)
	if txs := other.BlockAt(rpcSegwitHeight + 1).Transactions; !slices.ContainsFunc(txs, func(tx *wire.MsgTx) bool { return tx.TxHash() == rival.TxHash() }) {
		t.Fatalf("the other branch did not confirm the rival spend")
	}
	a.Connect(other)
	if got := a.WaitTip(other); got != branch[1] {
		t.Fatalf("tip after connecting: %s, want the longer branch %s", got, branch[1])
	}
	back := e.waitState(o, "paid")
	if back.BlockHash != "" || back.Height != 0 {
		t.Fatalf("after the reorg the order still names block %s at %d", back.BlockHash, back.Height)
	}

	// Another user's block carries both transactions.
	o2 := e.newOrder(2)
	e.mineBlock(o2)
	again := e.waitState(o, "mined")
	mined2 := e.waitState(o2, "mined")
	if again.BlockHash == mined.BlockHash || again.BlockHash != mined2.BlockHash || again.Height != rpcSegwitHeight+3 {
		t.Fatalf("mined again in %s at %d (o2 in %s); first %s at %d", again.BlockHash, again.Height, mined2.BlockHash, mined.BlockHash, mined.Height)
	}
	blk := e.nodeBlock(again.BlockHash)
	if !slices.Contains(blk.Tx, again.Txid) || !slices.Contains(blk.Tx, mined2.Txid) || blk.Height != again.Height {
		t.Fatalf("node block %+v lacks %s or %s", blk, again.Txid, mined2.Txid)
	}
	if got := e.path(o); got != "working mined paid mined" {
		t.Fatalf("events %q, want working mined paid mined", got)
	}
	// The order whose coin the other branch spent failed. The reason names the rival
	// when the block that carries it is read first, or says the input is spent when a
	// job built meanwhile (o2's) found the transaction refused first.
	failed := e.waitState(rivalled, "failed")
	if !strings.Contains(failed.Reason, rival.TxHash().String()) && !strings.Contains(failed.Reason, "already spent") {
		t.Fatalf("reason %q neither names the rival %s nor a spent input", failed.Reason, rival.TxHash())
	}
	if got := e.path(rivalled); got != "working mined paid failed" {
		t.Fatalf("events %q, want working mined paid failed", got)
	}
}

// TestRPCNodePaused: btcd is stopped with SIGSTOP mid-run. The broker reports the
// outage (/readyz 503), quotes and orders fail fast with node-unavailable, shares are
// still answered, no order changes state; after SIGCONT everything continues.
func TestRPCNodePaused(t *testing.T) {
	const timeout = 2 * time.Second
	b := startBtcd(t)
	b.Generate(rpcSegwitHeight)
	e := newRPCEnv(t, b, rpcEnvOptions{cfg: rpcConfig(), timeout: timeout})
	done := e.newOrder(1)
	e.mineBlock(done)
	minedBefore := e.waitState(done, "mined")
	o := e.newOrder(2)
	e.waitReady(http.StatusOK)
	quoteTx := encodeTx(t, e.spend(3))

	b.Pause()
	paused := true
	defer func() {
		if paused {
			b.Resume()
		}
	}()
	typ := e.waitReady(http.StatusServiceUnavailable)
	if typ != "node-unavailable" && typ != "not-ready" {
		t.Fatalf("readyz problem type %q", typ)
	}
	// Hang guards, not speed measurements: each request must end near the timeout.
	guard := func(what string, f func() error) error {
		began := time.Now()
		err := f()
		if took := time.Since(began); took > timeout+3*time.Second {
			t.Fatalf("%s took %v during the outage (node timeout %v)", what, took, timeout)
		}
		return err
	}
	if err := guard("quote", func() error { _, err := e.client.Quote(e.ctx(), quoteTx); return err }); problemType(err) != "node-unavailable" {
		t.Fatalf("quote during the outage: %v, want node-unavailable", err)
	}
	if err := guard("create", func() error { _, err := e.client.CreateOrder(e.ctx(), quoteTx, ""); return err }); problemType(err) != "node-unavailable" {
		t.Fatalf("order during the outage: %v, want node-unavailable", err)
	}
	// A share on the current job: answered (accepted; its block could not reach the node).
	var r *api.SharesResponse
	err := guard("shares", func() error {
		var err error
		r, err = e.client.SubmitShares(e.ctx(), o.id, o.token, shares(o.first, nonces(t, o.first, 1, true)))
		return err
	})
	if err != nil || r.Accepted != 1 || r.Order.State != "working" {
		t.Fatalf("share during the outage: %+v %v", r, err)
	}
	st, err := e.client.Status(e.ctx())
	if err != nil || st.Ready || st.BlocksFound != 1 {
		t.Fatalf("status during the outage: %+v %v", st, err)
	}
	time.Sleep(time.Second) // let the broker's loops run into the outage
	for _, c := range []struct {
		o    order
		path string
	}{{o, "working"}, {done, "working mined"}} {
		if got := e.path(c.o); got != c.path {
			t.Fatalf("order %s during the outage: events %q, want %q", c.o.id, got, c.path)
		}
	}

	b.Resume()
	paused = false
	e.waitReady(http.StatusOK)
	e.mineBlock(o)
	mined := e.waitState(o, "mined")
	if !slices.Contains(e.nodeBlock(mined.BlockHash).Tx, mined.Txid) {
		t.Fatalf("order mined in %s, which lacks it on the node", mined.BlockHash)
	}
	if got := e.path(o); got != "working mined" {
		t.Fatalf("events %q", got)
	}
	after, err := e.client.Order(e.ctx(), done.id, done.token)
	if err != nil || after.State != "mined" || after.BlockHash != minedBefore.BlockHash {
		t.Fatalf("earlier order after the outage: %+v %v", after, err)
	}
	blocks, err := e.client.Blocks(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	var accepted, rejected int
	for _, bl := range blocks {
		if bl.Accepted {
			accepted++
		} else {
			rejected++
			if bl.Reason == "" {
				t.Fatalf("block %s not accepted without a reason", bl.Hash)
			}
		}
	}
	if accepted != 2 || rejected != 1 {
		t.Fatalf("blocks %+v: want 2 accepted and the one of the outage not", blocks)
	}
}

// TestRPCNodeRestarted: btcd is killed and started again, back at genesis (it wipes
// its regtest chain). The broker takes it as a reorg: the mined order goes back to
// paid and is parked with a reason (its inputs are gone), the working one too, none is
// lost, and a new order on the fresh chain is mined.
func TestRPCNodeRestarted(t *testing.T) {
	b := startBtcd(t)
	b.Generate(rpcSegwitHeight)
	e := newRPCEnv(t, b, rpcEnvOptions{cfg: rpcConfig()})
	minedOrder := e.newOrder(1)
	e.mineBlock(minedOrder)
	e.waitState(minedOrder, "mined")
	working := e.newOrder(2)

	b.Restart()
	if h := b.Height(); h != 0 {
		t.Fatalf("restarted btcd at height %d", h)
	}
	parked := func(got *api.Order) bool { return strings.Contains(got.Reason, "missing-inputs") }
	back := e.waitOrder(minedOrder, "paid and parked", func(got *api.Order) bool { return got.State == "paid" && parked(got) })
	if back.BlockHash != "" {
		t.Fatalf("after the restart the order still names block %s", back.BlockHash)
	}
	e.waitOrder(working, "working and parked", func(got *api.Order) bool { return got.State == "working" && parked(got) })
	e.waitTipHeight(0)
	e.waitReady(http.StatusOK)

	// The fresh chain: the broker keeps serving and mines new orders.
	b.Generate(rpcSegwitHeight)
	e.waitTipHeight(rpcSegwitHeight)
	fresh := e.newOrder(3)
	e.mineBlock(fresh)
	mined := e.waitState(fresh, "mined")
	if mined.Height != rpcSegwitHeight+1 || !slices.Contains(e.nodeBlock(mined.BlockHash).Tx, mined.Txid) {
		t.Fatalf("fresh order %+v", mined)
	}
	// Nothing was lost: both earlier orders are still there with their tokens, and
	// their transactions (spending coins of the wiped chain) stay out of blocks.
	for _, c := range []struct {
		o     order
		state string
		path  string
	}{{minedOrder, "paid", "working mined paid"}, {working, "working", "working"}} {
		got, err := e.client.Order(e.ctx(), c.o.id, c.o.token)
		if err != nil || got.State != c.state || !parked(got) {
			t.Fatalf("order %s after the restart: %+v %v", c.o.id, got, err)
		}
		if p := e.path(c.o); p != c.path {
			t.Fatalf("order %s: events %q, want %q", c.o.id, p, c.path)
		}
	}
	st, err := e.client.Status(e.ctx())
	if err != nil || !st.Ready || st.TipHeight != rpcSegwitHeight+1 || st.BlocksFound != 2 {
		t.Fatalf("status %+v %v", st, err)
	}
}

// faultyNode breaks the witness commitment of the first blocks it submits: it
// replaces the coinbase's witness reserved value, which leaves the txid, the merkle
// root and the proof of work intact, so the node itself must reject the block.
type faultyNode struct {
	*rpcnode.Node
	breakNext atomic.Int32
}

func (f *faultyNode) SubmitBlock(ctx context.Context, blk *wire.MsgBlock) error {
	if f.breakNext.Add(-1) < 0 {
		return f.Node.SubmitBlock(ctx, blk)
	}
	broken := &wire.MsgBlock{Header: blk.Header, Transactions: slices.Clone(blk.Transactions)}
	cb := blk.Transactions[0].Copy()
	reserved := make([]byte, 32)
	reserved[0] = 1
	cb.TxIn[0].Witness = wire.TxWitness{reserved}
	broken.Transactions[0] = cb
	if broken.BlockHash() != blk.BlockHash() {
		return errors.New("faultyNode: the change altered the header")
	}
	return f.Node.SubmitBlock(ctx, broken)
}

// TestRPCBlockRejected: the node rejects a block (broken witness commitment): the
// broker records it as rejected with the node's reason, does not count it as found,
// and the order stays working; the next, intact block mines it.
func TestRPCBlockRejected(t *testing.T) {
	b := startBtcd(t)
	b.Generate(rpcSegwitHeight)
	var fault *faultyNode
	e := newRPCEnv(t, b, rpcEnvOptions{cfg: rpcConfig(), wrap: func(n *rpcnode.Node) chain.Backend {
		fault = &faultyNode{Node: n}
		fault.breakNext.Store(1)
		return fault
	}})
	o := e.newOrder(1)
	r := e.mineBlock(o)
	if r.Order.State != "working" {
		t.Fatalf("after a rejected block the order is %s", r.Order.State)
	}
	blocks, err := e.client.Blocks(e.ctx())
	if err != nil || len(blocks) != 1 {
		t.Fatalf("blocks %+v %v", blocks, err)
	}
	rej := blocks[0]
	if rej.Accepted || !strings.Contains(rej.Reason, "witness commitment") || rej.Hash != r.Results[0].Hash || r.Results[0].BlockAccepted {
		t.Fatalf("rejected block %+v (share hash %s)", rej, r.Results[0].Hash)
	}
	if !slices.Contains(rej.Txids, r.Order.Txid) {
		t.Fatalf("rejected block %+v lacks the order's transaction", rej)
	}
	if _, err := b.RPC("getblock", rej.Hash, 1); err == nil {
		t.Fatalf("the node has the rejected block %s", rej.Hash)
	}
	st, err := e.client.Status(e.ctx())
	if err != nil || st.BlocksFound != 0 || st.TipHeight != rpcSegwitHeight || b.Height() != rpcSegwitHeight {
		t.Fatalf("status %+v %v; node height %d", st, err, b.Height())
	}
	// The chain moves on without it: the order is still working.
	b.Generate(1)
	e.waitTipHeight(rpcSegwitHeight + 1)
	if got, err := e.client.Order(e.ctx(), o.id, o.token); err != nil || got.State != "working" {
		t.Fatalf("order after the next tip: %+v %v", got, err)
	}
	// An intact block mines it.
	e.mineBlock(o)
	mined := e.waitState(o, "mined")
	if mined.Height != rpcSegwitHeight+2 || !slices.Contains(e.nodeBlock(mined.BlockHash).Tx, mined.Txid) {
		t.Fatalf("mined %+v", mined)
	}
	st, err = e.client.Status(e.ctx())
	if err != nil || st.BlocksFound != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	if got := e.path(o); got != "working mined" {
		t.Fatalf("events %q", got)
	}
	var best chainhash.Hash
	_ = chainhash.Decode(&best, mined.BlockHash)
	if b.BestHash() != best {
		t.Fatalf("node tip %s, want the broker's block %s", b.BestHash(), best)
	}
}

// TestRPCConflictsAndChains: on a real btcd, an order that spends a coin a transaction
// in the node's mempool spends is a conflict, so is a second order for a coin an active
// order spends; an order spending an active order's output (a chain) is accepted, and
// one broker block carries the node's own mempool transaction, the parent and the child.
func TestRPCConflictsAndChains(t *testing.T) {
	b := startBtcd(t)
	b.Generate(rpcSegwitHeight)
	e := newRPCEnv(t, b, rpcEnvOptions{cfg: rpcConfig()})
	ctx := e.ctx()

	inMempool, err := e.key.Spend(1000, nil, b.CoinbaseAt(1))
	if err != nil {
		t.Fatal(err)
	}
	b.SendTx(inMempool)
	zeroFee := encodeTx(t, e.spend(1))
	if _, err := e.client.Quote(ctx, zeroFee); problemType(err) != "conflict" || !strings.Contains(err.Error(), inMempool.TxHash().String()) {
		t.Fatalf("quote of a spend the node's mempool conflicts with: %v", err)
	}
	if _, err := e.client.CreateOrder(ctx, zeroFee, ""); problemType(err) != "conflict" {
		t.Fatalf("order conflicting with the node's mempool: %v", err)
	}

	parent := e.newOrder(2)
	other, err := e.key.Spend(500, nil, b.CoinbaseAt(2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateOrder(ctx, encodeTx(t, other), ""); problemType(err) != "conflict" {
		t.Fatalf("second order for the same coin: %v", err)
	}

	parentTx := decodeTx(t, e.orderTxOf(parent))
	childTx, err := e.key.Spend(0, nil, parentTx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.client.CreateOrder(ctx, encodeTx(t, childTx), "")
	if err != nil {
		t.Fatalf("order spending an active order's output: %v", err)
	}
	child := order{id: r.ID, token: r.Token, first: r.Assignment}
	e.mineBlock(child)
	pm := e.waitState(parent, "mined")
	cm := e.waitState(child, "mined")
	if pm.BlockHash != cm.BlockHash {
		t.Fatalf("parent in %s, child in %s", pm.BlockHash, cm.BlockHash)
	}
	txs := e.nodeBlock(cm.BlockHash).Tx
	pi, ci := slices.Index(txs, pm.Txid), slices.Index(txs, cm.Txid)
	if pi < 1 || ci <= pi {
		t.Fatalf("node block txs %v: want parent %s before child %s", txs, pm.Txid, cm.Txid)
	}
	if _, err := e.client.Quote(ctx, encodeTx(t, childTx)); problemType(err) != "already-mined" {
		t.Fatalf("quote of a mined transaction: %v", err)
	}

	// btcd refreshes its template's transactions on a new tip (or after a minute), so
	// the next broker block carries the node's mempool transaction, and the coinbase
	// collects its fee.
	next := e.newOrder(3)
	e.mineBlock(next)
	nm := e.waitState(next, "mined")
	if !slices.Contains(e.nodeBlock(nm.BlockHash).Tx, inMempool.TxHash().String()) {
		t.Fatalf("broker block %s lacks the node's mempool transaction %s", nm.BlockHash, inMempool.TxHash())
	}
	var paid int64
	for _, out := range b.CoinbaseAt(nm.Height).TxOut {
		if bytes.Equal(out.PkScript, e.payout.PkScript) {
			paid += out.Value
		}
	}
	if want := blockchain.CalcBlockSubsidy(nm.Height, &chaincfg.RegressionNetParams) + 1000; paid != want {
		t.Fatalf("coinbase pays %d, want the subsidy plus the 1000 sat fee: %d", paid, want)
	}
}

// orderTxOf is the raw transaction of an order, from the store.
func (e *rpcEnv) orderTxOf(o order) string {
	e.t.Helper()
	so, err := e.store.Order(context.Background(), o.id)
	if err != nil {
		e.t.Fatal(err)
	}
	return hex.EncodeToString(so.RawTx)
}

// faultProxy forwards JSON-RPC requests to a node, or answers every request with the
// fault of its mode.
type faultProxy struct {
	mode atomic.Value // string: "", "garbage", "rpc-error", "drop"
	srv  *httptest.Server
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	p := &faultProxy{}
	p.mode.Store("")
	// btcd closes every RPC connection after its answer: no keep-alive upstream.
	upstream := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p.mode.Load().(string) {
		case "garbage":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"result":"0000`)
			return
		case "rpc-error":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"result":null,"error":{"code":-1,"message":"injected failure"},"id":null}`)
			return
		case "drop":
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", r.Header.Get("Authorization"))
		resp, err := upstream.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(data)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// TestRPCNodeFaults: the node answers malformed JSON, RPC errors, or drops the
// connection. Each time the broker says node-unavailable (/readyz, quotes, orders),
// still answers shares, changes no order's state, and recovers when the node does.
func TestRPCNodeFaults(t *testing.T) {
	b := startBtcd(t)
	b.Generate(rpcSegwitHeight)
	proxy := newFaultProxy(t, b.URL())
	e := newRPCEnv(t, b, rpcEnvOptions{cfg: rpcConfig(), url: proxy.srv.URL})
	done := e.newOrder(1)
	e.mineBlock(done)
	minedBefore := e.waitState(done, "mined")
	o := e.newOrder(2)
	quoteTx := encodeTx(t, e.spend(3))
	ns := nonces(t, o.first, 3, true)
	for i, mode := range []string{"garbage", "rpc-error", "drop"} {
		proxy.mode.Store(mode)
		if typ := e.waitReady(http.StatusServiceUnavailable); typ != "node-unavailable" {
			t.Fatalf("%s: readyz problem %q", mode, typ)
		}
		if _, err := e.client.Quote(e.ctx(), quoteTx); problemType(err) != "node-unavailable" {
			t.Fatalf("%s: quote %v", mode, err)
		}
		if _, err := e.client.CreateOrder(e.ctx(), quoteTx, ""); problemType(err) != "node-unavailable" {
			t.Fatalf("%s: order %v", mode, err)
		}
		r, err := e.client.SubmitShares(e.ctx(), o.id, o.token, shares(o.first, ns[i:i+1]))
		if err != nil || r.Accepted != 1 || r.Order.State != "working" {
			t.Fatalf("%s: share %+v %v", mode, r, err)
		}
		proxy.mode.Store("")
		e.waitReady(http.StatusOK)
	}
	if got := e.path(o); got != "working" {
		t.Fatalf("events %q after the faults", got)
	}
	if got, err := e.client.Order(e.ctx(), done.id, done.token); err != nil || got.State != "mined" || got.BlockHash != minedBefore.BlockHash {
		t.Fatalf("earlier order after the faults: %+v %v", got, err)
	}
	e.mineBlock(o)
	if mined := e.waitState(o, "mined"); !slices.Contains(e.nodeBlock(mined.BlockHash).Tx, mined.Txid) {
		t.Fatalf("mined %+v", mined)
	}
}

// TestRPCBrokerRestarts: what happened while the broker was down is found at its next
// start. The node mined a working order's transaction: the order is mined in that
// block. The node restarted with a fresh chain: the mined orders go back to paid (their
// blocks are gone) and never count confirmations on the new chain.
func TestRPCBrokerRestarts(t *testing.T) {
	b := startBtcd(t)
	b.Generate(rpcSegwitHeight)
	e := newRPCEnv(t, b, rpcEnvOptions{cfg: rpcConfig()})
	o1 := e.newOrder(1)
	e.mineBlock(o1)
	mined1 := e.waitState(o1, "mined")
	o2 := e.newOrder(2)
	o2tx := decodeTx(t, e.orderTxOf(o2))

	e.stop()
	b.SendTx(o2tx)             // the node mines it while the broker is down
	byNode := b.Generate(2)[0] // not the tip: the first tip event alone would not show it
	e.start()
	mined2 := e.waitState(o2, "mined")
	if mined2.BlockHash != byNode.String() || mined2.Height != rpcSegwitHeight+2 {
		t.Fatalf("order mined by the node while the broker was down: %+v, want block %s", mined2, byNode)
	}
	if got, err := e.client.Order(e.ctx(), o1.id, o1.token); err != nil || got.State != "mined" || got.BlockHash != mined1.BlockHash {
		t.Fatalf("order mined before the restart: %+v %v", got, err)
	}

	e.stop()
	b.Restart() // a fresh chain
	e.start()
	for _, o := range []order{o1, o2} {
		back := e.waitOrder(o, "paid and parked", func(got *api.Order) bool {
			return got.State == "paid" && strings.Contains(got.Reason, "missing-inputs")
		})
		if back.BlockHash != "" {
			t.Fatalf("order %s still names block %s", o.id, back.BlockHash)
		}
	}
	// The new chain grows past the old heights: nothing is confirmed by mistake.
	b.Generate(rpcSegwitHeight + 10)
	e.waitTipHeight(rpcSegwitHeight + 10)
	for _, o := range []order{o1, o2} {
		got, err := e.client.Order(e.ctx(), o.id, o.token)
		if err != nil || got.State != "paid" {
			t.Fatalf("order %s on the new chain: %+v %v", o.id, got, err)
		}
	}
	if got := e.path(o1); got != "working mined paid" {
		t.Fatalf("events %q", got)
	}
}
