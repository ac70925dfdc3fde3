package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/broker/bus"
	"github.com/proofow/powbroker/broker/busnode"
	"github.com/proofow/powbroker/broker/metrics"
	"github.com/proofow/powbroker/broker/stratumpool"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/embedded"
	"github.com/proofow/powbroker/chain/rpcnode"
	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/proofow/powbroker/miner"
	"github.com/proofow/powbroker/store/pgstore"
	"github.com/proofow/powbroker/stratum"
)

// daemonConfig is everything serve needs; the config file has the same fields.
type daemonConfig struct {
	DataDir       string        `json:"datadir"`
	Net           string        `json:"net"`
	HTTP          string        `json:"http"`
	Stratum       string        `json:"stratum,omitempty"` // Stratum v1 listen address; empty = off
	StratumTuning stratumTuning `json:"stratum_tuning,omitempty"`
	PrivateBits   string        `json:"private_bits,omitempty"` // compact hex, e.g. 1d3fffff
	PayoutAddress string        `json:"payout_address,omitempty"`
	Chain         string        `json:"chain,omitempty"` // embedded (default) or rpc
	RPC           rpcConfig     `json:"rpc,omitempty"`
	// SignetChallenge selects a custom signet (with net signet), in hex.
	SignetChallenge string `json:"signet_challenge,omitempty"`
	// SignetKeyFile holds the WIF key that signs a key-challenge signet's blocks.
	SignetKeyFile string `json:"signet_key_file,omitempty"`
	LogLevel      string `json:"log_level,omitempty"`
	LogFormat     string `json:"log_format,omitempty"` // text (default) or json
	Store         string `json:"store,omitempty"`      // sqlite (default) or postgres://...
	// PoolThreads mine the current job for blocks while paid orders wait (embedded
	// test networks only; 0 = off).
	PoolThreads int           `json:"pool_threads,omitempty"`
	Bus         string        `json:"bus,omitempty"`          // nats://host:port: serve Stratum gateways
	BusKeyFile  string        `json:"bus_key_file,omitempty"` // the bus's shared HMAC key
	Broker      broker.Config `json:"broker"`
}

// stratumTuning is what an operator may tune of the Stratum server; zero = default.
type stratumTuning struct {
	MaxConns          int             `json:"max_conns,omitempty"`
	MaxConnsPerIP     int             `json:"max_conns_per_ip,omitempty"`
	IdleTimeout       broker.Duration `json:"idle_timeout,omitempty"`
	RequestsPerSecond float64         `json:"requests_per_second,omitempty"`
	StartDifficulty   float64         `json:"start_difficulty,omitempty"`
	MinDifficulty     float64         `json:"min_difficulty,omitempty"`
	MaxDifficulty     float64         `json:"max_difficulty,omitempty"`
	ShareInterval     broker.Duration `json:"share_interval,omitempty"`
	// Hostile sources and slow miners (see stratum.Config); ban_threshold -1 bans nobody.
	BanThreshold   int             `json:"ban_threshold,omitempty"`
	BanWindow      broker.Duration `json:"ban_window,omitempty"`
	BanDuration    broker.Duration `json:"ban_duration,omitempty"`
	MaxQueuedBytes int             `json:"max_queued_bytes,omitempty"`
	AcceptRate     float64         `json:"accept_rate,omitempty"`
	MaxHandshakes  int             `json:"max_handshakes,omitempty"`
}

// serverConfig is the Stratum server's configuration from the tuning.
func (t stratumTuning) serverConfig(start float64, log *slog.Logger) stratum.Config {
	return stratum.Config{
		StartDifficulty: start, MinDifficulty: t.MinDifficulty, MaxDifficulty: t.MaxDifficulty,
		TargetShareInterval: t.ShareInterval.D(), MaxConns: t.MaxConns, MaxConnsPerIP: t.MaxConnsPerIP,
		IdleTimeout: t.IdleTimeout.D(), RequestsPerSecond: t.RequestsPerSecond,
		BanThreshold: t.BanThreshold, BanWindow: t.BanWindow.D(), BanDuration: t.BanDuration.D(),
		MaxQueuedBytes: t.MaxQueuedBytes, AcceptRate: t.AcceptRate, MaxHandshakes: t.MaxHandshakes,
		Logger: log,
	}
}

func (t stratumTuning) validate() error {
	for name, v := range map[string]float64{"requests_per_second": t.RequestsPerSecond, "start_difficulty": t.StartDifficulty,
		"min_difficulty": t.MinDifficulty, "max_difficulty": t.MaxDifficulty, "accept_rate": t.AcceptRate} {
		if v < 0 || v != v {
			return cli.Usagef("stratum_tuning.%s must not be negative", name)
		}
	}
	if t.MaxConns < 0 || t.MaxConnsPerIP < 0 || t.MaxQueuedBytes < 0 || t.MaxHandshakes < 0 {
		return cli.Usagef("stratum_tuning connection limits must not be negative")
	}
	if t.BanWindow < 0 || t.BanDuration < 0 {
		return cli.Usagef("stratum_tuning ban durations must not be negative")
	}
	if t.MaxDifficulty > 0 && t.MinDifficulty > t.MaxDifficulty {
		return cli.Usagef("stratum_tuning.min_difficulty is above max_difficulty")
	}
	return nil
}

// rpcConfig reaches a btcd or bitcoind node.
type rpcConfig struct {
	URL      string `json:"url,omitempty"`
	User     string `json:"user,omitempty"`
	Pass     string `json:"pass,omitempty"`
	PassFile string `json:"pass_file,omitempty"` // the password's file (first line)
	Cookie   string `json:"cookie,omitempty"`    // Bitcoin Core's cookie file
	ZMQ      string `json:"zmq,omitempty"`       // bitcoind's -zmqpubhashblock address, tcp://HOST:PORT
	Kind     string `json:"kind,omitempty"`      // btcd (default) or bitcoind
}

// loadConfigFile reads a JSON config strictly: unknown fields are errors.
func loadConfigFile(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return cli.Usagef("config %s: %v", path, err)
	}
	if len(data) > 1<<20 {
		return cli.Usagef("config %s is larger than 1 MiB", path)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return cli.Usagef("config %s: %v", path, err)
	}
	return nil
}

func (c *daemonConfig) validate() error {
	switch c.Chain {
	case "", "embedded":
		if c.Net != "regtest" && c.Net != "private" {
			return cli.Usagef("--net must be regtest or private, not %q", c.Net)
		}
		if c.SignetChallenge != "" {
			return cli.Usagef("--signet-challenge needs --chain rpc and --net signet")
		}
	case "rpc":
		if _, err := c.rpcNetwork(); err != nil {
			return err
		}
		u, err := url.Parse(c.RPC.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cli.Usagef("--rpc-url %q: want http://host:port", c.RPC.URL)
		}
		if c.RPC.Kind != "" && c.RPC.Kind != "btcd" && c.RPC.Kind != "bitcoind" {
			return cli.Usagef("--rpc-kind must be btcd or bitcoind, not %q", c.RPC.Kind)
		}
		if err := c.validateRPC(); err != nil {
			return err
		}
		if c.PayoutAddress == "" {
			return cli.Usagef("--payout-address is required with --chain rpc")
		}
	default:
		return cli.Usagef("--chain must be embedded or rpc, not %q", c.Chain)
	}
	if c.DataDir == "" {
		return cli.Usagef("--datadir is required")
	}
	if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
		return cli.Usagef("--http %q: want host:port (port 0 picks a free one)", c.HTTP)
	}
	if c.Stratum != "" {
		if _, _, err := net.SplitHostPort(c.Stratum); err != nil {
			return cli.Usagef("--stratum %q: want host:port (port 0 picks a free one)", c.Stratum)
		}
	}
	if err := validateBus(c.Bus, c.BusKeyFile); err != nil {
		return err
	}
	if err := validateStore(c.Store); err != nil {
		return err
	}
	if err := c.StratumTuning.validate(); err != nil {
		return err
	}
	if _, err := c.privateBits(); err != nil {
		return err
	}
	if err := c.Broker.WithDefaults(c.Net).Validate(); err != nil {
		return cli.Usagef("config: %v", err)
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		return cli.Usagef("--log-level must be debug, info, warn or error, not %q", c.LogLevel)
	}
	if c.LogFormat != "" && c.LogFormat != "text" && c.LogFormat != "json" {
		return cli.Usagef("--log-format must be text or json, not %q", c.LogFormat)
	}
	if c.PoolThreads < 0 || c.PoolThreads > 1024 {
		return cli.Usagef("--pool-threads must be between 0 and 1024")
	}
	if c.PoolThreads > 0 && c.Chain == "rpc" {
		return cli.Usagef("--pool-threads works on the embedded chain only (a node's network has its own miners)")
	}
	return nil
}

func (c *daemonConfig) privateBits() (uint32, error) {
	if c.PrivateBits == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(c.PrivateBits, "0x"), 16, 32)
	if err != nil {
		return 0, cli.Usagef("--private-bits %q: want compact bits in hex such as 1d3fffff", c.PrivateBits)
	}
	return uint32(v), nil
}

func newLogger(level, format string, w *os.File) *slog.Logger {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	opt := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opt))
	}
	return slog.New(slog.NewTextHandler(w, opt))
}

// daemon is a running broker with its chain, store and HTTP listener.
type daemon struct {
	backend chain.Backend
	chain   *embedded.Chain // nil with a node over RPC
	node    *rpcnode.Node
	store   brokerStore
	leader  *pgstore.Leader // the PostgreSQL leader lock; nil with SQLite
	bus     *bus.Conn       // nil without --bus
	busNode *busnode.Node
	broker  *broker.Broker
	server  *api.Server
	ln      net.Listener
	stratum *stratum.Server // nil without --stratum
	sln     net.Listener
	log     *slog.Logger
	metrics *metrics.Metrics
	dirLock *os.File    // held while the daemon runs on the datadir
	pool    *poolWorker // nil without --pool-threads
}

// openDaemon opens the embedded chain, the store and the broker, and binds the HTTP
// port. The broker has its first job when it returns.
func openDaemon(ctx context.Context, cfg daemonConfig, log *slog.Logger) (*daemon, error) {
	d := &daemon{log: log, metrics: metrics.New()}
	if err := d.open(ctx, cfg); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *daemon) open(ctx context.Context, cfg daemonConfig) (err error) {
	bits, err := cfg.privateBits()
	if err != nil {
		return err
	}
	// The listeners first, then the datadir: a busy port fails in a moment and
	// creates nothing.
	if err := d.listen(cfg); err != nil {
		return err
	}
	if d.dirLock, err = lockDataDir(cfg.DataDir); err != nil {
		return err
	}
	params, defaultPayout, err := d.openChain(ctx, cfg, bits)
	if err != nil {
		return err
	}
	if err := d.openBroker(ctx, cfg, params, defaultPayout); err != nil {
		return err
	}
	return d.openBus(ctx, cfg)
}

// listen binds the HTTP and Stratum listeners.
func (d *daemon) listen(cfg daemonConfig) (err error) {
	if d.ln, err = listenFlag("--http", cfg.HTTP); err != nil {
		return err
	}
	if cfg.Stratum != "" {
		if d.sln, err = listenFlag("--stratum", cfg.Stratum); err != nil {
			return err
		}
	}
	return nil
}

// listenFlag binds addr, saying in one line what is wrong when it cannot.
func listenFlag(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case err == nil:
		return ln, nil
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("%s %s: the address is already in use (another powbroker or another program listens there; choose another with %s)", flag, addr, flag)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("%s %s: permission denied (ports below 1024 need privileges)", flag, addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return nil, fmt.Errorf("%s %s: no interface of this host has that address", flag, addr)
	}
	return nil, fmt.Errorf("%s %s: %w", flag, addr, err)
}

// openChain opens the embedded chain or connects to the node.
func (d *daemon) openChain(ctx context.Context, cfg daemonConfig, bits uint32) (*chaincfg.Params, btcutil.Address, error) {
	var err error
	if cfg.Chain == "rpc" {
		network, err := cfg.rpcNetwork()
		if err != nil {
			return nil, nil, err
		}
		user, pass, cookie, err := cfg.rpcCredentials(os.Getenv)
		if err != nil {
			return nil, nil, err
		}
		signetKey, err := cfg.signetKey(network)
		if err != nil {
			return nil, nil, err
		}
		d.node, err = rpcnode.New(ctx, rpcnode.Config{URL: cfg.RPC.URL, User: user, Pass: pass, Cookie: cookie,
			Kind: cfg.RPC.Kind, NetName: network.Name, SignetChallenge: network.Challenge, SignetKey: signetKey, ZMQ: cfg.RPC.ZMQ,
			Logger: d.log, ObserveRPC: d.metrics.ObserveRPC})
		if err != nil {
			return nil, nil, fmt.Errorf("node at %s: %w", cfg.RPC.URL, err)
		}
		d.backend = d.node
		return d.node.Params(), nil, nil
	}
	d.chain, err = embedded.Open(ctx, embedded.Config{DataDir: cfg.DataDir, Net: cfg.Net, PrivateBits: bits, Logger: d.log})
	if err != nil {
		return nil, nil, fmt.Errorf("embedded chain: %w", err)
	}
	d.backend = d.chain
	return d.chain.Params(), d.chain.FaucetAddress(), nil
}

// openBroker opens the store and the broker on the chain, and makes the HTTP and
// Stratum servers.
func (d *daemon) openBroker(ctx context.Context, cfg daemonConfig, params *chaincfg.Params, defaultPayout btcutil.Address) (err error) {
	log := d.log
	sub := cfg.storeSubdir()
	key, err := d.openStore(ctx, cfg, sub)
	if err != nil {
		return err
	}
	receiptKey, err := d.receiptKey(ctx, cfg, sub)
	if err != nil {
		return err
	}
	payout, err := payoutScript(cfg.PayoutAddress, params, defaultPayout)
	if err != nil {
		return err
	}
	d.broker, err = broker.New(broker.Options{
		Config: cfg.Broker, Net: cfg.Net, Backend: d.backend, Store: d.store,
		PayoutScript: payout, TokenKey: key, ReceiptKey: receiptKey, Logger: log.With("component", "broker"), ObserveShare: d.metrics.ObserveShare,
	})
	if err != nil {
		return cli.Usagef("%v", err)
	}
	if err := d.broker.Start(ctx); err != nil {
		return err
	}
	d.metrics.WatchBroker(d.broker)
	if cfg.Stratum != "" {
		t := cfg.StratumTuning
		start := t.StartDifficulty
		if start == 0 {
			start = d.broker.Config().ShareDifficulty
		}
		sc := t.serverConfig(start, log.With("component", "stratum"))
		sc.ObserveTipNotify = d.metrics.ObserveTipNotify
		d.stratum = stratum.NewServer(stratumpool.New(d.broker), sc)
		d.metrics.WatchStratum(d.stratum.Stats)
	}
	opt := api.ServerOptions{Logger: log.With("component", "api"), Metrics: d.metrics.Handler()}
	if d.stratum != nil {
		opt.Workers = d.stratum // the status page's workers
	}
	d.server = api.NewServer(d.broker, opt)
	if cfg.PoolThreads > 0 {
		d.pool = &poolWorker{b: d.broker, threads: cfg.PoolThreads, kernel: miner.Best(), log: log.With("component", "pool")}
	}
	return nil
}

// run serves until ctx ends.
func (d *daemon) run(ctx context.Context) error {
	errc := make(chan error, 6)
	n := 2
	go func() { errc <- d.broker.Run(ctx) }()
	go func() { errc <- api.Serve(ctx, d.ln, d.server, d.log) }()
	if d.stratum != nil {
		n++
		go func() { errc <- d.stratum.Serve(ctx, d.sln) }()
	}
	if d.leader != nil {
		n++
		go func() { errc <- d.holdLeader(ctx) }()
	}
	if d.pool != nil {
		n++
		go func() { errc <- d.pool.run(ctx) }()
	}
	if d.busNode != nil {
		n++
		go func() { errc <- d.busNode.Run(ctx) }()
	}
	err := <-errc
	if ctx.Err() == nil && err != nil {
		return err
	}
	for range n - 1 {
		<-errc
	}
	return nil
}

// stratumAddr is the Stratum listener's address, "" without --stratum.
func (d *daemon) stratumAddr() string {
	if d.sln == nil {
		return ""
	}
	return d.sln.Addr().String()
}

func (d *daemon) addr() string { return d.ln.Addr().String() }

func (d *daemon) close() {
	if d.bus != nil {
		d.bus.Close()
	}
	if d.ln != nil {
		_ = d.ln.Close()
	}
	if d.sln != nil {
		_ = d.sln.Close()
	}
	if d.store != nil {
		if err := d.store.Close(); err != nil {
			d.log.Error("close store", "err", err)
		}
	}
	if d.leader != nil {
		d.leader.Release()
	}
	if d.chain != nil {
		if err := d.chain.Close(); err != nil {
			d.log.Error("close chain", "err", err)
		}
	}
	if d.node != nil {
		_ = d.node.Close()
	}
	if d.dirLock != nil {
		_ = d.dirLock.Close()
	}
}

func payoutScript(addr string, params *chaincfg.Params, def btcutil.Address) ([]byte, error) {
	a := def
	if addr != "" {
		var err error
		a, err = btcutil.DecodeAddress(addr, params)
		if err != nil || !a.IsForNet(params) {
			return nil, cli.Usagef("--payout-address %q is not an address of the %s network", addr, params.Name)
		}
	}
	s, err := txscript.PayToAddrScript(a)
	if err != nil {
		return nil, fmt.Errorf("payout script: %w", err)
	}
	return s, nil
}

// tokenKey reads the secret that derives order tokens, creating it once.
func tokenKey(path string) ([]byte, error) { return secretKey(path, "token key") }

// secretKey reads a 32-byte secret kept in the datadir (the token key that derives order
// tokens, the receipt signing key), creating it once with mode 0600.
func secretKey(path, what string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("%s %s: want 32 bytes, found %d", what, path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return b, nil
}

var _ chain.Backend = (*embedded.Chain)(nil)

// logReady logs, at info, one line naming every listener and what serves there.
func (d *daemon) logReady(cfg daemonConfig) {
	chainDesc := "embedded"
	if cfg.Chain == "rpc" {
		chainDesc = cfg.RPC.Kind + " node"
		if u, err := url.Parse(cfg.RPC.URL); err == nil {
			chainDesc += " at " + u.Redacted()
		}
	}
	attrs := []any{"http", "http://" + d.addr(), "metrics", "http://" + d.addr() + "/metrics"}
	if a := d.stratumAddr(); a != "" {
		attrs = append(attrs, "stratum", "stratum+tcp://"+a)
	}
	attrs = append(attrs, "net", cfg.Net, "chain", chainDesc, "datadir", cfg.DataDir, "pool_threads", cfg.PoolThreads)
	d.log.Info("ready", attrs...)
}
