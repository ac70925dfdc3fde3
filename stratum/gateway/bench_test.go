package gateway

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker/brokertest"
	"github.com/proofow/powbroker/broker/bus"
	"github.com/proofow/powbroker/broker/bus/natstest"
	"github.com/proofow/powbroker/broker/busnode"
	"github.com/proofow/powbroker/stratum"
)

var natsb natstest.Builder

func TestMain(m *testing.M) {
	code := m.Run()
	natsb.Cleanup()
	os.Exit(code)
}

// BenchmarkShareHop measures the NATS share hop with real parts: gateway check, request
// over a nats-server process, the broker's share path, the SQLite group commit, the
// reply. Parallel submitters (GOMAXPROCS × -cpu × 64 goroutines); it reports shares/s
// and the latency percentiles of one submit. Run with:
// go test -run '^$' -bench ShareHop -benchtime 20000x ./gateway
func BenchmarkShareHop(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := natsb.Start(b)
	cfg := brokertest.Config()
	cfg.Pricing.MinWork = 1e9 // never paid: every share is credited
	env := brokertest.Open(b, b.TempDir(), brokertest.Options{Bits: 0x1e00ffff, Config: cfg})
	if err := env.Broker.Start(ctx); err != nil {
		b.Fatal(err)
	}
	go env.Broker.Run(ctx)
	tx, err := env.Chain.Faucet(ctx, 100_000, 0)
	if err != nil {
		b.Fatal(err)
	}
	var raw bytes.Buffer
	_ = tx.Serialize(&raw)
	created, err := env.Broker.CreateOrder(ctx, hex.EncodeToString(raw.Bytes()), "", nil)
	if err != nil {
		b.Fatal(err)
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	bc, err := bus.Dial(ctx, ns.URL(), key, "broker", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bc.Close()
	go busnode.New(env.Broker, bc, nil).Run(ctx)
	gc, err := bus.Dial(ctx, ns.URL(), key, "gw", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer gc.Close()
	var pool *Pool
	for try := 0; ; try++ { // the node subscribes asynchronously
		if pool, err = New(ctx, gc, Options{ID: "gw1", Prefix: 1}); err == nil || try == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.Fatal(err)
	}
	acc, err := pool.Authorize(ctx, created.Token)
	if err != nil || !acc.Working {
		b.Fatalf("authorize: %+v %v", acc, err)
	}
	jobs, stop := pool.Jobs()
	defer stop()
	var job *stratum.Job
	for job == nil || !job.Carries(acc.ID) {
		select {
		case job = <-jobs:
		case <-time.After(30 * time.Second):
			b.Fatal("no job carrying the order")
		}
	}
	en1, err := pool.Extranonce1(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var (
		nonce atomic.Uint32
		mu    sync.Mutex
		lat   []time.Duration
		fails atomic.Int64
	)
	b.SetParallelism(64)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			s := stratum.Share{Account: acc.ID, Worker: "bench", JobID: job.ID, Extranonce1: en1,
				Extranonce2: make([]byte, job.Extranonce2Size), NTime: job.NTime, Nonce: nonce.Add(1),
				Version: job.Version, Difficulty: 1e-12}
			t0 := time.Now()
			if _, err := pool.Submit(ctx, s); err != nil {
				fails.Add(1)
				continue
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		b.Fatalf("no share accepted (%d failed)", fails.Load())
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "shares/s")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(fails.Load()), "failed")
}
