package store

import (
	"context"
	"fmt"
	"time"

	"github.com/proofow/powbroker/broker"
)

var _ broker.ShareCompactor = (*Store)(nil)

// CompactShares implements broker.ShareCompactor: in one write transaction it
// deletes the share rows of at most limit orders in a final state last changed
// before endedBefore. An order that was ever paid or mined is compacted only when a
// receipts table exists and holds its receipt (the receipt keeps the header hashes);
// without one such orders keep their shares. The orders rows (credited work, share
// count) and events stay; freed pages are reused by later writes.
func (s *Store) CompactShares(ctx context.Context, endedBefore time.Time, limit int) (orders, shares int64, err error) {
	if limit <= 0 {
		return 0, 0, nil
	}
	var receipts int
	if err := s.wdb.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'receipts'`).Scan(&receipts); err != nil {
		return 0, 0, fmt.Errorf("store: compact shares: %w", storageFault(err))
	}
	keep := `o.paid_at = 0 AND o.mined_at = 0`
	if receipts > 0 {
		keep = `(` + keep + ` OR EXISTS (SELECT 1 FROM receipts r WHERE r.order_id = o.id))`
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("store: compact shares: %w", storageFault(err))
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT o.id FROM orders o
		WHERE o.state IN (?, ?, ?, ?) AND o.updated_at < ? AND `+keep+`
		AND EXISTS (SELECT 1 FROM shares s WHERE s.order_id = o.id) LIMIT ?`,
		string(broker.StateConfirmed), string(broker.StateExpired), string(broker.StateCanceled),
		string(broker.StateFailed), toNanos(endedBefore), limit)
	if err != nil {
		return 0, 0, fmt.Errorf("store: compact shares: %w", storageFault(err))
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("store: compact shares: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return 0, 0, fmt.Errorf("store: compact shares: %w", err)
	}
	for _, id := range ids {
		res, err := tx.ExecContext(ctx, `DELETE FROM shares WHERE order_id = ?`, id)
		if err != nil {
			return 0, 0, fmt.Errorf("store: compact shares of order %s: %w", id, storageFault(err))
		}
		n, _ := res.RowsAffected()
		shares += n
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("store: compact shares: commit: %w", storageFault(err))
	}
	return int64(len(ids)), shares, nil
}
