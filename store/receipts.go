package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/proofow/powbroker/broker"
)

// SaveReceipt stores (or replaces) an order's receipt.
func (s *Store) SaveReceipt(ctx context.Context, r *broker.StoredReceipt) error {
	leaves := PackLeaves(r.Leaves)
	_, err := s.wdb.ExecContext(ctx, `INSERT INTO receipts(order_id, body, leaves, issued_at) VALUES(?, ?, ?, ?)
		ON CONFLICT(order_id) DO UPDATE SET body = excluded.body, leaves = excluded.leaves, issued_at = excluded.issued_at`,
		r.OrderID, string(r.Body), leaves, toNanos(r.IssuedAt))
	if err != nil {
		return fmt.Errorf("store: save receipt of order %s: %w", r.OrderID, err)
	}
	return nil
}

// Receipt reads an order's receipt; ErrNotFound when none was issued.
func (s *Store) Receipt(ctx context.Context, orderID string) (*broker.StoredReceipt, error) {
	var (
		body   string
		leaves []byte
		at     int64
	)
	err := s.rdb.QueryRowContext(ctx, `SELECT body, leaves, issued_at FROM receipts WHERE order_id = ?`, orderID).Scan(&body, &leaves, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: receipt of order %s: %w", orderID, broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: receipt of order %s: %w", orderID, err)
	}
	hashes, err := UnpackLeaves(leaves)
	if err != nil {
		return nil, fmt.Errorf("store: receipt of order %s: %w", orderID, err)
	}
	r := &broker.StoredReceipt{OrderID: orderID, Body: []byte(body), IssuedAt: fromNanos(at), Leaves: hashes}
	return r, nil
}

// OrderShareList lists the accepted shares of an order (header hash, difficulty, time),
// in the order they were recorded.
func (s *Store) OrderShareList(ctx context.Context, orderID string) ([]broker.Share, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT header_hash, difficulty, at FROM shares WHERE order_id = ? ORDER BY rowid`, orderID)
	if err != nil {
		return nil, fmt.Errorf("store: shares of order %s: %w", orderID, err)
	}
	defer rows.Close()
	var out []broker.Share
	for rows.Next() {
		sh, err := ScanOrderShare(rows, orderID)
		if err != nil {
			return nil, fmt.Errorf("store: shares of order %s: %w", orderID, err)
		}
		out = append(out, sh)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: shares of order %s: %w", orderID, err)
	}
	return out, nil
}

// RecentOrders lists the newest orders first, at most limit.
func (s *Store) RecentOrders(ctx context.Context, limit int) ([]*broker.Order, error) {
	return s.queryOrders(ctx, `SELECT `+orderColumns+` FROM orders ORDER BY created_at DESC, id LIMIT ?`, limit)
}
