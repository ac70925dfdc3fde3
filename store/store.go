package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
	"github.com/proofow/powbroker/broker"
)

//go:embed migrations/*.sql
var embeddedMigrations embed.FS

// Default group-commit limits.
const (
	DefaultGroupDelay = 2 * time.Millisecond
	DefaultGroupMax   = 2000
)

// Options tunes a Store. The zero value is usable.
type Options struct {
	GroupDelay time.Duration // max wait to fill a share group (default 2ms; negative: no wait, commit what is queued)
	GroupMax   int           // max shares per group commit (default 2000)
	Logger     *slog.Logger  // default slog.Default()
	// ObserveCommit, when set, sees every share group commit: its size and duration.
	ObserveCommit func(shares int, d time.Duration)
	// BusyTimeout is how long a write waits for a database locked by another
	// connection before it fails with broker.ErrStorageFault (default 10 s).
	BusyTimeout time.Duration
}

// Store is the SQLite persistence of the broker. All methods are safe for concurrent use.
type Store struct {
	path string
	log  *slog.Logger
	opt  Options

	// wdb has exactly one connection: every write (shares and everything else) is
	// serialized on it, so writers never meet SQLITE_BUSY among themselves.
	wdb *sql.DB
	// rdb is a pool of read-only connections; in WAL mode they read concurrently with the
	// writer and see every committed transaction.
	rdb *sql.DB

	shares *shareWriter
	lock   *os.File // exclusive advisory lock on path+".lock", held until Close

	closeOnce sync.Once
	closeErr  error
}

// The SQLite store is a broker.Store.
var _ broker.Store = (*Store)(nil)

// Durability choice: journal_mode=WAL with synchronous=FULL.
//
// The requirement is that kill -9 at any moment loses no acknowledged share and leaves no
// order half-updated. In WAL mode synchronous=NORMAL already meets it: a commit has
// written its frames into the WAL file (the OS page cache) before COMMIT returns, and a
// killed process does not lose the page cache; atomicity comes from the WAL commit frame.
// NORMAL only risks the last commits on power loss or an OS crash. We nevertheless use FULL,
// which fsyncs the WAL at every commit, so an acknowledged share also survives power loss:
// shares are committed in groups (one fsync per group of up to GroupMax shares), which
// makes the fsync cheap per share, and the other writes (orders, transitions) are rare.
// BenchmarkRecordShare measures both settings: with 1,000 concurrent callers they are
// within the noise of each other (about 40-65k shares/s on the 2-core test machine),
// because the cost is writing the pages the random header-hash index dirties, not the
// fsync.
const defaultSynchronous = "FULL"

// Open opens (creating if needed, with its directories) the database at path, applies the
// embedded migrations and starts the share writer.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	return open(ctx, path, opt, embeddedMigrations, defaultSynchronous)
}

func open(ctx context.Context, path string, opt Options, migrations fs.FS, synchronous string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty database path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: database path %q must not contain '?' or '#'", path)
	}
	if opt.GroupDelay == 0 {
		opt.GroupDelay = DefaultGroupDelay
	}
	if opt.GroupMax <= 0 {
		opt.GroupMax = DefaultGroupMax
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
		}
	}

	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()

	busy := opt.BusyTimeout
	if busy <= 0 {
		busy = 10 * time.Second
	}
	common := "_journal_mode=WAL&_busy_timeout=" + strconv.FormatInt(busy.Milliseconds(), 10) + "&_foreign_keys=on"
	wdb, err := openWriter(ctx, path, common, synchronous, migrations, opt.Logger)
	if err != nil {
		return nil, err
	}
	s := &Store{path: path, log: opt.Logger, opt: opt, wdb: wdb}

	rdb, err := sql.Open("sqlite3", path+"?"+common+"&_query_only=1")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open readers for %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(4)
	rdb.SetMaxIdleConns(4)
	s.rdb = rdb

	sw, err := newShareWriter(s)
	if err != nil {
		rdb.Close()
		wdb.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	s.shares = sw
	s.lock = lock
	ok = true
	sw.start()
	return s, nil
}

// openWriter opens the one write connection: the file in WAL mode with synchronous
// set as asked, its checkpoint settings, and the schema migrated, before any reader
// exists.
func openWriter(ctx context.Context, path, common, synchronous string, migrations fs.FS, log *slog.Logger) (*sql.DB, error) {
	wdb, err := sql.Open("sqlite3", path+"?"+common+"&_synchronous="+synchronous+
		"&_txlock=immediate&_cache_size=-65536")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)

	if err := wdb.PingContext(ctx); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	var mode string
	if err := wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: read journal mode of %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		wdb.Close()
		return nil, fmt.Errorf("store: %s: journal mode is %q, want wal", path, mode)
	}
	// Checkpoint every ~40 MB of WAL instead of SQLite's default ~4 MB: a share group of a
	// thousand shares dirties about a thousand pages of the (random) header-hash index, so
	// the default would checkpoint (copy back and fsync the database file) after nearly
	// every group; the larger interval copies pages rewritten by several groups only once.
	// journal_size_limit truncates the WAL file back after a checkpoint. Both are
	// per-connection settings, and only this connection writes.
	for _, p := range []string{"PRAGMA wal_autocheckpoint = 10000", "PRAGMA journal_size_limit = 67108864"} {
		if _, err := wdb.ExecContext(ctx, p); err != nil {
			wdb.Close()
			return nil, fmt.Errorf("store: %s: %s: %w", path, p, err)
		}
	}
	if err := migrate(ctx, wdb, migrations, log); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}

	return wdb, nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close stops accepting shares, commits the ones already queued (their callers get their
// results), and closes the database. Calling it again returns the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.shares.stop()
		var errs []error
		if err := s.shares.closeStmts(); err != nil {
			errs = append(errs, err)
		}
		if err := s.rdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: close readers: %w", err))
		}
		if err := s.wdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: close writer: %w", err))
		}
		if err := s.lock.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: release lock: %w", err))
		}
		s.closeErr = errors.Join(errs...)
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
		return 0, fmt.Errorf("store: bad schema_version %q: %w", v, err)
	}
	return n, nil
}

const metaSchemaVersion = "schema_version"

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads NNNN_name.sql files from the migrations directory of fsys, sorted by
// version; versions must be 1, 2, 3... without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: bad version number %q", name, num)
		}
		body, err := fs.ReadFile(fsys, "migrations/"+name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations: expected version %d, found %s", i+1, m.name)
		}
	}
	return ms, nil
}

// migrate brings the schema to the newest embedded version, one transaction per migration,
// and refuses a database whose version is newer than the code knows.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, log *slog.Logger) error {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	latest := len(ms)
	if _, err := db.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create meta table: %w", err)
	}
	current := 0
	var v string
	switch err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, metaSchemaVersion).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read schema version: %w", err)
	default:
		current, err = strconv.Atoi(v)
		if err != nil || current < 0 {
			return fmt.Errorf("bad schema version %q in meta table", v)
		}
	}
	if current > latest {
		return fmt.Errorf("database schema version %d is newer than this program supports (%d): "+
			"refusing to open it; use a newer powbroker", current, latest)
	}
	for _, m := range ms[current:] {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		// Re-check inside the write transaction, in case another process migrated meanwhile.
		var now string
		err = tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, metaSchemaVersion).Scan(&now)
		if err == nil {
			if n, _ := strconv.Atoi(now); n >= m.version {
				tx.Rollback()
				continue
			}
		} else if !errors.Is(err, sql.ErrNoRows) {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
			metaSchemaVersion, strconv.Itoa(m.version)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: commit: %w", m.name, err)
		}
		log.Info("store: applied migration", "version", m.version, "name", m.name)
	}
	return nil
}

func toNanos(t time.Time) int64 { return Nanos(t) }

func fromNanos(n int64) time.Time { return FromNanos(n) }
