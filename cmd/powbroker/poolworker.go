package main

import (
	"context"
	"encoding/binary"
	"log/slog"
	"sync"
	"time"

	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/miner"
)

// poolWorker mines the broker's current job for blocks while paid orders wait for one
// (serve --pool-threads, on the embedded test networks): on the private network, where
// a block takes far more work than an order's price, the paid orders are then mined
// without anyone else hashing. It only mines while a paid order waits.
type poolWorker struct {
	b       *broker.Broker
	threads int
	kernel  miner.Kernel
	log     *slog.Logger
}

// slice is how long one scan runs before the worker looks for a newer job.
const poolSlice = time.Second

func (p *poolWorker) run(ctx context.Context) error {
	en1, err := p.b.NewExtranonce1(ctx)
	if err != nil {
		return err
	}
	var round uint64
	for ctx.Err() == nil {
		job := p.b.CurrentJob()
		if job == nil || !p.paidWaiting(ctx) {
			select {
			case <-ctx.Done():
			case <-time.After(poolSlice):
			}
			continue
		}
		round++
		p.scan(ctx, job, en1, round)
	}
	return nil
}

// scan hashes one extranonce2 of job for a slice and submits what meets the network
// target.
func (p *poolWorker) scan(ctx context.Context, job *broker.Job, en1 []byte, round uint64) {
	en2 := make([]byte, job.Assembly.Extranonce2Size)
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], round)
	copy(en2, buf[:])
	hdr := job.Header(en1, en2, job.Version, job.NTime, 0)
	target := miner.TargetFromBig(job.NetTarget)
	sctx, cancel := context.WithTimeout(ctx, poolSlice)
	defer cancel()
	var (
		mu    sync.Mutex
		found []uint32
	)
	n, _ := miner.ScanParallel(sctx, p.kernel, p.threads, &hdr, 0, miner.MaxCount, &target, func(f miner.Found) {
		mu.Lock()
		found = append(found, f.Nonce)
		mu.Unlock()
		cancel()
	})
	p.b.CountPoolHashes(n)
	for _, nonce := range found {
		res, err := p.b.SubmitPoolBlock(ctx, broker.Work{
			JobID: job.ID, Extranonce1: en1, Extranonce2: en2, NTime: job.NTime, Nonce: nonce, Version: job.Version, Worker: "pool",
		})
		p.log.Debug("pool worker block", "job", job.ID, "accepted", res.BlockAccepted, "err", err)
	}
}

// paidWaiting tells whether a paid order waits for a block.
func (p *poolWorker) paidWaiting(ctx context.Context) bool {
	st, err := p.b.Status(ctx)
	return err == nil && st.Orders[broker.StatePaid] > 0
}
