package broker

import (
	"context"
	"time"
)

// ShareCompactor is implemented by stores that can drop the share rows of ended
// orders so that a long-running broker's database does not grow without bound (the
// SQLite store; the PostgreSQL store can implement the same). The orders keep their
// totals (credited work, share count, events); the shares of an order that was ever
// paid or mined are dropped only once its receipt is stored, since the receipt keeps
// the header hashes its merkle root and share proofs are built from.
type ShareCompactor interface {
	// CompactShares deletes the shares of at most limit orders in a final state
	// (confirmed, expired, canceled, failed) whose last change is before endedBefore,
	// and reports how many orders and shares it dropped.
	CompactShares(ctx context.Context, endedBefore time.Time, limit int) (orders, shares int64, err error)
}

// Compaction defaults: shares of an order are kept for an hour after it ended (every
// job that carried it is long stale by then, so no header hash can come back), and
// the broker compacts every minute, a bounded number of orders at a time.
const (
	DefaultCompactAfter = time.Hour
	compactEvery        = time.Minute
	compactBatch        = 20
)

// compactLoop compacts every compactEvery (more often with a short CompactAfter)
// until ctx ends (apart from the Run loop:
// a compaction shares the store's writer with the share groups, not with the tips).
func (b *Broker) compactLoop(ctx context.Context) {
	if b.compactAfter < 0 {
		return
	}
	t := time.NewTicker(max(min(compactEvery, b.compactAfter/2), 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.compact(ctx)
		}
	}
}

// compact drops the shares of orders that ended before the compaction delay, when
// the store can; a failure is logged and retried at the next round.
func (b *Broker) compact(ctx context.Context) {
	c, ok := b.store.(ShareCompactor)
	if !ok {
		return
	}
	for ctx.Err() == nil {
		orders, shares, err := c.CompactShares(ctx, time.Now().Add(-b.compactAfter), compactBatch)
		if err != nil {
			b.log.Warn("share compaction failed", "err", err)
			return
		}
		if orders > 0 {
			b.log.Info("shares of ended orders compacted", "orders", orders, "shares", shares)
		}
		if orders < compactBatch {
			return
		}
	}
}
