package miner

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestMeasure(t *testing.T) {
	ctx := context.Background()
	n, el := Baseline(ctx, 20*time.Millisecond)
	if n == 0 || el < 20*time.Millisecond {
		t.Fatalf("Baseline: %d hashes in %v", n, el)
	}
	for _, k := range available(t) {
		// A slow kernel may not finish a chunk in so short a time: hashes may be zero.
		_, el, err := Measure(ctx, k, 2, 30*time.Millisecond)
		if err != nil || el < 30*time.Millisecond {
			t.Fatalf("Measure(%s): %v, %v", k.Name(), el, err)
		}
	}
	if n, _, err := Measure(ctx, Best(), 1, 300*time.Millisecond); err != nil || n == 0 {
		t.Fatalf("Measure(%s): %d hashes, %v", Best().Name(), n, err)
	}
	khps, bhps, err := Compare(ctx, Portable(), 1, 50*time.Millisecond)
	if err != nil || khps <= 0 || bhps <= 0 {
		t.Fatalf("Compare: %v %v %v", khps, bhps, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := Measure(cctx, Portable(), 1, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Measure after cancel: %v", err)
	}
	if _, _, err := Compare(cctx, Portable(), 1, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compare after cancel: %v", err)
	}
}
