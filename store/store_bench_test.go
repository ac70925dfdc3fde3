package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker"
)

// BenchmarkRecordShare measures durable accepted shares per second with many concurrent
// callers (like 1,000 Stratum sessions), each share a distinct random-looking header hash
// spread over 100 orders. Run with: go test -run '^$' -bench RecordShare -benchtime 5s ./store/
func BenchmarkRecordShare(b *testing.B) {
	for _, bc := range []struct {
		sync     string
		callers  int // total concurrent goroutines (b.SetParallelism * GOMAXPROCS)
		delay    time.Duration
		groupMax int
	}{
		{"FULL", 1000, 0, 0}, // the defaults
		{"NORMAL", 1000, 0, 0},
		{"FULL", 100, 0, 0},
		{"FULL", 4000, 0, 0},
		{"FULL", 1000, 500 * time.Microsecond, 0},
		{"FULL", 1000, -1, 0}, // no wait: commit what is queued
		{"FULL", 100, -1, 0},
		{"FULL", 10, 0, 0},
		{"FULL", 10, -1, 0},
	} {
		name := fmt.Sprintf("sync=%s/callers=%d/delay=%v/max=%d", bc.sync, bc.callers, bc.delay, bc.groupMax)
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s, err := open(ctx, filepath.Join(b.TempDir(), "bench.db"),
				Options{Logger: quietLogger(), GroupDelay: bc.delay, GroupMax: bc.groupMax},
				embeddedMigrations, bc.sync)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const orders = 100
			for i := 0; i < orders; i++ {
				o := testOrder(fmt.Sprintf("bench-%d", i), 1e18)
				if _, _, err := s.CreateOrder(ctx, o, ""); err != nil {
					b.Fatal(err)
				}
			}
			par := bc.callers / runtime.GOMAXPROCS(0)
			b.SetParallelism(max(1, par))
			var seq atomic.Uint64
			cpu0 := processCPU()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var buf [8]byte
				for pb.Next() {
					n := seq.Add(1)
					binary.LittleEndian.PutUint64(buf[:], n)
					sh := &broker.Share{HeaderHash: sha256.Sum256(buf[:]), OrderID: fmt.Sprintf("bench-%d", n%orders),
						Difficulty: 1, Worker: "bench", JobID: "j", Nonce: uint32(n), At: time.Now()}
					r, err := record(ctx, s, sh)
					if err != nil || r.Duplicate {
						b.Errorf("RecordShare: %+v, %v", r, err)
						return
					}
				}
			})
			el := time.Since(start)
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(b.N)/el.Seconds(), "shares/s")
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/share")
			if st.Groups > 0 {
				b.ReportMetric(float64(st.Shares)/float64(st.Groups), "shares/group")
			}
		})
	}
}
