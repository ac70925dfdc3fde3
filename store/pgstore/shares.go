package pgstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/proofow/powbroker/broker"
)

type shareReq struct {
	sh   *broker.Share
	resp chan shareResp
}

type shareResp struct {
	res broker.Recorded
	err error
}

// orderAcc is the state of one order inside a group transaction.
type orderAcc struct {
	work   broker.OrderWork
	paidAt int64
	dirty  bool
}

type shareWriter struct {
	s *Store

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan shareReq
	done   chan struct{}

	groups, shares, accepted, duplicates, failed, maxGroup atomic.Uint64
}

func newShareWriter(s *Store) *shareWriter {
	return &shareWriter{s: s, queue: make(chan shareReq, 4*s.opt.GroupMax), done: make(chan struct{})}
}

// stop refuses new shares, lets the writer commit what is queued, and waits for it.
func (w *shareWriter) stop() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
}

func checkShare(sh *broker.Share) error {
	if sh == nil {
		return errors.New("pgstore: nil share")
	}
	if sh.OrderID == "" {
		return errors.New("pgstore: share without order id")
	}
	if math.IsNaN(sh.Difficulty) || math.IsInf(sh.Difficulty, 0) || sh.Difficulty < 0 {
		return fmt.Errorf("pgstore: share %x: bad difficulty %v", sh.HeaderHash, sh.Difficulty)
	}
	return nil
}

// enqueue hands sh to the writer; the caller holds w.mu for reading.
func (w *shareWriter) enqueue(ctx context.Context, sh *broker.Share) (shareReq, error) {
	if err := checkShare(sh); err != nil {
		return shareReq{}, err
	}
	if w.closed {
		return shareReq{}, broker.ErrStoreClosed
	}
	req := shareReq{sh: sh, resp: make(chan shareResp, 1)}
	select {
	case w.queue <- req:
		return req, nil
	case <-ctx.Done():
		return shareReq{}, fmt.Errorf("pgstore: record share: %w", ctx.Err())
	}
}

func wait(ctx context.Context, req shareReq) (broker.Recorded, error) {
	select {
	case r := <-req.resp:
		return r.res, r.err
	case <-ctx.Done():
		// The share may still be committed; it is simply not acknowledged.
		return broker.Recorded{}, fmt.Errorf("pgstore: record share: %w", ctx.Err())
	}
}

// RecordShares records accepted shares and credits their orders (broker.CreditShare),
// queuing them all before waiting so that they share group commits, and answers each
// only after its group's COMMIT returned. A hash stored before (or earlier in the same
// call) gives Duplicate=true and credits nothing; a share for an unknown order fails
// alone with broker.ErrNotFound; after Close, broker.ErrStoreClosed.
func (s *Store) RecordShares(ctx context.Context, shares []*broker.Share) ([]broker.Recorded, []error) {
	results := make([]broker.Recorded, len(shares))
	errs := make([]error, len(shares))
	reqs := make([]shareReq, len(shares))
	w := s.shares
	w.mu.RLock()
	for i, sh := range shares {
		reqs[i], errs[i] = w.enqueue(ctx, sh)
	}
	w.mu.RUnlock()
	for i, req := range reqs {
		if req.resp != nil {
			results[i], errs[i] = wait(ctx, req)
		}
	}
	return results, errs
}

// Stats reports the share writer's counters.
func (s *Store) Stats() broker.WriterStats {
	w := s.shares
	return broker.WriterStats{
		Groups: w.groups.Load(), Shares: w.shares.Load(), Accepted: w.accepted.Load(),
		Duplicates: w.duplicates.Load(), Failed: w.failed.Load(), MaxGroup: w.maxGroup.Load(),
	}
}

func (w *shareWriter) run() {
	defer close(w.done)
	opt := w.s.opt
	batch := make([]shareReq, 0, opt.GroupMax)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first, ok := <-w.queue
		if !ok {
			return
		}
		batch = append(batch[:0], first)
		open := true
		if opt.GroupDelay > 0 {
			timer.Reset(opt.GroupDelay)
		}
	collect:
		for len(batch) < opt.GroupMax {
			select {
			case r, ok := <-w.queue:
				if !ok {
					open = false
					break collect
				}
				batch = append(batch, r)
				continue
			default:
			}
			if opt.GroupDelay <= 0 {
				break collect
			}
			select {
			case r, ok := <-w.queue:
				if !ok {
					open = false
					break collect
				}
				batch = append(batch, r)
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		resps := w.commit(batch)
		for i, r := range batch {
			r.resp <- resps[i]
			batch[i] = shareReq{}
		}
		if !open {
			return
		}
	}
}

// commit writes one group in one transaction and returns a response per share.
func (w *shareWriter) commit(batch []shareReq) []shareResp {
	ctx := context.Background()
	started := time.Now()
	resps, err := w.commitTx(ctx, batch)
	if err == nil && w.s.opt.ObserveCommit != nil {
		w.s.opt.ObserveCommit(len(batch), time.Since(started))
	}
	n := uint64(len(batch))
	if err != nil {
		w.s.log.Error("pgstore: share group failed", "shares", len(batch), "err", err)
		w.failed.Add(n)
		resps = make([]shareResp, len(batch))
		for i := range resps {
			resps[i].err = err
		}
		return resps
	}
	w.groups.Add(1)
	w.shares.Add(n)
	for {
		m := w.maxGroup.Load()
		if n <= m || w.maxGroup.CompareAndSwap(m, n) {
			break
		}
	}
	return resps
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
func (w *shareWriter) commitTx(ctx context.Context, batch []shareReq) ([]shareResp, error) {
	now := time.Now().UnixNano()
	ids := make([]string, 0, 4)
	seen := make(map[string]bool, 4)
	for _, r := range batch {
		if !seen[r.sh.OrderID] {
			seen[r.sh.OrderID] = true
			ids = append(ids, r.sh.OrderID)
		}
	}
	tx, err := w.s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: share group: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	orders := make(map[string]*orderAcc, len(ids))
	rows, err := tx.Query(ctx, `SELECT id, state, required_work, credited_work, shares, paid_at
		FROM orders WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, fmt.Errorf("pgstore: share group: load orders: %w", err)
	}
	for rows.Next() {
		var id, state string
		acc := &orderAcc{}
		if err := rows.Scan(&id, &state, &acc.work.Required, &acc.work.Credited, &acc.work.Shares, &acc.paidAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pgstore: share group: load orders: %w", err)
		}
		acc.work.State = broker.State(state)
		orders[id] = acc
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: share group: load orders: %w", err)
	}
	var g groupRows
	ats := make([]int64, len(batch))
	for i, r := range batch {
		ats[i] = toNanos(r.sh.At)
		if ats[i] == 0 {
			ats[i] = now
		}
		if orders[r.sh.OrderID] != nil {
			g.add(r.sh, ats[i])
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
			return nil, fmt.Errorf("pgstore: share group: insert shares: %w", err)
		}
		for rows.Next() {
			var h []byte
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return nil, fmt.Errorf("pgstore: share group: insert shares: %w", err)
			}
			inserted[[32]byte(h)] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("pgstore: share group: insert shares: %w", err)
		}
	}
	resps := make([]shareResp, len(batch))
	var ev struct {
		order, detail []string
	}
	var accepted, dups uint64
	for i, r := range batch {
		sh := r.sh
		acc := orders[sh.OrderID]
		if acc == nil {
			resps[i].err = fmt.Errorf("pgstore: share %x for order %s: %w", sh.HeaderHash, sh.OrderID, broker.ErrNotFound)
			continue
		}
		if !inserted[sh.HeaderHash] {
			dups++
			resps[i].res = broker.Recorded{Duplicate: true, OrderState: acc.work.State, CreditedWork: acc.work.Credited}
			continue
		}
		delete(inserted, sh.HeaderHash) // a second copy in the same group is a duplicate
		accepted++
		acc.dirty = true
		became := broker.CreditShare(&acc.work, sh.Difficulty)
		if became {
			acc.paidAt = ats[i]
			ev.order = append(ev.order, sh.OrderID)
			ev.detail = append(ev.detail, broker.PaidDetail(acc.work))
		}
		resps[i].res = broker.Recorded{OrderState: acc.work.State, CreditedWork: acc.work.Credited, BecamePaid: became}
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
			return nil, fmt.Errorf("pgstore: share group: update orders: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("pgstore: share group: commit: %w", err)
	}
	w.accepted.Add(accepted)
	w.duplicates.Add(dups)
	return resps, nil
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
