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
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/embedded"
	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/proofow/powbroker/store"
)

// daemonConfig is everything serve needs; the config file has the same fields.
type daemonConfig struct {
	DataDir       string        `json:"datadir"`
	Net           string        `json:"net"`
	HTTP          string        `json:"http"`
	PrivateBits   string        `json:"private_bits,omitempty"` // compact hex, e.g. 1d3fffff
	PayoutAddress string        `json:"payout_address,omitempty"`
	LogLevel      string        `json:"log_level,omitempty"`
	Broker        broker.Config `json:"broker"`
}

// loadConfigFile reads a JSON config strictly: unknown fields are errors.
func loadConfigFile(path string, into *daemonConfig) error {
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
	if c.Net != "regtest" && c.Net != "private" {
		return cli.Usagef("--net must be regtest or private, not %q", c.Net)
	}
	if c.DataDir == "" {
		return cli.Usagef("--datadir is required")
	}
	if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
		return cli.Usagef("--http %q: want host:port (port 0 picks a free one)", c.HTTP)
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
		return cli.Usagef("--log-level must be debug, info, warn or error")
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

func newLogger(level string, w *os.File) *slog.Logger {
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
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// daemon is a running broker with its chain, store and HTTP listener.
type daemon struct {
	chain  *embedded.Chain
	store  *store.Store
	broker *broker.Broker
	server *api.Server
	ln     net.Listener
	log    *slog.Logger
}

// openDaemon opens the embedded chain, the store and the broker, and binds the HTTP
// port. The broker has its first job when it returns.
func openDaemon(ctx context.Context, cfg daemonConfig, log *slog.Logger) (*daemon, error) {
	d := &daemon{log: log}
	if err := d.open(ctx, cfg); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *daemon) open(ctx context.Context, cfg daemonConfig) (err error) {
	log := d.log
	bits, err := cfg.privateBits()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	d.chain, err = embedded.Open(ctx, embedded.Config{DataDir: cfg.DataDir, Net: cfg.Net, PrivateBits: bits, Logger: log.With("component", "chain")})
	if err != nil {
		return fmt.Errorf("embedded chain: %w", err)
	}
	d.store, err = store.Open(ctx, filepath.Join(cfg.DataDir, cfg.Net, "powbroker.sqlite"), store.Options{Logger: log.With("component", "store")})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	payout, err := payoutScript(cfg.PayoutAddress, d.chain)
	if err != nil {
		return err
	}
	key, err := tokenKey(filepath.Join(cfg.DataDir, cfg.Net, "token.key"))
	if err != nil {
		return err
	}
	d.broker, err = broker.New(broker.Options{
		Config: cfg.Broker, Net: cfg.Net, Backend: d.chain, Store: d.store,
		PayoutScript: payout, TokenKey: key, Logger: log.With("component", "broker"),
	})
	if err != nil {
		return cli.Usagef("%v", err)
	}
	if err := d.broker.Start(ctx); err != nil {
		return err
	}
	d.server = api.NewServer(d.broker, api.ServerOptions{Logger: log.With("component", "api")})
	d.ln, err = net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP, err)
	}
	return nil
}

// run serves until ctx ends.
func (d *daemon) run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- d.broker.Run(ctx) }()
	go func() { errc <- api.Serve(ctx, d.ln, d.server, d.log) }()
	err := <-errc
	if ctx.Err() == nil && err != nil {
		return err
	}
	<-errc
	return nil
}

func (d *daemon) addr() string { return d.ln.Addr().String() }

func (d *daemon) close() {
	if d.ln != nil {
		_ = d.ln.Close()
	}
	if d.store != nil {
		if err := d.store.Close(); err != nil {
			d.log.Error("close store", "err", err)
		}
	}
	if d.chain != nil {
		if err := d.chain.Close(); err != nil {
			d.log.Error("close chain", "err", err)
		}
	}
}

func payoutScript(addr string, c *embedded.Chain) ([]byte, error) {
	a := c.FaucetAddress()
	if addr != "" {
		var err error
		a, err = btcutil.DecodeAddress(addr, c.Params())
		if err != nil || !a.IsForNet(c.Params()) {
			return nil, cli.Usagef("--payout-address %q is not an address of the %s network", addr, c.Params().Name)
		}
	}
	s, err := txscript.PayToAddrScript(a)
	if err != nil {
		return nil, fmt.Errorf("payout script: %w", err)
	}
	return s, nil
}

// tokenKey reads the secret that derives order tokens, creating it once.
func tokenKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("token key %s: want 32 bytes, found %d", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("token key: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	return b, nil
}

var _ chain.Backend = (*embedded.Chain)(nil)
