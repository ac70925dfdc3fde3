package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/proofow/powbroker/broker"
)

const orderColumns = OrderColumns

type rowScanner = RowScanner

func scanOrder(r rowScanner) (*broker.Order, error) { return ScanOrder(r) }

func insertEvent(ctx context.Context, tx *sql.Tx, orderID string, at time.Time, from, to broker.State, detail string) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO order_events(order_id, at, from_state, to_state, detail) VALUES(?, ?, ?, ?, ?)`,
		orderID, toNanos(at), string(from), string(to), detail)
	if err != nil {
		return fmt.Errorf("store: insert event for order %s: %w", orderID, err)
	}
	return nil
}

// CreateOrder inserts o (its State is normally StateWorking) and a creation event
// ("" -> State, detail) in one transaction. CreatedAt and UpdatedAt default to now.
//
// When o.IdempotencyKey is set and an order with that key exists, it is returned with
// created=false if its RequestHash equals o.RequestHash, and ErrIdempotencyReplay is
// returned otherwise. Transaction ids are not unique here: conflicts are the broker's call.
func (s *Store) CreateOrder(ctx context.Context, o *broker.Order, detail string) (stored *broker.Order, created bool, err error) {
	if o == nil || o.ID == "" {
		return nil, false, errors.New("store: order without id")
	}
	if o.State == "" {
		return nil, false, fmt.Errorf("store: order %s without state", o.ID)
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("store: create order %s: %w", o.ID, err)
	}
	defer tx.Rollback()

	if o.IdempotencyKey != "" {
		prev, err := scanOrder(tx.QueryRowContext(ctx,
			`SELECT `+orderColumns+` FROM orders WHERE idempotency_key = ?`, o.IdempotencyKey))
		switch {
		case err == nil:
			if prev.RequestHash != o.RequestHash {
				return nil, false, fmt.Errorf("store: idempotency key %q (order %s): %w",
					o.IdempotencyKey, prev.ID, broker.ErrIdempotencyReplay)
			}
			return prev, false, nil
		case !errors.Is(err, sql.ErrNoRows):
			return nil, false, fmt.Errorf("store: create order %s: look up idempotency key: %w", o.ID, err)
		}
	}

	n := *o
	now := time.Now()
	if n.CreatedAt.IsZero() {
		n.CreatedAt = now
	}
	if n.UpdatedAt.IsZero() {
		n.UpdatedAt = n.CreatedAt
	}
	// Normalize to what a read returns.
	n.CreatedAt = fromNanos(toNanos(n.CreatedAt))
	n.UpdatedAt = fromNanos(toNanos(n.UpdatedAt))
	n.ExpiresAt = fromNanos(toNanos(n.ExpiresAt))
	n.PaidAt = fromNanos(toNanos(n.PaidAt))
	n.MinedAt = fromNanos(toNanos(n.MinedAt))
	n.ConfirmedAt = fromNanos(toNanos(n.ConfirmedAt))

	_, err = tx.ExecContext(ctx, `INSERT INTO orders(`+orderColumns+`)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, n.TokenHash[:], string(n.State), n.Txid, n.RawTx, n.Fee, n.VSize, n.RequiredWork,
		n.CreditedWork, n.Shares, toNanos(n.CreatedAt), toNanos(n.ExpiresAt), toNanos(n.PaidAt),
		toNanos(n.MinedAt), toNanos(n.ConfirmedAt), n.BlockHash, n.Height, n.Reason,
		n.IdempotencyKey, n.RequestHash[:], toNanos(n.UpdatedAt))
	if err != nil {
		return nil, false, fmt.Errorf("store: insert order %s: %w", n.ID, err)
	}
	if err := insertEvent(ctx, tx, n.ID, n.CreatedAt, "", n.State, detail); err != nil {
		return nil, false, err
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("store: create order %s: commit: %w", n.ID, err)
	}
	if n.RawTx != nil {
		n.RawTx = append([]byte(nil), n.RawTx...)
	}
	return &n, true, nil
}

// Order reads one order; ErrNotFound when there is none with that id.
func (s *Store) Order(ctx context.Context, id string) (*broker.Order, error) {
	o, err := scanOrder(s.rdb.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: order %s: %w", id, broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read order %s: %w", id, err)
	}
	return o, nil
}

func (s *Store) queryOrders(ctx context.Context, query string, args ...any) ([]*broker.Order, error) {
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query orders: %w", err)
	}
	defer rows.Close()
	var out []*broker.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("store: scan order: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query orders: %w", err)
	}
	return out, nil
}

// OrdersInState lists the orders in any of the given states, oldest first.
func (s *Store) OrdersInState(ctx context.Context, states ...broker.State) ([]*broker.Order, error) {
	if len(states) == 0 {
		return nil, nil
	}
	args := make([]any, len(states))
	for i, st := range states {
		args[i] = string(st)
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(states)), ",")
	return s.queryOrders(ctx, `SELECT `+orderColumns+` FROM orders WHERE state IN (`+marks+`)
		ORDER BY created_at, id`, args...)
}

// Transition moves order id from one of the states in from (at least one) to state to, in
// one SQL transaction: it loads the order, checks its state (else an error wrapping
// ErrStateChanged naming the actual state), calls update (may be nil) to change fields
// such as PaidAt, MinedAt, BlockHash, Height or Reason, sets State and UpdatedAt, writes
// the mutable columns and records an event (from, to, detail). It returns the new order.
//
// update runs inside the transaction on the store's only write connection: it must not
// call the Store.
//
// The immutable fields (ID, TokenHash, Txid, RawTx, Fee, VSize, CreatedAt,
// IdempotencyKey, RequestHash) keep their stored values even if update changes them.
func (s *Store) Transition(ctx context.Context, id string, from []broker.State, to broker.State, detail string, update func(*broker.Order)) (*broker.Order, error) {
	if len(from) == 0 {
		return nil, fmt.Errorf("store: transition of order %s to %s: no source state given", id, to)
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: transition order %s: %w", id, err)
	}
	defer tx.Rollback()
	o, err := scanOrder(tx.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: transition order %s: %w", id, broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: transition order %s: load: %w", id, err)
	}
	ok := false
	for _, f := range from {
		if o.State == f {
			ok = true
			break
		}
	}
	if !ok {
		return nil, fmt.Errorf("store: order %s is %s, not %s (transition to %s): %w",
			id, o.State, joinStates(from), to, broker.ErrStateChanged)
	}
	prev := o.State
	if update != nil {
		orig := *o
		update(o)
		KeepImmutable(o, &orig)
	}
	o.State = to
	o.UpdatedAt = fromNanos(time.Now().UnixNano())
	_, err = tx.ExecContext(ctx, `UPDATE orders SET state = ?, required_work = ?, credited_work = ?,
		shares = ?, expires_at = ?, paid_at = ?, mined_at = ?, confirmed_at = ?, block_hash = ?,
		height = ?, reason = ?, updated_at = ? WHERE id = ?`,
		string(o.State), o.RequiredWork, o.CreditedWork, o.Shares, toNanos(o.ExpiresAt), toNanos(o.PaidAt),
		toNanos(o.MinedAt), toNanos(o.ConfirmedAt), o.BlockHash, o.Height, o.Reason, toNanos(o.UpdatedAt), id)
	if err != nil {
		return nil, fmt.Errorf("store: transition order %s: update: %w", id, err)
	}
	if err := insertEvent(ctx, tx, id, o.UpdatedAt, prev, to, detail); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: transition order %s: commit: %w", id, err)
	}
	// Return exactly what a read gives back.
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

// SetReason annotates an order (for example "does not fit the template") without a
// transition; ErrNotFound when there is no such order.
func (s *Store) SetReason(ctx context.Context, id, reason string) error {
	res, err := s.wdb.ExecContext(ctx, `UPDATE orders SET reason = ?, updated_at = ? WHERE id = ?`,
		reason, time.Now().UnixNano(), id)
	if err != nil {
		return fmt.Errorf("store: set reason of order %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: set reason of order %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("store: set reason of order %s: %w", id, broker.ErrNotFound)
	}
	return nil
}

// Events lists the history of an order in the order it happened (empty for an unknown order).
func (s *Store) Events(ctx context.Context, id string) ([]broker.Event, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT seq, order_id, at, from_state, to_state, detail
		FROM order_events WHERE order_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("store: events of order %s: %w", id, err)
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
			return nil, fmt.Errorf("store: events of order %s: %w", id, err)
		}
		e.At = fromNanos(at)
		e.From = broker.State(from)
		e.To = broker.State(to)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events of order %s: %w", id, err)
	}
	return out, nil
}
