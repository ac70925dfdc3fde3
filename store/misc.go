package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/proofow/powbroker/broker"
)

// CreateAssignment stores a work assignment; its order must exist.
func (s *Store) CreateAssignment(ctx context.Context, a *broker.Assignment) error {
	if a == nil || a.ID == "" {
		return errors.New("store: assignment without id")
	}
	if a.NonceCount > math.MaxInt64 {
		return fmt.Errorf("store: assignment %s: nonce count %d too large", a.ID, a.NonceCount)
	}
	_, err := s.wdb.ExecContext(ctx, `INSERT INTO assignments(id, order_id, job_id, extranonce1,
		extranonce2, header, nonce_start, nonce_count, share_diff, created_at, expires_at, closed)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.OrderID, a.JobID, a.Extranonce1, a.Extranonce2, a.Header, int64(a.NonceStart),
		int64(a.NonceCount), a.ShareDiff, toNanos(a.CreatedAt), toNanos(a.ExpiresAt), a.Closed)
	if err != nil {
		return fmt.Errorf("store: create assignment %s for order %s: %w", a.ID, a.OrderID, err)
	}
	return nil
}

// Assignment reads one assignment; ErrNotFound when there is none with that id.
func (s *Store) Assignment(ctx context.Context, id string) (*broker.Assignment, error) {
	var (
		a                broker.Assignment
		start, count     int64
		created, expires int64
	)
	err := s.rdb.QueryRowContext(ctx, `SELECT id, order_id, job_id, extranonce1, extranonce2, header,
		nonce_start, nonce_count, share_diff, created_at, expires_at, closed FROM assignments WHERE id = ?`,
		id).Scan(&a.ID, &a.OrderID, &a.JobID, &a.Extranonce1, &a.Extranonce2, &a.Header, &start, &count,
		&a.ShareDiff, &created, &expires, &a.Closed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: assignment %s: %w", id, broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read assignment %s: %w", id, err)
	}
	a.NonceStart = uint32(start)
	a.NonceCount = uint64(count)
	a.CreatedAt = fromNanos(created)
	a.ExpiresAt = fromNanos(expires)
	return &a, nil
}

// CloseAssignments marks every open assignment of an order closed.
func (s *Store) CloseAssignments(ctx context.Context, orderID string) error {
	if _, err := s.wdb.ExecContext(ctx, `UPDATE assignments SET closed = 1 WHERE order_id = ? AND closed = 0`,
		orderID); err != nil {
		return fmt.Errorf("store: close assignments of order %s: %w", orderID, err)
	}
	return nil
}

// AddBlock records a block the broker found; adding the same hash again replaces it.
func (s *Store) AddBlock(ctx context.Context, b *broker.Block) error {
	if b == nil || b.Hash == "" {
		return errors.New("store: block without hash")
	}
	txids, orderIDs, err := BlockIDs(b)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	_, err = s.wdb.ExecContext(ctx, `INSERT INTO blocks(hash, height, prev_hash, txids, order_ids, found_at,
		accepted, reason) VALUES(?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(hash) DO UPDATE SET height = excluded.height, prev_hash = excluded.prev_hash,
		txids = excluded.txids, order_ids = excluded.order_ids, found_at = excluded.found_at,
		accepted = excluded.accepted, reason = excluded.reason`,
		b.Hash, b.Height, b.PrevHash, txids, orderIDs, toNanos(b.FoundAt), b.Accepted, b.Reason)
	if err != nil {
		return fmt.Errorf("store: add block %s: %w", b.Hash, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Blocks lists the recorded blocks by height, then by the time they were found.
func (s *Store) Blocks(ctx context.Context) ([]*broker.Block, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+BlockColumns+` FROM blocks ORDER BY height, found_at, hash`)
	if err != nil {
		return nil, fmt.Errorf("store: blocks: %w", err)
	}
	defer rows.Close()
	var out []*broker.Block
	for rows.Next() {
		b, err := ScanBlock(rows)
		if err != nil {
			return nil, fmt.Errorf("store: blocks: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: blocks: %w", err)
	}
	return out, nil
}

// Meta reads a metadata value; ok is false when the key is not set.
func (s *Store) Meta(ctx context.Context, key string) (value string, ok bool, err error) {
	err = s.rdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: meta %q: %w", key, err)
	}
	return value, true, nil
}

// SetMeta sets a metadata value. The key schema_version belongs to the migrations.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if key == metaSchemaVersion {
		return fmt.Errorf("store: meta key %q is reserved", key)
	}
	if _, err := s.wdb.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES(?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("store: set meta %q: %w", key, err)
	}
	return nil
}

// Reserve atomically advances the persistent counter named counter by n (> 0) and returns
// the first value of the reserved range [first, first+n). A new counter starts at 0.
// Reserved values are never handed out again, across restarts.
func (s *Store) Reserve(ctx context.Context, counter string, n uint64) (first uint64, err error) {
	if n == 0 {
		return 0, fmt.Errorf("store: reserve 0 values of counter %q", counter)
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("store: reserve %d values of counter %q: too many", n, counter)
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: reserve counter %q: %w", counter, err)
	}
	defer tx.Rollback()
	var next int64
	err = tx.QueryRowContext(ctx, `SELECT next FROM counters WHERE name = ?`, counter).Scan(&next)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: reserve counter %q: %w", counter, err)
	}
	if uint64(next) > math.MaxInt64-n {
		return 0, fmt.Errorf("store: counter %q exhausted (at %d, %d more asked)", counter, next, n)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO counters(name, next) VALUES(?, ?)
		ON CONFLICT(name) DO UPDATE SET next = excluded.next`, counter, next+int64(n)); err != nil {
		return 0, fmt.Errorf("store: reserve counter %q: %w", counter, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: reserve counter %q: commit: %w", counter, err)
	}
	return uint64(next), nil
}
