package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/store/storetest"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTest(t testing.TB, path string, opt Options) *Store {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = quietLogger()
	}
	s, err := Open(context.Background(), path, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB) *Store {
	return openTest(t, filepath.Join(t.TempDir(), "sub", "dir", "broker.db"), Options{})
}

var (
	hashOf     = storetest.HashOf
	testOrder  = storetest.TestOrder
	mustCreate = func(t testing.TB, s *Store, o *broker.Order) *broker.Order { return storetest.MustCreate(t, s, o) }
)

// record records one share through RecordShares.
func record(ctx context.Context, s *Store, sh *broker.Share) (broker.Recorded, error) {
	return storetest.Record(ctx, s, sh)
}

// TestConformance runs the broker.Store suite on SQLite files.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func(t *testing.T) storetest.Store {
		path := filepath.Join(t.TempDir(), "sub", "dir", "broker.db")
		return func(t *testing.T) storetest.Store {
			t.Helper()
			s, err := Open(context.Background(), path, Options{Logger: quietLogger()})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		}
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	v2 := fstest.MapFS{}
	emb, err := loadMigrations(embeddedMigrations)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range emb {
		v2["migrations/"+m.name] = &fstest.MapFile{Data: []byte(m.sql)}
	}
	next := len(emb) + 1
	v2[fmt.Sprintf("migrations/%04d_extra.sql", next)] = &fstest.MapFile{
		Data: []byte(`CREATE TABLE extra (x INTEGER); INSERT INTO extra VALUES (42);`)}
	gapped := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte(`CREATE TABLE a (x);`)},
		"migrations/0003_c.sql": {Data: []byte(`CREATE TABLE c (x);`)},
	}

	tests := []struct {
		name string
		run  func(t *testing.T, path string)
	}{
		{"fresh file gets the latest version", func(t *testing.T, path string) {
			s := openTest(t, path, Options{})
			v, err := s.SchemaVersion(ctx)
			if err != nil || v != len(emb) {
				t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(emb))
			}
			for _, table := range []string{"orders", "order_events", "assignments", "shares", "blocks", "meta", "counters"} {
				var n int
				if err := s.rdb.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?`, table).Scan(&n); err != nil || n != 1 {
					t.Errorf("table %s: count %d, %v", table, n, err)
				}
			}
			var mode string
			if err := s.rdb.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode = %q, %v", mode, err)
			}
			for pragma, want := range map[string]int{"synchronous": 2, "foreign_keys": 1, "wal_autocheckpoint": 10000} {
				var got int
				if err := s.wdb.QueryRow(`PRAGMA ` + pragma).Scan(&got); err != nil || got != want {
					t.Errorf("writer PRAGMA %s = %d, %v; want %d", pragma, got, err, want)
				}
			}
			if _, err := s.rdb.Exec(`INSERT INTO meta(key, value) VALUES('x', 'y')`); err == nil {
				t.Error("a reader connection could write")
			}
		}},
		{"reopen is idempotent and keeps data", func(t *testing.T, path string) {
			s := openTest(t, path, Options{})
			mustCreate(t, s, testOrder("o1", 5))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				s2 := openTest(t, path, Options{})
				if v, err := s2.SchemaVersion(ctx); err != nil || v != len(emb) {
					t.Fatalf("reopen %d: version %d, %v", i, v, err)
				}
				if _, err := s2.Order(ctx, "o1"); err != nil {
					t.Fatalf("reopen %d: %v", i, err)
				}
				if err := s2.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"a newer migration is applied on reopen", func(t *testing.T, path string) {
			s := openTest(t, path, Options{})
			mustCreate(t, s, testOrder("o1", 5))
			s.Close()
			s2, err := open(ctx, path, Options{Logger: quietLogger()}, v2, defaultSynchronous)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if v, err := s2.SchemaVersion(ctx); err != nil || v != next {
				t.Fatalf("version %d, %v; want %d", v, err, next)
			}
			var x int
			if err := s2.rdb.QueryRow(`SELECT x FROM extra`).Scan(&x); err != nil || x != 42 {
				t.Fatalf("extra = %d, %v", x, err)
			}
			if _, err := s2.Order(ctx, "o1"); err != nil {
				t.Fatal(err)
			}
		}},
		{"a database newer than the code is refused", func(t *testing.T, path string) {
			s, err := open(ctx, path, Options{Logger: quietLogger()}, v2, defaultSynchronous)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			_, err = Open(ctx, path, Options{Logger: quietLogger()})
			if err == nil {
				t.Fatal("Open of a newer database succeeded")
			}
			want := fmt.Sprintf("schema version %d is newer than this program supports (%d)", next, len(emb))
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not contain %q", err, want)
			}
		}},
		{"gapped migrations are an error", func(t *testing.T, path string) {
			_, err := open(ctx, path, Options{Logger: quietLogger()}, gapped, defaultSynchronous)
			if err == nil || !strings.Contains(err.Error(), "expected version 2") {
				t.Fatalf("err = %v", err)
			}
		}},
		{"path with a query character is refused", func(t *testing.T, path string) {
			if _, err := Open(ctx, path+"?x=1", Options{}); err == nil {
				t.Fatal("no error")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, filepath.Join(t.TempDir(), "db", "broker.db"))
		})
	}
}

// TestShareGroup checks that one group mixes outcomes: an unknown order fails only its own
// share, while a failing commit fails every share of the group.
func TestShareGroup(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		orders   []string // order of each share in the group
		inject   bool     // make the group's transaction fail
		wantErrs []bool
	}{
		{"unknown order fails alone", []string{"a", "nope", "a", "b"}, false, []bool{false, true, false, false}},
		{"failed commit fails everyone", []string{"a", "b", "a", "b"}, true, []bool{true, true, true, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, filepath.Join(t.TempDir(), "g.db"), Options{
				GroupDelay: time.Minute, GroupMax: len(tc.orders)})
			mustCreate(t, s, testOrder("a", 100))
			mustCreate(t, s, testOrder("b", 100))
			if tc.inject {
				// Fault injection: the last share's insert aborts the whole transaction.
				if _, err := s.wdb.Exec(`CREATE TRIGGER boom BEFORE INSERT ON shares WHEN NEW.worker = 'boom'
					BEGIN SELECT RAISE(ABORT, 'injected fault'); END`); err != nil {
					t.Fatal(err)
				}
			}
			errs := make([]error, len(tc.orders))
			var wg sync.WaitGroup
			for i, id := range tc.orders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sh := &broker.Share{HeaderHash: hashOf(tc.name, i), OrderID: id, Difficulty: 1}
					if tc.inject && i == len(tc.orders)-1 {
						sh.Worker = "boom"
					}
					_, errs[i] = record(ctx, s, sh)
				}()
			}
			wg.Wait()
			if st := s.Stats(); st.MaxGroup != uint64(len(tc.orders)) && st.Failed != uint64(len(tc.orders)) {
				t.Fatalf("shares were not one group: %+v", st)
			}
			var credited int64
			for i, err := range errs {
				if (err != nil) != tc.wantErrs[i] {
					t.Errorf("share %d (%s): err = %v, want error %v", i, tc.orders[i], err, tc.wantErrs[i])
				}
				_, gerr := s.Share(ctx, hashOf(tc.name, i))
				if stored := gerr == nil; stored == (err != nil) {
					t.Errorf("share %d: stored=%v but err=%v", i, stored, err)
				}
				if err == nil {
					credited++
				}
			}
			if tc.orders[1] == "nope" && !errors.Is(errs[1], broker.ErrNotFound) {
				t.Errorf("unknown order error %v does not wrap broker.ErrNotFound", errs[1])
			}
			if n, _ := s.ShareStats(ctx); n != credited {
				t.Fatalf("ShareStats = %d, want %d", n, credited)
			}
		})
	}
}

func TestPaidExactlyOnceConcurrent(t *testing.T) {
	for _, opt := range []Options{
		{},               // defaults: 2 ms window, 2000 shares
		{GroupDelay: -1}, // no wait
		{GroupMax: 1},    // one share per commit
		{GroupMax: 7, GroupDelay: 50 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("delay=%v/max=%d", opt.GroupDelay, opt.GroupMax), func(t *testing.T) {
			s := openTest(t, filepath.Join(t.TempDir(), "p.db"), opt)
			storetest.PaidExactlyOnce(t, s)
			if st := s.Stats(); opt.GroupMax != 1 && st.Groups >= st.Shares {
				t.Fatalf("one group per share: %+v", st)
			}
		})
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	// A group window far longer than the test: only Close can end the group.
	s := openTest(t, path, Options{GroupDelay: time.Hour})
	mustCreate(t, s, testOrder("a", 100))
	const n = 20
	wait := storetest.SendShares(ctx, s, "a", "c", n)
	for s.shares.q.Sent() < n {
		time.Sleep(time.Millisecond)
	}
	// Shares queued when Close starts are committed and answered.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i, err := range wait() {
		if err != nil {
			t.Errorf("queued share %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := record(ctx, s, &broker.Share{HeaderHash: hashOf("late"), OrderID: "a", Difficulty: 1}); !errors.Is(err, broker.ErrStoreClosed) {
		t.Fatalf("RecordShare after Close: %v", err)
	}
	s2 := openTest(t, path, Options{})
	o, err := s2.Order(ctx, "a")
	if err != nil || o.Shares != n || o.CreditedWork != n {
		t.Fatalf("after reopen: %+v, %v; want %d shares", o, err, n)
	}
}

func TestMeta(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s := openTest(t, path, Options{})
	if _, ok, err := s.Meta(ctx, "faucet"); ok || err != nil {
		t.Fatalf("unset meta: %v, %v", ok, err)
	}
	for _, v := range []string{"one", "two"} {
		if err := s.SetMeta(ctx, "faucet", v); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := s.Meta(ctx, "faucet"); got != v || !ok || err != nil {
			t.Fatalf("Meta = %q, %v, %v", got, ok, err)
		}
	}
	if err := s.SetMeta(ctx, "schema_version", "99"); err == nil {
		t.Fatal("schema_version was writable")
	}
	s.Close()
	s2 := openTest(t, path, Options{})
	if got, _, _ := s2.Meta(ctx, "faucet"); got != "two" {
		t.Fatalf("meta after reopen %q", got)
	}
}

// TestTokenIndex checks that the token lookup uses an index, not a table scan.
func TestTokenIndex(t *testing.T) {
	s := newStore(t)
	var plan string
	rows, err := s.rdb.Query(`EXPLAIN QUERY PLAN SELECT id FROM orders WHERE token_hash = ?`, []byte{1})
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan += detail + ";"
	}
	rows.Close()
	if !strings.Contains(plan, "orders_token_hash") {
		t.Fatalf("query plan %q does not use orders_token_hash", plan)
	}
}

// TestRecordSharesOneGroup checks that the shares of one call are queued before any
// wait, so that they go into one group commit.
func TestRecordSharesOneGroup(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "b.db"), Options{GroupDelay: time.Hour, GroupMax: 6})
	mustCreate(t, s, testOrder("a", 3))
	shares := []*broker.Share{
		{HeaderHash: hashOf(1), OrderID: "a", Difficulty: 1},
		{HeaderHash: hashOf(2), OrderID: "a", Difficulty: 1},
		{HeaderHash: hashOf(1), OrderID: "a", Difficulty: 1}, // duplicate within the batch
		{HeaderHash: hashOf(3), OrderID: "nope", Difficulty: 1},
		{HeaderHash: hashOf(4), OrderID: "a", Difficulty: -1},
		{HeaderHash: hashOf(5), OrderID: "a", Difficulty: 1},
		{HeaderHash: hashOf(6), OrderID: "a", Difficulty: 1},
	}
	_, errs := s.RecordShares(ctx, shares)
	for i, err := range errs {
		if (err != nil) != (i == 3 || i == 4) {
			t.Errorf("share %d: %v", i, err)
		}
	}
	// All valid shares were queued before any wait, so they went into one group.
	if st := s.Stats(); st.Groups != 1 || st.MaxGroup != 6 {
		t.Errorf("stats %+v, want one group of 6", st)
	}
}

func TestLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	s := openTest(t, path, Options{})
	if _, err := Open(ctx, path, Options{Logger: quietLogger()}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open while the first is open: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, path, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}
