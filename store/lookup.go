package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/proofow/powbroker/broker"
)

// OrderByIdempotencyKey finds the order created with an Idempotency-Key.
func (s *Store) OrderByIdempotencyKey(ctx context.Context, key string) (*broker.Order, error) {
	return s.orderWhere(ctx, `idempotency_key = ? AND idempotency_key <> ''`, key)
}

// OrderByTokenHash finds the order whose bearer token hashes to h.
func (s *Store) OrderByTokenHash(ctx context.Context, h [32]byte) (*broker.Order, error) {
	return s.orderWhere(ctx, `token_hash = ?`, h[:])
}

func (s *Store) orderWhere(ctx context.Context, where string, arg any) (*broker.Order, error) {
	o, err := scanOrder(s.rdb.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE `+where+` LIMIT 1`, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: order: %w", broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read order: %w", err)
	}
	return o, nil
}

// CountOrders counts the orders in each state.
func (s *Store) CountOrders(ctx context.Context) (map[broker.State]int, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT state, COUNT(*) FROM orders GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("store: count orders: %w", err)
	}
	defer rows.Close()
	out := make(map[broker.State]int)
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("store: count orders: %w", err)
		}
		out[broker.State(st)] = n
	}
	return out, rows.Err()
}
