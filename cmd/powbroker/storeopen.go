package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/proofow/powbroker/store"
	"github.com/proofow/powbroker/store/pgstore"
)

// brokerStore is a store the daemon can run the broker on and close.
type brokerStore interface {
	broker.Store
	Close() error
}

// validateStore checks the store setting: empty or "sqlite" (the SQLite file in the
// datadir, the default) or a postgres:// URL.
func validateStore(s string) error {
	if s == "" || s == "sqlite" || pgstore.IsURL(s) {
		return nil
	}
	return cli.Usagef("--store %q: want sqlite (the default) or postgres://user:pass@host:port/db", s)
}

// openStore opens the configured store. With PostgreSQL it first waits for the leader
// lock (a standby broker waits here until the active one is gone), and keeps the order
// token key in the database so that every broker of it issues the same tokens.
func (d *daemon) openStore(ctx context.Context, cfg daemonConfig, sub string) (key []byte, err error) {
	log := d.log
	keyPath := filepath.Join(cfg.DataDir, sub, "token.key")
	if !pgstore.IsURL(cfg.Store) {
		s, err := store.Open(ctx, filepath.Join(cfg.DataDir, sub, "powbroker.sqlite"), store.Options{Logger: log.With("component", "store"), ObserveCommit: d.metrics.ObserveCommit})
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		d.store = s
		return tokenKey(keyPath)
	}
	d.leader, err = pgstore.AcquireLeader(ctx, cfg.Store, log, func() {
		log.Info("standby: another broker holds the database's leader lock; waiting to take over")
	})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	log.Info("holding the database's leader lock: this broker is active")
	pg, err := pgstore.Open(ctx, cfg.Store, pgstore.Options{Logger: log.With("component", "store"), ObserveCommit: d.metrics.ObserveCommit})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	d.store = pg
	return sharedTokenKey(ctx, pg, keyPath, log)
}

// sharedTokenKey reads the token key from the database, storing the datadir's key there
// on first use.
func sharedTokenKey(ctx context.Context, pg *pgstore.Store, path string, log *slog.Logger) ([]byte, error) {
	return sharedKey(ctx, pg, "token_key", path, "token key", log)
}

// sharedKey reads a 32-byte secret from the database's meta key name, storing the
// datadir's secret (path) there on first use, so that every broker of the database
// (standbys too) uses the same one.
func sharedKey(ctx context.Context, pg *pgstore.Store, name, path, what string, log *slog.Logger) ([]byte, error) {
	v, ok, err := pg.Meta(ctx, name)
	if err != nil {
		return nil, err
	}
	if ok {
		key, err := hex.DecodeString(strings.TrimSpace(v))
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("store: %s in the database is not 32 bytes of hex", name)
		}
		return key, nil
	}
	key, err := secretKey(path, what)
	if err != nil {
		return nil, err
	}
	if err := pg.SetMeta(ctx, name, hex.EncodeToString(key)); err != nil {
		return nil, err
	}
	log.Info("stored the " + what + " in the database (shared by standby brokers)")
	return key, nil
}

// receiptKey reads the key that signs work receipts: the datadir's receipt.key (0600),
// or with PostgreSQL the database's, shared by standby brokers like the token key.
func (d *daemon) receiptKey(ctx context.Context, cfg daemonConfig, sub string) ([]byte, error) {
	path := filepath.Join(cfg.DataDir, sub, "receipt.key")
	if pg, ok := d.store.(*pgstore.Store); ok {
		return sharedKey(ctx, pg, "receipt_key", path, "receipt key", d.log)
	}
	return secretKey(path, "receipt key")
}

// holdLeader returns an error when the leader lock's connection fails: another broker
// may take over, so this one must stop at once.
func (d *daemon) holdLeader(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-d.leader.Lost():
		return fmt.Errorf("lost the database's leader lock: stopping so that a standby can take over")
	}
}
