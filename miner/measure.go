package miner

import (
	"context"
	"errors"
	"time"
)

// Baseline hashes a header with crypto/sha256 applied twice, nonce after nonce on the
// calling goroutine, for d (or until ctx ends) and returns the hashes done and the time
// taken: the yardstick kernels are compared with.
func Baseline(ctx context.Context, d time.Duration) (uint64, time.Duration) {
	var h Header
	var sink byte
	begin := time.Now()
	deadline := begin.Add(d)
	var n uint64
	for {
		for i := 0; i < 1<<14; i++ {
			h.SetNonce(uint32(n))
			sum := sumStd(&h)
			sink ^= sum[0]
			n++
		}
		now := time.Now()
		if !now.Before(deadline) || ctx.Err() != nil {
			h[0] = sink // keep the hashes live
			return n, now.Sub(begin)
		}
	}
}

// Measure runs k on threads goroutines over a header's whole nonce space, again and
// again, for d (or until ctx ends) and returns the hashes done and the time taken.
func Measure(ctx context.Context, k Kernel, threads int, d time.Duration) (uint64, time.Duration, error) {
	var h Header
	var tg Target // nothing meets the zero target but a zero hash
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	begin := time.Now()
	var total uint64
	for start := uint32(0); ; start++ {
		h.SetNonce(0)
		h[0] = byte(start)
		n, err := ScanParallel(ctx, k, threads, &h, 0, MaxCount, &tg, func(Found) {})
		total += n
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return total, time.Since(begin), nil
			}
			return total, time.Since(begin), err
		}
	}
}

// Compare measures the baseline (one goroutine) and k (threads goroutines) in alternating
// slices of about 200 ms until each has run for d, so that load from other processes
// weighs on both alike. It returns hashes per second of the kernel (all threads together)
// and of the baseline.
func Compare(ctx context.Context, k Kernel, threads int, d time.Duration) (kernelHPS, baselineHPS float64, err error) {
	const slice = 200 * time.Millisecond
	var kn, bn uint64
	var kd, bd time.Duration
	for kd < d || bd < d {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		if bd < d {
			n, el := Baseline(ctx, min(slice, d-bd))
			bn, bd = bn+n, bd+el
		}
		if kd < d {
			n, el, err := Measure(ctx, k, threads, min(slice, d-kd))
			if err != nil {
				return 0, 0, err
			}
			kn, kd = kn+n, kd+el
		}
	}
	return float64(kn) / kd.Seconds(), float64(bn) / bd.Seconds(), nil
}
