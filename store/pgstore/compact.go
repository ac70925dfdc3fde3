package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/proofow/powbroker/broker"
)

var _ broker.ShareCompactor = (*Store)(nil)

// CompactShares deletes the shares of at most limit orders in a final state whose last
// change is before endedBefore, in one statement. An order that was ever paid or mined
// is compacted only once its receipt is stored (the receipt keeps the header hashes).
func (s *Store) CompactShares(ctx context.Context, endedBefore time.Time, limit int) (orders, shares int64, err error) {
	if limit <= 0 {
		return 0, 0, nil
	}
	final := []string{string(broker.StateConfirmed), string(broker.StateExpired), string(broker.StateCanceled), string(broker.StateFailed)}
	err = s.pool.QueryRow(ctx, `WITH victims AS (
			SELECT o.id FROM orders o WHERE o.state = ANY($1) AND o.updated_at < $2
			AND ((o.paid_at = 0 AND o.mined_at = 0) OR EXISTS (SELECT 1 FROM receipts r WHERE r.order_id = o.id))
			AND EXISTS (SELECT 1 FROM shares s WHERE s.order_id = o.id) LIMIT $3),
		gone AS (DELETE FROM shares s USING victims v WHERE s.order_id = v.id RETURNING s.order_id)
		SELECT count(DISTINCT order_id), count(*) FROM gone`, final, toNanos(endedBefore), limit).Scan(&orders, &shares)
	if err != nil {
		return 0, 0, fmt.Errorf("pgstore: compact shares: %w", err)
	}
	return orders, shares, nil
}
