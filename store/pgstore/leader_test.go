package pgstore

import (
	"context"
	"testing"
	"time"
)

// TestLeaderTakeover: a second process waits while the first holds the lock, and takes
// it over within a second once the first one's connection is terminated (as when its
// process is killed); the first is told it lost the lock.
func TestLeaderTakeover(t *testing.T) {
	ctx := context.Background()
	url := pg.DB(t)
	first, err := AcquireLeader(ctx, url, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	waited := make(chan struct{})
	got := make(chan *Leader, 1)
	go func() {
		l, err := AcquireLeader(ctx, url, quiet(), func() { close(waited) })
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("the second process did not report waiting")
	}
	select {
	case <-got:
		t.Fatal("the second process got the lock while the first held it")
	case <-time.After(500 * time.Millisecond):
	}
	pid := first.conn.PgConn().PID()
	killer := openTest(t, url, Options{})
	start := time.Now()
	if _, err := killer.Pool().Exec(ctx, `SELECT pg_terminate_backend($1)`, int32(pid)); err != nil {
		t.Fatal(err)
	}
	var second *Leader
	select {
	case second = <-got:
		t.Logf("took over %v after the holder's connection ended", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("no takeover within 5 s")
	}
	defer second.Release()
	select {
	case <-first.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the first holder was not told it lost the lock")
	}
}
