package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

var pg Shared

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

// TestDatabasePerTest checks that each test gets its own empty database on the shared
// server, that it is writable, and that the server runs as a non-root user.
func TestDatabasePerTest(t *testing.T) {
	ctx := context.Background()
	a, b := pg.DB(t), pg.DB(t)
	if a == b {
		t.Fatalf("two databases with one URL %s", a)
	}
	for _, url := range []string{a, b} {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%s: %d tables in a new database", url, n)
		}
		if _, err := conn.Exec(ctx, `CREATE TABLE x (v int)`); err != nil {
			t.Fatal(err)
		}
		var version string
		if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&version); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: PostgreSQL %s", url, version)
	}
}

// TestStopRemovesEverything starts a second server, stops it and checks that its port
// and directory are gone.
func TestStopRemovesEverything(t *testing.T) {
	if _, err := BinDir(); err != nil && !CI() {
		t.Skipf("skipping %s: it needs PostgreSQL (%v)", t.Name(), err)
	}
	ctx := context.Background()
	s, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	url := s.URL("postgres")
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Fatalf("directory %s still there: %v", s.dir, err)
	}
	if conn, err := pgx.Connect(ctx, url); err == nil {
		conn.Close(ctx)
		t.Fatalf("server still answers at %s after Stop", url)
	}
}
