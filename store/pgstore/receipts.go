package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/store"
)

// SaveReceipt stores (or replaces) an order's receipt (broker.ReceiptStore).
func (s *Store) SaveReceipt(ctx context.Context, r *broker.StoredReceipt) error {
	leaves := store.PackLeaves(r.Leaves)
	_, err := s.pool.Exec(ctx, `INSERT INTO receipts(order_id, body, leaves, issued_at) VALUES($1, $2, $3, $4)
		ON CONFLICT(order_id) DO UPDATE SET body = excluded.body, leaves = excluded.leaves, issued_at = excluded.issued_at`,
		r.OrderID, string(r.Body), leaves, toNanos(r.IssuedAt))
	if err != nil {
		return fmt.Errorf("pgstore: save receipt of order %s: %w", r.OrderID, err)
	}
	return nil
}

// Receipt reads an order's receipt; broker.ErrNotFound when none was issued.
func (s *Store) Receipt(ctx context.Context, orderID string) (*broker.StoredReceipt, error) {
	var (
		body   string
		leaves []byte
		at     int64
	)
	err := s.pool.QueryRow(ctx, `SELECT body, leaves, issued_at FROM receipts WHERE order_id = $1`, orderID).Scan(&body, &leaves, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: receipt of order %s: %w", orderID, broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: receipt of order %s: %w", orderID, err)
	}
	hashes, err := store.UnpackLeaves(leaves)
	if err != nil {
		return nil, fmt.Errorf("pgstore: receipt of order %s: %w", orderID, err)
	}
	r := &broker.StoredReceipt{OrderID: orderID, Body: []byte(body), IssuedAt: fromNanos(at), Leaves: hashes}
	return r, nil
}

// OrderShareList lists the accepted shares of an order (header hash, difficulty, time),
// oldest first.
func (s *Store) OrderShareList(ctx context.Context, orderID string) ([]broker.Share, error) {
	rows, err := s.pool.Query(ctx, `SELECT header_hash, difficulty, at FROM shares WHERE order_id = $1 ORDER BY at, header_hash`, orderID)
	if err != nil {
		return nil, fmt.Errorf("pgstore: shares of order %s: %w", orderID, err)
	}
	defer rows.Close()
	var out []broker.Share
	for rows.Next() {
		sh, err := store.ScanOrderShare(rows, orderID)
		if err != nil {
			return nil, fmt.Errorf("pgstore: shares of order %s: %w", orderID, err)
		}
		out = append(out, sh)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: shares of order %s: %w", orderID, err)
	}
	return out, nil
}

// RecentOrders lists the newest orders first, at most limit.
func (s *Store) RecentOrders(ctx context.Context, limit int) ([]*broker.Order, error) {
	return s.queryOrders(ctx, `SELECT `+orderColumns+` FROM orders ORDER BY created_at DESC, id LIMIT $1`, limit)
}
