package pgstore

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/proofow/powbroker/store/pgtest"
	"github.com/proofow/powbroker/store/storetest"
)

var pg pgtest.Shared

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTest(t testing.TB, url string, opt Options) *Store {
	t.Helper()
	opt.Logger = quiet()
	s, err := Open(context.Background(), url, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the broker.Store conformance suite on PostgreSQL.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func(t *testing.T) storetest.Store {
		url := pg.DB(t)
		return func(t *testing.T) storetest.Store {
			t.Helper()
			s, err := Open(context.Background(), url, Options{Logger: quiet()})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		}
	})
}

// TestTwoStoresOneDatabase opens two stores on one database at once (a broker and its
// standby): the migrations run once, and counters reserved concurrently from both never
// overlap.
func TestTwoStoresOneDatabase(t *testing.T) {
	ctx := context.Background()
	url := pg.DB(t)
	var (
		wg     sync.WaitGroup
		stores [2]*Store
		errs   [2]error
	)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, url, Options{Logger: quiet()})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if v, err := stores[1].SchemaVersion(ctx); err != nil || v != 2 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	seen := make(map[uint64]bool)
	var mu sync.Mutex
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				first, err := stores[i%2].Reserve(ctx, "extranonce1", 16)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for v := first; v < first+16; v++ {
					if seen[v] {
						t.Errorf("value %d reserved twice", v)
					}
					seen[v] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 8*20*16 {
		t.Fatalf("%d values reserved", len(seen))
	}
}

// TestCompaction runs the compaction behaviour on PostgreSQL.
func TestCompaction(t *testing.T) {
	s := openTest(t, pg.DB(t), Options{})
	storetest.Compaction(t, s, storetest.GiveReceipt(t, s))
}
