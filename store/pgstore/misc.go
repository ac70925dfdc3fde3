package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/store"
)

// CreateAssignment stores a work assignment; its order must exist.
func (s *Store) CreateAssignment(ctx context.Context, a *broker.Assignment) error {
	if a == nil || a.ID == "" {
		return errors.New("pgstore: assignment without id")
	}
	if a.NonceCount > math.MaxInt64 {
		return fmt.Errorf("pgstore: assignment %s: nonce count %d too large", a.ID, a.NonceCount)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO assignments(id, order_id, job_id, extranonce1,
		extranonce2, header, nonce_start, nonce_count, share_diff, created_at, expires_at, closed)
		VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		a.ID, a.OrderID, a.JobID, a.Extranonce1, a.Extranonce2, a.Header, int64(a.NonceStart),
		int64(a.NonceCount), a.ShareDiff, toNanos(a.CreatedAt), toNanos(a.ExpiresAt), a.Closed)
	if err != nil {
		return fmt.Errorf("pgstore: create assignment %s for order %s: %w", a.ID, a.OrderID, err)
	}
	return nil
}

// Assignment reads one assignment; broker.ErrNotFound when there is none with that id.
func (s *Store) Assignment(ctx context.Context, id string) (*broker.Assignment, error) {
	var (
		a                broker.Assignment
		start, count     int64
		created, expires int64
	)
	err := s.pool.QueryRow(ctx, `SELECT id, order_id, job_id, extranonce1, extranonce2, header,
		nonce_start, nonce_count, share_diff, created_at, expires_at, closed FROM assignments WHERE id = $1`,
		id).Scan(&a.ID, &a.OrderID, &a.JobID, &a.Extranonce1, &a.Extranonce2, &a.Header, &start, &count,
		&a.ShareDiff, &created, &expires, &a.Closed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: assignment %s: %w", id, broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: read assignment %s: %w", id, err)
	}
	a.NonceStart = uint32(start)
	a.NonceCount = uint64(count)
	a.CreatedAt = fromNanos(created)
	a.ExpiresAt = fromNanos(expires)
	return &a, nil
}

// CloseAssignments marks every open assignment of an order closed.
func (s *Store) CloseAssignments(ctx context.Context, orderID string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE assignments SET closed = true WHERE order_id = $1 AND NOT closed`, orderID); err != nil {
		return fmt.Errorf("pgstore: close assignments of order %s: %w", orderID, err)
	}
	return nil
}

// AddBlock records a block the broker found; adding the same hash again replaces it.
func (s *Store) AddBlock(ctx context.Context, b *broker.Block) error {
	if b == nil || b.Hash == "" {
		return errors.New("pgstore: block without hash")
	}
	txids, orderIDs, err := store.BlockIDs(b)
	if err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO blocks(hash, height, prev_hash, txids, order_ids, found_at,
		accepted, reason) VALUES($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT(hash) DO UPDATE SET height = excluded.height, prev_hash = excluded.prev_hash,
		txids = excluded.txids, order_ids = excluded.order_ids, found_at = excluded.found_at,
		accepted = excluded.accepted, reason = excluded.reason`,
		b.Hash, b.Height, b.PrevHash, txids, orderIDs, toNanos(b.FoundAt), b.Accepted, b.Reason)
	if err != nil {
		return fmt.Errorf("pgstore: add block %s: %w", b.Hash, err)
	}
	return nil
}

// Blocks lists the recorded blocks by height, then by the time they were found.
func (s *Store) Blocks(ctx context.Context) ([]*broker.Block, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+store.BlockColumns+` FROM blocks ORDER BY height, found_at, hash`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: blocks: %w", err)
	}
	defer rows.Close()
	var out []*broker.Block
	for rows.Next() {
		b, err := store.ScanBlock(rows)
		if err != nil {
			return nil, fmt.Errorf("pgstore: blocks: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: blocks: %w", err)
	}
	return out, nil
}

// Meta reads a metadata value; ok is false when the key is not set.
func (s *Store) Meta(ctx context.Context, key string) (value string, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("pgstore: meta %q: %w", key, err)
	}
	return value, true, nil
}

// SetMeta sets a metadata value. The key schema_version belongs to the migrations.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if key == metaSchemaVersion {
		return fmt.Errorf("pgstore: meta key %q is reserved", key)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO meta(key, value) VALUES($1, $2)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("pgstore: set meta %q: %w", key, err)
	}
	return nil
}

// Reserve atomically advances the persistent counter named counter by n (> 0) and
// returns the first value of the reserved range [first, first+n); a new counter starts
// at 0. Reserved values are never handed out again, also across brokers sharing the
// database.
func (s *Store) Reserve(ctx context.Context, counter string, n uint64) (uint64, error) {
	if n == 0 {
		return 0, fmt.Errorf("pgstore: reserve 0 values of counter %q", counter)
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("pgstore: reserve %d values of counter %q: too many", n, counter)
	}
	var next int64
	// One statement: concurrent reservations serialize on the counter's row.
	err := s.pool.QueryRow(ctx, `INSERT INTO counters(name, next) VALUES($1, $2)
		ON CONFLICT(name) DO UPDATE SET next = counters.next + excluded.next
		WHERE counters.next <= $3 - excluded.next
		RETURNING next`, counter, int64(n), int64(math.MaxInt64)).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("pgstore: counter %q exhausted (%d more asked)", counter, n)
	}
	if err != nil {
		return 0, fmt.Errorf("pgstore: reserve counter %q: %w", counter, err)
	}
	return uint64(next) - n, nil
}
