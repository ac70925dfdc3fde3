package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/store/storetest"
)

// faultCheck records shares while the storage fails and after it recovered: every
// share during the fault gets an error wrapping broker.ErrStorageFault and is not
// credited, reads keep working, and after recover() the same shares are recorded
// (they were never stored) and credited once.
func faultCheck(t *testing.T, s *Store, fault, recover func(), want string) {
	t.Helper()
	ctx := context.Background()
	storetest.MustCreate(t, s, storetest.TestOrder("o", 1e9))
	if _, err := record(ctx, s, &broker.Share{HeaderHash: hashOf("before"), OrderID: "o", Difficulty: 1}); err != nil {
		t.Fatal(err)
	}
	fault()
	acked, failed := 0, 0
	var batch []*broker.Share
	for i := range 400 {
		batch = append(batch, &broker.Share{HeaderHash: hashOf("during", i), OrderID: "o", Difficulty: 1, Worker: strings.Repeat("w", 200)})
	}
	for i := 0; i < len(batch); i += 50 {
		_, errs := s.RecordShares(ctx, batch[i:i+50])
		for _, err := range errs {
			switch {
			case err == nil:
				acked++
			case errors.Is(err, broker.ErrStorageFault) && strings.Contains(err.Error(), want):
				failed++
			default:
				t.Fatalf("share during the fault: %v (want a storage fault saying %q)", err, want)
			}
		}
	}
	t.Logf("during the fault: %d shares acknowledged, %d refused", acked, failed)
	if failed == 0 {
		t.Fatalf("no share failed during the fault (%d acknowledged)", acked)
	}
	o, err := s.Order(ctx, "o")
	if err != nil {
		t.Fatalf("reading during the fault: %v", err)
	}
	if o.Shares != int64(1+acked) {
		t.Fatalf("order has %d shares, %d were acknowledged", o.Shares, 1+acked)
	}
	recover()
	res, errs := s.RecordShares(ctx, batch)
	fresh := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("after recovery: %v", err)
		}
		if !res[i].Duplicate {
			fresh++
		}
	}
	if fresh != failed {
		t.Fatalf("after recovery %d shares were new, %d had failed", fresh, failed)
	}
	if o, _ := s.Order(ctx, "o"); o.Shares != int64(1+len(batch)) {
		t.Fatalf("order has %d shares after recovery, want %d", o.Shares, 1+len(batch))
	}
}

// TestFullDatabase: SQLite's own "database or disk is full" (SQLITE_FULL), made by
// capping the database's pages on the writer connection.
func TestFullDatabase(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	setMax := func(q string) {
		if _, err := s.wdb.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	faultCheck(t, s, func() {
		var n int
		if err := s.wdb.QueryRowContext(ctx, "PRAGMA page_count").Scan(&n); err != nil {
			t.Fatal(err)
		}
		setMax("PRAGMA max_page_count = " + strconv.Itoa(n))
	}, func() { setMax("PRAGMA max_page_count = 1073741823") }, "full")
}

// TestDiskFull: a real full filesystem (a 2 MiB tmpfs filled up with a file), then
// room again once the file is removed. Needs the right to mount (root).
func TestDiskFull(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("TestDiskFull did not run: cannot mount a small tmpfs here (%v: %s); TestFullDatabase covers SQLITE_FULL", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	s := openTest(t, filepath.Join(dir, "broker.db"), Options{})
	filler := filepath.Join(dir, "filler")
	faultCheck(t, s, func() {
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		chunk := make([]byte, 64<<10)
		for {
			if _, err := f.Write(chunk); err != nil {
				break // ENOSPC: the filesystem is full
			}
		}
	}, func() {
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	}, "full")
}

// TestLockedDatabase: another connection holds the write lock; shares fail after the
// busy timeout, and go through once the lock is released.
func TestLockedDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.db")
	s := openTest(t, path, Options{BusyTimeout: 200 * time.Millisecond})
	other, err := sql.Open("sqlite3", path+"?_busy_timeout=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var tx *sql.Tx
	faultCheck(t, s, func() {
		if tx, err = other.BeginTx(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("INSERT INTO meta(key, value) VALUES('holder', 'x')"); err != nil {
			t.Fatal(err)
		}
	}, func() {
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}, "locked")
}
