package api_test

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/broker/brokertest"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/embedded"
	"github.com/proofow/powbroker/miner"
	"github.com/proofow/powbroker/store"
)

// The test network (brokertest): blocks need about 2^16 hashes, shares 2^8, orders 16
// shares, so a test can mine shares that are not blocks and blocks when it wants them.
const (
	testBits      = brokertest.Bits
	testShareDiff = brokertest.ShareDiff
	testMinWork   = brokertest.MinWork
)

// env is a real broker: embedded chain, SQLite file, HTTP server on loopback.
type env struct {
	t      testing.TB
	dir    string
	chain  *embedded.Chain
	store  *store.Store
	broker *broker.Broker
	client *api.Client
	url    string
	halt   func() // stops the broker and its HTTP server
	cfg    broker.Config
	// backend, when set, wraps the chain for the broker.
	backend func(*embedded.Chain) chain.Backend
	// compactAfter is the broker's Options.CompactAfter (0: its default).
	compactAfter time.Duration
}

func testConfig() broker.Config { return brokertest.Config() }

func newEnv(t testing.TB, cfg broker.Config) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), cfg: cfg}
	e.start()
	return e
}

func quiet() *slog.Logger { return brokertest.Quiet() }

// start opens everything on e.dir (again, after stop: a restart).
func (e *env) start() {
	t := e.t
	be := brokertest.Open(t, e.dir, brokertest.Options{Config: e.cfg, Backend: e.backend, CompactAfter: e.compactAfter})
	e.chain, e.store, e.broker = be.Chain, be.Store, be.Broker
	e.client, e.url, e.halt = serveBroker(t, e.broker)
	t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.halt == nil {
		return
	}
	e.halt()
	e.halt = nil
	_ = e.store.Close()
	_ = e.chain.Close()
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// faucetTx returns a fresh signed transaction from the faucet.
func (e *env) faucetTx(fee int64) string {
	e.t.Helper()
	f, err := e.client.Faucet(e.ctx(), 1_000_000, fee)
	if err != nil {
		e.t.Fatalf("faucet: %v", err)
	}
	return f.Tx
}

type order struct {
	id, token string
	first     *api.Assignment
}

func (e *env) newOrder(fee int64) order {
	e.t.Helper()
	r, err := e.client.CreateOrder(e.ctx(), e.faucetTx(fee), "")
	if err != nil {
		e.t.Fatalf("create order: %v", err)
	}
	return order{id: r.ID, token: r.Token, first: r.Assignment}
}

// nonces scans an assignment and returns up to n nonces that meet its share target
// and, as wanted, meet the network target (blocks) or do not.
func nonces(t *testing.T, a *api.Assignment, n int, blocks bool) []uint32 {
	t.Helper()
	raw, err := hex.DecodeString(a.Header)
	if err != nil || len(raw) != 80 {
		t.Fatalf("assignment header %q", a.Header)
	}
	var h miner.Header
	copy(h[:], raw)
	share, err := api.ParseDisplayTarget(a.ShareTarget)
	if err != nil {
		t.Fatal(err)
	}
	netT, err := api.ParseDisplayTarget(a.NetworkTarget)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, f := range brokertest.Scan(t, miner.Portable(), &h, a.NonceStart, a.NonceCount, &share, &netT, n, blocks) {
		out = append(out, f.Nonce)
	}
	return out
}

func shares(a *api.Assignment, ns []uint32) []api.ShareIn {
	out := make([]api.ShareIn, len(ns))
	for i, n := range ns {
		out[i] = api.ShareIn{AssignmentID: a.ID, Nonce: n}
	}
	return out
}

// waitState long-polls until the order is in state or the deadline passes.
func (e *env) waitState(o order, state string) *api.Order {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		got, err := e.client.Order(e.ctx(), o.id, o.token)
		if err != nil {
			e.t.Fatalf("order: %v", err)
		}
		if got.State == state {
			return got
		}
		if _, err := e.client.WaitOrder(e.ctx(), o.id, o.token, 2*time.Second); err != nil {
			e.t.Fatalf("wait order: %v", err)
		}
	}
	got, _ := e.client.Order(e.ctx(), o.id, o.token)
	e.t.Fatalf("order %s is %s, want %s", o.id, got.State, state)
	return nil
}

func problemType(err error) string {
	var p *api.Problem
	if errors.As(err, &p) {
		return p.Type
	}
	return ""
}

func waitABit() { time.Sleep(20 * time.Millisecond) }

// serveBroker starts b (its first job, its Run loop) and its HTTP API on a loopback
// port; stop ends both and waits for them.
func serveBroker(t testing.TB, b *broker.Broker) (client *api.Client, url string, stop func()) {
	t.Helper()
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		t.Fatalf("broker start: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	srv := api.NewServer(b, api.ServerOptions{Logger: quiet(), RequestsPerSecond: 10000})
	ran, served := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ran)
		_ = b.Run(rctx)
	}()
	go func() {
		defer close(served)
		_ = api.Serve(rctx, ln, srv, nil)
	}()
	url = "http://" + ln.Addr().String()
	if client, err = api.NewClient(url); err != nil {
		t.Fatal(err)
	}
	return client, url, func() {
		cancel()
		<-served
		<-ran
	}
}
