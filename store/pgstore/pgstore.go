package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/store"
	"github.com/proofow/powbroker/store/sharegroup"
)

//go:embed migrations/*.sql
var embeddedMigrations embed.FS

// Options tunes a Store. The zero value is usable.
type Options struct {
	GroupDelay time.Duration // max wait to fill a share group (default store.DefaultGroupDelay; negative: no wait)
	GroupMax   int           // max shares per group commit (default store.DefaultGroupMax)
	MaxConns   int32         // connection pool size (default 8)
	Logger     *slog.Logger  // default slog.Default()
	// ObserveCommit, when set, sees every committed share group: its size and duration.
	ObserveCommit func(shares int, d time.Duration)
}

// Store is the PostgreSQL persistence of the broker. All methods are safe for
// concurrent use.
type Store struct {
	url    string // without password, for messages
	log    *slog.Logger
	opt    Options
	pool   *pgxpool.Pool
	shares *sharegroup.Queue

	closeOnce sync.Once
	closeErr  error
}

// migrationLock is the advisory lock key that serializes migrations ("powbmigr").
const migrationLock = 0x706f77626d696772

const metaSchemaVersion = "schema_version"

// IsURL tells whether s names a PostgreSQL database (postgres:// or postgresql://).
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url (postgres://user:pass@host:port/db?...), applies
// the embedded migrations and starts the share writer.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	return open(ctx, url, opt, embeddedMigrations)
}

func open(ctx context.Context, url string, opt Options, migrations fs.FS) (*Store, error) {
	if opt.GroupDelay == 0 {
		opt.GroupDelay = store.DefaultGroupDelay
	}
	if opt.GroupMax <= 0 {
		opt.GroupMax = store.DefaultGroupMax
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 8
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: bad database URL: %w", err)
	}
	cfg.MaxConns = opt.MaxConns
	shown := fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", shown, err)
	}
	s := &Store{url: shown, log: opt.Logger, opt: opt, pool: pool}
	if err := s.checkServer(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := migrate(ctx, pool, migrations, opt.Logger); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %s: %w", shown, err)
	}
	s.shares = sharegroup.New("pgstore", opt.GroupDelay, opt.GroupMax, s.commit, opt.ObserveCommit)
	return s, nil
}

// checkServer reaches the server and refuses settings under which a commit is not
// durable when it returns.
func (s *Store) checkServer(ctx context.Context) error {
	var sync, fsync string
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('synchronous_commit'), current_setting('fsync')`).Scan(&sync, &fsync); err != nil {
		return fmt.Errorf("pgstore: %s: %w", s.url, err)
	}
	if sync == "off" {
		return fmt.Errorf("pgstore: %s: synchronous_commit is %s: a committed share could be lost; set it to on", s.url, sync)
	}
	if fsync == "off" {
		s.log.Warn("pgstore: the server runs with fsync=off: commits do not survive a power loss", "db", s.url)
	}
	return nil
}

// Path names the database (its URL without the password).
func (s *Store) Path() string { return s.url }

// Pool is the connection pool, for the standby lock and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops accepting shares, commits the ones already queued (their callers get their
// results), and closes the pool. Calling it again returns the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.shares.Stop()
		s.pool.Close()
	})
	return s.closeErr
}

// SchemaVersion is the schema version of the open database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, _, err := s.Meta(ctx, metaSchemaVersion)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("pgstore: bad schema_version %q: %w", v, err)
	}
	return n, nil
}

// migrate brings the schema to the newest embedded version, one transaction per
// migration, all under an advisory lock, and refuses a newer database.
func migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, log *slog.Logger) error {
	ms, err := store.LoadMigrations(fsys)
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create meta table: %w", err)
	}
	current := 0
	var v string
	switch err := conn.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, metaSchemaVersion).Scan(&v); {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read schema version: %w", err)
	default:
		current, err = strconv.Atoi(v)
		if err != nil || current < 0 {
			return fmt.Errorf("bad schema version %q in meta table", v)
		}
	}
	if current > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this program supports (%d): "+
			"refusing to open it; use a newer powbroker", current, len(ms))
	}
	for _, m := range ms[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO meta(key, value) VALUES($1, $2)
				ON CONFLICT(key) DO UPDATE SET value = excluded.value`, metaSchemaVersion, strconv.Itoa(m.Version))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		log.Info("pgstore: applied migration", "version", m.Version, "name", m.Name)
	}
	return nil
}

func toNanos(t time.Time) int64 { return store.Nanos(t) }

func fromNanos(n int64) time.Time { return store.FromNanos(n) }

var _ broker.Store = (*Store)(nil)
