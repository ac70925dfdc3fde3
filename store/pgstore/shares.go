package pgstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/proofow/powbroker/broker"
)

// orderAcc is the state of one order inside a group transaction.
type orderAcc struct {
	work   broker.OrderWork
	paidAt int64
	dirty  bool
}

// RecordShares records accepted shares and credits their orders (broker.CreditShare),
// queuing them all before waiting so that they share group commits, and answers each
// only after its group's COMMIT returned. A hash stored before (or earlier in the same
// call) gives Duplicate=true and credits nothing; a share for an unknown order fails
// alone with broker.ErrNotFound; after Close, broker.ErrStoreClosed.
func (s *Store) RecordShares(ctx context.Context, shares []*broker.Share) ([]broker.Recorded, []error) {
	return s.shares.Record(ctx, shares)
}

// Stats reports the share writer's counters.
func (s *Store) Stats() broker.WriterStats { return s.shares.Stats() }

// commit writes one group in one transaction (a sharegroup.Commit).
func (s *Store) commit(batch []*broker.Share, res []broker.Recorded, errs []error) error {
	err := s.commitTx(context.Background(), batch, res, errs)
	if err != nil {
		s.log.Error("pgstore: share group failed", "shares", len(batch), "err", err)
	}
	return err
}

// groupRows are the share columns of a group as arrays for unnest.
type groupRows struct {
	hash                    [][]byte
	order, asg, worker, job []string
	nonce, at               []int64
	diff                    []float64
	block                   []bool
}

func (g *groupRows) add(sh *broker.Share, at int64) {
	g.hash = append(g.hash, sh.HeaderHash[:])
	g.order = append(g.order, sh.OrderID)
	g.asg = append(g.asg, sh.AssignmentID)
	g.worker = append(g.worker, sh.Worker)
	g.job = append(g.job, sh.JobID)
	g.nonce = append(g.nonce, int64(sh.Nonce))
	g.diff = append(g.diff, sh.Difficulty)
	g.at = append(g.at, at)
	g.block = append(g.block, sh.BlockCandidate)
}

// commitTx is one group's transaction: lock the orders, insert the shares of known
// orders (ON CONFLICT DO NOTHING tells duplicates), credit in arrival order, update the
// orders and write the paid events, commit.
//
// long: the statements of one transaction read best in one place.
func (s *Store) commitTx(ctx context.Context, batch []*broker.Share, res []broker.Recorded, errs []error) error {
	now := time.Now().UnixNano()
	ids := make([]string, 0, 4)
	seen := make(map[string]bool, 4)
	for _, sh := range batch {
		if !seen[sh.OrderID] {
			seen[sh.OrderID] = true
			ids = append(ids, sh.OrderID)
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: share group: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	orders := make(map[string]*orderAcc, len(ids))
	rows, err := tx.Query(ctx, `SELECT id, state, required_work, credited_work, shares, paid_at
		FROM orders WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return fmt.Errorf("pgstore: share group: load orders: %w", err)
	}
	for rows.Next() {
		var id, state string
		acc := &orderAcc{}
		if err := rows.Scan(&id, &state, &acc.work.Required, &acc.work.Credited, &acc.work.Shares, &acc.paidAt); err != nil {
			rows.Close()
			return fmt.Errorf("pgstore: share group: load orders: %w", err)
		}
		acc.work.State = broker.State(state)
		orders[id] = acc
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pgstore: share group: load orders: %w", err)
	}
	var g groupRows
	ats := make([]int64, len(batch))
	for i, sh := range batch {
		ats[i] = toNanos(sh.At)
		if ats[i] == 0 {
			ats[i] = now
		}
		if orders[sh.OrderID] != nil {
			g.add(sh, ats[i])
		}
	}
	inserted := make(map[[32]byte]bool, len(g.hash))
	if len(g.hash) > 0 {
		rows, err := tx.Query(ctx, `INSERT INTO shares(header_hash, order_id, assignment_id, worker, job_id,
			nonce, difficulty, at, block_candidate)
			SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[],
				$7::float8[], $8::int8[], $9::bool[])
			ON CONFLICT (header_hash) DO NOTHING RETURNING header_hash`,
			g.hash, g.order, g.asg, g.worker, g.job, g.nonce, g.diff, g.at, g.block)
		if err != nil {
			return fmt.Errorf("pgstore: share group: insert shares: %w", err)
		}
		for rows.Next() {
			var h []byte
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return fmt.Errorf("pgstore: share group: insert shares: %w", err)
			}
			inserted[[32]byte(h)] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("pgstore: share group: insert shares: %w", err)
		}
	}
	var ev struct {
		order, detail []string
	}
	for i, sh := range batch {
		acc := orders[sh.OrderID]
		if acc == nil {
			errs[i] = fmt.Errorf("pgstore: share %x for order %s: %w", sh.HeaderHash, sh.OrderID, broker.ErrNotFound)
			continue
		}
		if !inserted[sh.HeaderHash] {
			res[i] = broker.Recorded{Duplicate: true, OrderState: acc.work.State, CreditedWork: acc.work.Credited}
			continue
		}
		delete(inserted, sh.HeaderHash) // a second copy in the same group is a duplicate
		acc.dirty = true
		became := broker.CreditShare(&acc.work, sh.Difficulty)
		if became {
			acc.paidAt = ats[i]
			ev.order = append(ev.order, sh.OrderID)
			ev.detail = append(ev.detail, broker.PaidDetail(acc.work))
		}
		res[i] = broker.Recorded{OrderState: acc.work.State, CreditedWork: acc.work.Credited, BecamePaid: became}
	}
	var u struct {
		id, state      []string
		credited       []float64
		shares, paidAt []int64
	}
	for _, id := range ids {
		if acc := orders[id]; acc != nil && acc.dirty {
			u.id, u.state = append(u.id, id), append(u.state, string(acc.work.State))
			u.credited, u.shares, u.paidAt = append(u.credited, acc.work.Credited), append(u.shares, acc.work.Shares), append(u.paidAt, acc.paidAt)
		}
	}
	b := &pgx.Batch{}
	if len(u.id) > 0 {
		b.Queue(`UPDATE orders o SET state = u.state, credited_work = u.credited, shares = u.shares,
			paid_at = u.paid_at, updated_at = $6
			FROM unnest($1::text[], $2::text[], $3::float8[], $4::int8[], $5::int8[]) AS u(id, state, credited, shares, paid_at)
			WHERE o.id = u.id`, u.id, u.state, u.credited, u.shares, u.paidAt, now)
	}
	if len(ev.order) > 0 {
		b.Queue(`INSERT INTO order_events(order_id, at, from_state, to_state, detail)
			SELECT e.order_id, $2, $3, $4, e.detail FROM unnest($1::text[], $5::text[]) AS e(order_id, detail)`,
			ev.order, now, string(broker.StateWorking), string(broker.StatePaid), ev.detail)
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("pgstore: share group: update orders: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: share group: commit: %w", err)
	}
	return nil
}

// Share reads a recorded share by header hash; broker.ErrNotFound when it is not stored.
func (s *Store) Share(ctx context.Context, hash [32]byte) (*broker.Share, error) {
	var (
		sh        broker.Share
		hh        []byte
		nonce, at int64
	)
	err := s.pool.QueryRow(ctx, `SELECT header_hash, order_id, assignment_id, worker, job_id, nonce,
		difficulty, at, block_candidate FROM shares WHERE header_hash = $1`, hash[:]).Scan(&hh, &sh.OrderID,
		&sh.AssignmentID, &sh.Worker, &sh.JobID, &nonce, &sh.Difficulty, &at, &sh.BlockCandidate)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: share %s: %w", hex.EncodeToString(hash[:]), broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: read share %s: %w", hex.EncodeToString(hash[:]), err)
	}
	copy(sh.HeaderHash[:], hh)
	sh.Nonce = uint32(nonce)
	sh.At = fromNanos(at)
	return &sh, nil
}

// ShareStats reports the number of accepted (credited) shares over all orders.
func (s *Store) ShareStats(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(shares), 0)::int8 FROM orders`).Scan(&n); err != nil {
		return 0, fmt.Errorf("pgstore: share stats: %w", err)
	}
	return n, nil
}

// OrderShares reports the number of shares credited to an order; broker.ErrNotFound for
// an unknown order.
func (s *Store) OrderShares(ctx context.Context, orderID string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT shares FROM orders WHERE id = $1`, orderID).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("pgstore: shares of order %s: %w", orderID, broker.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("pgstore: shares of order %s: %w", orderID, err)
	}
	return n, nil
}
