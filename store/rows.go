package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/proofow/powbroker/broker"
)

// The row layout below is shared by every SQL store (SQLite here, PostgreSQL in
// pgstore): the same columns, times as Unix nanoseconds (0 for the zero time), hashes as
// bytes in internal order, block transaction and order ids as JSON arrays.

// OrderColumns are the columns of an orders row, in ScanOrder's order.
const OrderColumns = `id, token_hash, state, txid, raw_tx, fee, vsize, required_work, credited_work,
	shares, created_at, expires_at, paid_at, mined_at, confirmed_at, block_hash, height, reason,
	idempotency_key, request_hash, updated_at`

// BlockColumns are the columns of a blocks row, in ScanBlock's order.
const BlockColumns = `hash, height, prev_hash, txids, order_ids, found_at, accepted, reason`

// RowScanner is a row of any SQL driver (database/sql, pgx).
type RowScanner interface {
	Scan(dest ...any) error
}

// ScanOrder reads an orders row selected with OrderColumns.
func ScanOrder(r RowScanner) (*broker.Order, error) {
	var (
		o                                            broker.Order
		state                                        string
		tokenHash, requestHash                       []byte
		created, expires, paid, mined, conf, updated int64
	)
	err := r.Scan(&o.ID, &tokenHash, &state, &o.Txid, &o.RawTx, &o.Fee, &o.VSize, &o.RequiredWork,
		&o.CreditedWork, &o.Shares, &created, &expires, &paid, &mined, &conf, &o.BlockHash, &o.Height,
		&o.Reason, &o.IdempotencyKey, &requestHash, &updated)
	if err != nil {
		return nil, err
	}
	o.State = broker.State(state)
	copy(o.TokenHash[:], tokenHash)
	copy(o.RequestHash[:], requestHash)
	o.CreatedAt = FromNanos(created)
	o.ExpiresAt = FromNanos(expires)
	o.PaidAt = FromNanos(paid)
	o.MinedAt = FromNanos(mined)
	o.ConfirmedAt = FromNanos(conf)
	o.UpdatedAt = FromNanos(updated)
	return &o, nil
}

// ScanBlock reads a blocks row selected with BlockColumns.
func ScanBlock(r RowScanner) (*broker.Block, error) {
	var (
		b               broker.Block
		txids, orderIDs string
		found           int64
	)
	if err := r.Scan(&b.Hash, &b.Height, &b.PrevHash, &txids, &orderIDs, &found, &b.Accepted, &b.Reason); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(txids), &b.Txids); err != nil {
		return nil, fmt.Errorf("block %s: txids: %w", b.Hash, err)
	}
	if err := json.Unmarshal([]byte(orderIDs), &b.OrderIDs); err != nil {
		return nil, fmt.Errorf("block %s: order ids: %w", b.Hash, err)
	}
	b.FoundAt = FromNanos(found)
	return &b, nil
}

// BlockIDs encodes a block's transaction and order ids for its row.
func BlockIDs(b *broker.Block) (txids, orderIDs string, err error) {
	t, err := json.Marshal(nonNil(b.Txids))
	if err != nil {
		return "", "", fmt.Errorf("block %s: %w", b.Hash, err)
	}
	o, err := json.Marshal(nonNil(b.OrderIDs))
	if err != nil {
		return "", "", fmt.Errorf("block %s: %w", b.Hash, err)
	}
	return string(t), string(o), nil
}

// KeepImmutable restores the fields of o that a transition may not change from orig.
func KeepImmutable(o, orig *broker.Order) {
	o.ID, o.TokenHash, o.Txid, o.RawTx, o.Fee, o.VSize = orig.ID, orig.TokenHash, orig.Txid, orig.RawTx, orig.Fee, orig.VSize
	o.CreatedAt, o.IdempotencyKey, o.RequestHash = orig.CreatedAt, orig.IdempotencyKey, orig.RequestHash
}

// Nanos is a time as stored: Unix nanoseconds, 0 for the zero time.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromNanos is the time Nanos stored, in UTC.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// PackLeaves joins a receipt's leaves (32-byte share header hashes) into one column value.
func PackLeaves(leaves [][32]byte) []byte {
	b := make([]byte, 0, 32*len(leaves))
	for _, h := range leaves {
		b = append(b, h[:]...)
	}
	return b
}

// UnpackLeaves splits a column value written by PackLeaves; an error when it does not
// hold whole hashes.
func UnpackLeaves(b []byte) ([][32]byte, error) {
	if len(b)%32 != 0 {
		return nil, fmt.Errorf("leaves of %d bytes", len(b))
	}
	leaves := make([][32]byte, len(b)/32)
	for i := range leaves {
		copy(leaves[i][:], b[32*i:])
	}
	return leaves, nil
}

// ScanOrderShare reads a shares row selected as header_hash, difficulty, at, for orderID.
func ScanOrderShare(r RowScanner, orderID string) (broker.Share, error) {
	var (
		hh []byte
		at int64
	)
	sh := broker.Share{OrderID: orderID}
	if err := r.Scan(&hh, &sh.Difficulty, &at); err != nil {
		return sh, err
	}
	copy(sh.HeaderHash[:], hh)
	sh.At = FromNanos(at)
	return sh, nil
}
