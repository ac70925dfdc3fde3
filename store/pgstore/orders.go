package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/store"
)

const orderColumns = store.OrderColumns

func insertEvent(ctx context.Context, tx pgx.Tx, orderID string, at time.Time, from, to broker.State, detail string) error {
	_, err := tx.Exec(ctx, `INSERT INTO order_events(order_id, at, from_state, to_state, detail) VALUES($1, $2, $3, $4, $5)`,
		orderID, toNanos(at), string(from), string(to), detail)
	if err != nil {
		return fmt.Errorf("pgstore: insert event for order %s: %w", orderID, err)
	}
	return nil
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// CreateOrder inserts o and a creation event in one transaction, as the SQLite store does
// (same idempotency rules).
func (s *Store) CreateOrder(ctx context.Context, o *broker.Order, detail string) (*broker.Order, bool, error) {
	if o == nil || o.ID == "" {
		return nil, false, errors.New("pgstore: order without id")
	}
	if o.State == "" {
		return nil, false, fmt.Errorf("pgstore: order %s without state", o.ID)
	}
	for try := 0; ; try++ {
		stored, created, err := s.createOrder(ctx, o, detail)
		// Two creations with one idempotency key at once: the loser sees the winner.
		if err != nil && try == 0 && o.IdempotencyKey != "" && isUniqueViolation(err) {
			continue
		}
		return stored, created, err
	}
}

func (s *Store) createOrder(ctx context.Context, o *broker.Order, detail string) (stored *broker.Order, created bool, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("pgstore: create order %s: %w", o.ID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if o.IdempotencyKey != "" {
		prev, err := store.ScanOrder(tx.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE idempotency_key = $1`, o.IdempotencyKey))
		switch {
		case err == nil:
			if prev.RequestHash != o.RequestHash {
				return nil, false, fmt.Errorf("pgstore: idempotency key %q (order %s): %w",
					o.IdempotencyKey, prev.ID, broker.ErrIdempotencyReplay)
			}
			return prev, false, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, false, fmt.Errorf("pgstore: create order %s: look up idempotency key: %w", o.ID, err)
		}
	}
	n := *o
	if n.CreatedAt.IsZero() {
		n.CreatedAt = time.Now()
	}
	if n.UpdatedAt.IsZero() {
		n.UpdatedAt = n.CreatedAt
	}
	n.CreatedAt = fromNanos(toNanos(n.CreatedAt))
	n.UpdatedAt = fromNanos(toNanos(n.UpdatedAt))
	n.ExpiresAt = fromNanos(toNanos(n.ExpiresAt))
	n.PaidAt = fromNanos(toNanos(n.PaidAt))
	n.MinedAt = fromNanos(toNanos(n.MinedAt))
	n.ConfirmedAt = fromNanos(toNanos(n.ConfirmedAt))
	_, err = tx.Exec(ctx, `INSERT INTO orders(`+orderColumns+`) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9,
		$10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
		n.ID, n.TokenHash[:], string(n.State), n.Txid, n.RawTx, n.Fee, n.VSize, n.RequiredWork,
		n.CreditedWork, n.Shares, toNanos(n.CreatedAt), toNanos(n.ExpiresAt), toNanos(n.PaidAt),
		toNanos(n.MinedAt), toNanos(n.ConfirmedAt), n.BlockHash, n.Height, n.Reason,
		n.IdempotencyKey, n.RequestHash[:], toNanos(n.UpdatedAt))
	if err != nil {
		return nil, false, fmt.Errorf("pgstore: insert order %s: %w", n.ID, err)
	}
	if err := insertEvent(ctx, tx, n.ID, n.CreatedAt, "", n.State, detail); err != nil {
		return nil, false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, fmt.Errorf("pgstore: create order %s: commit: %w", n.ID, err)
	}
	if n.RawTx != nil {
		n.RawTx = append([]byte(nil), n.RawTx...)
	}
	return &n, true, nil
}

// Order reads one order; broker.ErrNotFound when there is none with that id.
func (s *Store) Order(ctx context.Context, id string) (*broker.Order, error) {
	o, err := store.ScanOrder(s.pool.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: order %s: %w", id, broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: read order %s: %w", id, err)
	}
	return o, nil
}

func (s *Store) queryOrders(ctx context.Context, query string, args ...any) ([]*broker.Order, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("pgstore: query orders: %w", err)
	}
	defer rows.Close()
	var out []*broker.Order
	for rows.Next() {
		o, err := store.ScanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("pgstore: scan order: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: query orders: %w", err)
	}
	return out, nil
}

// OrdersInState lists the orders in any of the given states, oldest first.
func (s *Store) OrdersInState(ctx context.Context, states ...broker.State) ([]*broker.Order, error) {
	if len(states) == 0 {
		return nil, nil
	}
	names := make([]string, len(states))
	for i, st := range states {
		names[i] = string(st)
	}
	return s.queryOrders(ctx, `SELECT `+orderColumns+` FROM orders WHERE state = ANY($1) ORDER BY created_at, id`, names)
}

// AllOrders lists every order, oldest first.
func (s *Store) AllOrders(ctx context.Context) ([]*broker.Order, error) {
	return s.queryOrders(ctx, `SELECT `+orderColumns+` FROM orders ORDER BY created_at, id`)
}

// Transition moves order id from one of the states in from to state to in one
// transaction, with the order row locked; see broker.Store for the contract.
func (s *Store) Transition(ctx context.Context, id string, from []broker.State, to broker.State, detail string, update func(*broker.Order)) (*broker.Order, error) {
	if len(from) == 0 {
		return nil, fmt.Errorf("pgstore: transition of order %s to %s: no source state given", id, to)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: transition order %s: %w", id, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	o, err := store.ScanOrder(tx.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: transition order %s: %w", id, broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: transition order %s: load: %w", id, err)
	}
	ok := false
	for _, f := range from {
		ok = ok || o.State == f
	}
	if !ok {
		return nil, fmt.Errorf("pgstore: order %s is %s, not %s (transition to %s): %w",
			id, o.State, joinStates(from), to, broker.ErrStateChanged)
	}
	prev := o.State
	if update != nil {
		orig := *o
		update(o)
		store.KeepImmutable(o, &orig)
	}
	o.State = to
	o.UpdatedAt = fromNanos(time.Now().UnixNano())
	_, err = tx.Exec(ctx, `UPDATE orders SET state = $1, required_work = $2, credited_work = $3,
		shares = $4, expires_at = $5, paid_at = $6, mined_at = $7, confirmed_at = $8, block_hash = $9,
		height = $10, reason = $11, updated_at = $12 WHERE id = $13`,
		string(o.State), o.RequiredWork, o.CreditedWork, o.Shares, toNanos(o.ExpiresAt), toNanos(o.PaidAt),
		toNanos(o.MinedAt), toNanos(o.ConfirmedAt), o.BlockHash, o.Height, o.Reason, toNanos(o.UpdatedAt), id)
	if err != nil {
		return nil, fmt.Errorf("pgstore: transition order %s: update: %w", id, err)
	}
	if err := insertEvent(ctx, tx, id, o.UpdatedAt, prev, to, detail); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("pgstore: transition order %s: commit: %w", id, err)
	}
	o.ExpiresAt = fromNanos(toNanos(o.ExpiresAt))
	o.PaidAt = fromNanos(toNanos(o.PaidAt))
	o.MinedAt = fromNanos(toNanos(o.MinedAt))
	o.ConfirmedAt = fromNanos(toNanos(o.ConfirmedAt))
	return o, nil
}

func joinStates(states []broker.State) string {
	parts := make([]string, len(states))
	for i, st := range states {
		parts[i] = string(st)
	}
	return strings.Join(parts, " or ")
}

// SetReason annotates an order without a transition; broker.ErrNotFound when there is
// no such order.
func (s *Store) SetReason(ctx context.Context, id, reason string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE orders SET reason = $1, updated_at = $2 WHERE id = $3`, reason, time.Now().UnixNano(), id)
	if err != nil {
		return fmt.Errorf("pgstore: set reason of order %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: set reason of order %s: %w", id, broker.ErrNotFound)
	}
	return nil
}

// Events lists the history of an order in the order it happened.
func (s *Store) Events(ctx context.Context, id string) ([]broker.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, order_id, at, from_state, to_state, detail
		FROM order_events WHERE order_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("pgstore: events of order %s: %w", id, err)
	}
	defer rows.Close()
	var out []broker.Event
	for rows.Next() {
		var (
			e        broker.Event
			at       int64
			from, to string
		)
		if err := rows.Scan(&e.Seq, &e.OrderID, &at, &from, &to, &e.Detail); err != nil {
			return nil, fmt.Errorf("pgstore: events of order %s: %w", id, err)
		}
		e.At, e.From, e.To = fromNanos(at), broker.State(from), broker.State(to)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: events of order %s: %w", id, err)
	}
	return out, nil
}

// OrderByIdempotencyKey finds the order created with an Idempotency-Key.
func (s *Store) OrderByIdempotencyKey(ctx context.Context, key string) (*broker.Order, error) {
	return s.orderWhere(ctx, `idempotency_key = $1 AND idempotency_key <> ''`, key)
}

// OrderByTokenHash finds the order whose bearer token hashes to h.
func (s *Store) OrderByTokenHash(ctx context.Context, h [32]byte) (*broker.Order, error) {
	return s.orderWhere(ctx, `token_hash = $1`, h[:])
}

func (s *Store) orderWhere(ctx context.Context, where string, arg any) (*broker.Order, error) {
	o, err := store.ScanOrder(s.pool.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE `+where+` LIMIT 1`, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: order: %w", broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: read order: %w", err)
	}
	return o, nil
}

// CountOrders counts the orders in each state.
func (s *Store) CountOrders(ctx context.Context) (map[broker.State]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT state, COUNT(*) FROM orders GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: count orders: %w", err)
	}
	defer rows.Close()
	out := make(map[broker.State]int)
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("pgstore: count orders: %w", err)
		}
		out[broker.State(st)] = n
	}
	return out, rows.Err()
}
