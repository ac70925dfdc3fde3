// Package brokertest is the test harness the broker's transports share (broker/api,
// stratum): the test network's constants, a quiet logger, the broker configuration
// of the tests, a real broker wired to a real embedded chain and a real SQLite store in
// a test directory, and a nonce scanner that finds shares (and blocks, when asked)
// for a header. In the manner of chain/rpcnode/btcdtest.
package brokertest

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/embedded"
	"github.com/proofow/powbroker/miner"
	"github.com/proofow/powbroker/store"
)

// Test network: blocks need about 2^16 hashes, shares 2^8 (difficulty 2^-24), orders
// 16 shares, so a test mines shares that are not blocks, and blocks when it wants them.
const (
	Bits      = 0x1f00ffff
	ShareDiff = 1.0 / (1 << 24)
	MinWork   = 16 * ShareDiff
)

// Quiet is the tests' logger: silent, or debug output on stderr when
// POWBROKER_TEST_LOG is set.
func Quiet() *slog.Logger {
	if os.Getenv("POWBROKER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Config is the broker configuration of the tests: the test network's share
// difficulty and minimum price, 2 confirmations, a refresh every 200 ms.
func Config() broker.Config {
	return broker.Config{
		Pricing:         broker.Pricing{MinWork: MinWork},
		ShareDifficulty: ShareDiff,
		Confirmations:   2,
		RefreshInterval: broker.Duration(200 * time.Millisecond),
	}
}

// Options shape an Env; the zero value is the test network with Config.
type Options struct {
	Bits    uint32        // default Bits
	Config  broker.Config // default Config()
	Threads int           // the chain's validation threads, default 1
	// Backend, when set, wraps the chain as the broker's backend (fault injection).
	Backend func(*embedded.Chain) chain.Backend
	// CompactAfter is the broker's Options.CompactAfter.
	CompactAfter time.Duration
}

// Env is a real broker on a private embedded chain and a SQLite store in Dir.
type Env struct {
	Dir    string
	Chain  *embedded.Chain
	Store  *store.Store
	Broker *broker.Broker
}

// Open opens the chain, the store and a broker (not started) in dir. Opening the same
// dir again after Close is a restart: the chain, the orders and the token key (kept in
// dir) stay. Close is registered with t.
func Open(t testing.TB, dir string, o Options) *Env {
	t.Helper()
	if o.Bits == 0 {
		o.Bits = Bits
	}
	if o.Config == (broker.Config{}) {
		o.Config = Config()
	}
	if o.Threads == 0 {
		o.Threads = 1
	}
	ctx := context.Background()
	e := &Env{Dir: dir}
	var err error
	e.Chain, err = embedded.Open(ctx, embedded.Config{DataDir: dir, Net: "private", PrivateBits: o.Bits, Logger: Quiet(), Threads: o.Threads})
	if err != nil {
		t.Fatalf("open chain: %v", err)
	}
	t.Cleanup(func() { _ = e.Chain.Close() })
	e.Store = OpenStore(t, dir)
	payout, err := txscript.PayToAddrScript(e.Chain.FaucetAddress())
	if err != nil {
		t.Fatal(err)
	}
	var backend chain.Backend = e.Chain
	if o.Backend != nil {
		backend = o.Backend(e.Chain)
	}
	e.Broker, err = broker.New(broker.Options{Config: o.Config, Net: "private", Backend: backend, Store: e.Store,
		PayoutScript: payout, TokenKey: TokenKey(t, dir), Logger: Quiet(), CompactAfter: o.CompactAfter})
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	return e
}

// Close closes the store and the chain (the broker must be stopped first).
func (e *Env) Close() {
	_ = e.Store.Close()
	_ = e.Chain.Close()
}

// OpenStore opens the SQLite store dir/broker.sqlite; Close is registered with t.
func OpenStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(dir, "broker.sqlite"), store.Options{Logger: Quiet(), BusyTimeout: time.Second})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TokenKey is the broker's token key kept in dir/token.key (made on first use).
func TokenKey(t testing.TB, dir string) []byte {
	t.Helper()
	path := filepath.Join(dir, "token.key")
	key, err := os.ReadFile(path)
	if err == nil {
		return key
	}
	key = make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(path, key, 0o600); err != nil {
		t.Fatal(err)
	}
	return key
}

// Scan scans header over count nonces from start and returns the first n nonces whose
// hash meets share and, as wanted, meets net (blocks) or does not; fewer than n fail t.
func Scan(t testing.TB, k miner.Kernel, header *miner.Header, start uint32, count uint64, share, net *miner.Target, n int, blocks bool) []miner.Found {
	t.Helper()
	var out []miner.Found
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, _ = k.Scan(ctx, header, start, count, share, func(f miner.Found) {
		if len(out) >= n || net.Meets(&f.Hash) != blocks {
			return
		}
		out = append(out, f)
		if len(out) >= n {
			cancel()
		}
	})
	if len(out) < n {
		t.Fatalf("found %d of %d nonces", len(out), n)
	}
	return out
}
