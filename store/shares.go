package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// WriterStats counts what the share writer did since Open.
type WriterStats struct {
	Groups     uint64 // committed groups
	Shares     uint64 // shares in committed groups (accepted, duplicate or unknown order)
	Accepted   uint64 // shares newly recorded and credited
	Duplicates uint64
	Failed     uint64 // shares whose group failed to commit
	MaxGroup   uint64 // largest committed group
}

type shareReq struct {
	sh   *Share
	resp chan shareResp
}

type shareResp struct {
	res ShareResult
	err error
}

// orderAcc is the state of one order inside a group transaction.
type orderAcc struct {
	found    bool
	state    State
	required float64
	credited float64
	shares   int64
	paidAt   int64
	dirty    bool
}

type shareWriter struct {
	s *Store

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan shareReq
	done   chan struct{}

	selOrder, insShare, updOrder, insEvent *sql.Stmt

	groups, shares, accepted, duplicates, failed, maxGroup atomic.Uint64
	sent                                                   atomic.Uint64 // shares handed to the writer
}

func newShareWriter(s *Store) (*shareWriter, error) {
	w := &shareWriter{
		s:     s,
		queue: make(chan shareReq, 4*s.opt.GroupMax),
		done:  make(chan struct{}),
	}
	ctx := context.Background()
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = s.wdb.PrepareContext(ctx, q)
		if err != nil {
			err = fmt.Errorf("prepare %q: %w", q, err)
		}
		return st
	}
	w.selOrder = prep(`SELECT state, required_work, credited_work, shares, paid_at FROM orders WHERE id = ?`)
	w.insShare = prep(`INSERT INTO shares(header_hash, order_id, assignment_id, worker, job_id, nonce,
		difficulty, at, block_candidate) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(header_hash) DO NOTHING`)
	w.updOrder = prep(`UPDATE orders SET state = ?, credited_work = ?, shares = ?, paid_at = ?,
		updated_at = ? WHERE id = ?`)
	w.insEvent = prep(`INSERT INTO order_events(order_id, at, from_state, to_state, detail)
		VALUES(?, ?, ?, ?, ?)`)
	if err != nil {
		w.closeStmts()
		return nil, err
	}
	return w, nil
}

func (w *shareWriter) closeStmts() error {
	var errs []error
	for _, st := range []*sql.Stmt{w.selOrder, w.insShare, w.updOrder, w.insEvent} {
		if st != nil {
			if err := st.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
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

// RecordShare records an accepted share and credits its order. It returns only after the
// group commit containing the share is durable, or with an error (then the share must not
// be reported accepted; it may or may not have been stored).
//
// In its group's transaction, in arrival order: a share whose header hash is already
// stored gives Duplicate=true and credits nothing; otherwise the order's credited work
// grows by sh.Difficulty and its share count by one, whatever its state, and an order in
// state working that reaches its required work becomes paid (PaidAt = the share's time,
// an order_events row "enough work: X of Y units", BecamePaid=true). A share for an
// unknown order fails alone with an error wrapping ErrNotFound.
func (s *Store) RecordShare(ctx context.Context, sh *Share) (ShareResult, error) {
	if err := checkShare(sh); err != nil {
		return ShareResult{}, err
	}
	req := shareReq{sh: sh, resp: make(chan shareResp, 1)}
	w := s.shares
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ShareResult{}, ErrClosed
	}
	select {
	case w.queue <- req:
		w.mu.RUnlock()
		w.sent.Add(1)
	case <-ctx.Done():
		w.mu.RUnlock()
		return ShareResult{}, fmt.Errorf("store: record share: %w", ctx.Err())
	}
	select {
	case r := <-req.resp:
		return r.res, r.err
	case <-ctx.Done():
		// The share may still be committed; it is simply not acknowledged.
		return ShareResult{}, fmt.Errorf("store: record share: %w", ctx.Err())
	}
}

func checkShare(sh *Share) error {
	if sh == nil {
		return errors.New("store: nil share")
	}
	if sh.OrderID == "" {
		return errors.New("store: share without order id")
	}
	if math.IsNaN(sh.Difficulty) || math.IsInf(sh.Difficulty, 0) || sh.Difficulty < 0 {
		return fmt.Errorf("store: share %x: bad difficulty %v", sh.HeaderHash, sh.Difficulty)
	}
	return nil
}

// RecordShares records several shares as RecordShare does, in the given order, queuing
// them all before waiting so that they share group commits (one HTTP post carrying many
// proofs waits for one or two commits, not one per share). results[i] and errs[i] belong
// to shares[i].
func (s *Store) RecordShares(ctx context.Context, shares []*Share) (results []ShareResult, errs []error) {
	results = make([]ShareResult, len(shares))
	errs = make([]error, len(shares))
	reqs := make([]shareReq, len(shares))
	w := s.shares
	w.mu.RLock()
	for i, sh := range shares {
		if errs[i] = checkShare(sh); errs[i] != nil {
			continue
		}
		if w.closed {
			errs[i] = ErrClosed
			continue
		}
		req := shareReq{sh: sh, resp: make(chan shareResp, 1)}
		select {
		case w.queue <- req:
			w.sent.Add(1)
			reqs[i] = req
		case <-ctx.Done():
			errs[i] = fmt.Errorf("store: record share: %w", ctx.Err())
		}
	}
	w.mu.RUnlock()
	for i, req := range reqs {
		if req.resp == nil {
			continue
		}
		select {
		case r := <-req.resp:
			results[i], errs[i] = r.res, r.err
		case <-ctx.Done():
			errs[i] = fmt.Errorf("store: record share: %w", ctx.Err())
		}
	}
	return results, errs
}

// Stats reports the share writer's counters.
func (s *Store) Stats() WriterStats {
	w := s.shares
	return WriterStats{
		Groups:     w.groups.Load(),
		Shares:     w.shares.Load(),
		Accepted:   w.accepted.Load(),
		Duplicates: w.duplicates.Load(),
		Failed:     w.failed.Load(),
		MaxGroup:   w.maxGroup.Load(),
	}
}

func (w *shareWriter) run() {
	defer close(w.done)
	opt := w.s.opt
	batch := make([]shareReq, 0, opt.GroupMax)
	resps := make([]shareResp, 0, opt.GroupMax)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first, ok := <-w.queue
		if !ok {
			return
		}
		batch = append(batch[:0], first)
		open := true
		wait := opt.GroupDelay > 0
		if wait {
			timer.Reset(opt.GroupDelay)
		}
	collect:
		for len(batch) < opt.GroupMax {
			// Take what is already queued without touching the timer.
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
			if !wait {
				// No delay: commit what was queued; more queues up during the commit.
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

		resps = w.commit(batch, resps[:0])
		for i, r := range batch {
			r.resp <- resps[i]
			batch[i] = shareReq{}
		}
		if !open {
			// The queue is closed and drained (a closed channel yields only after its
			// buffer is empty).
			return
		}
	}
}

// commit writes one group in one transaction and returns a response per share.
func (w *shareWriter) commit(batch []shareReq, resps []shareResp) []shareResp {
	ctx := context.Background()
	n := uint64(len(batch))
	fail := func(err error) []shareResp {
		w.s.log.Error("store: share group failed", "shares", len(batch), "err", err)
		w.failed.Add(n)
		resps = resps[:0]
		for range batch {
			resps = append(resps, shareResp{err: err})
		}
		return resps
	}
	tx, err := w.s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("store: share group: begin: %w", err))
	}
	defer tx.Rollback()
	selOrder := tx.StmtContext(ctx, w.selOrder)
	insShare := tx.StmtContext(ctx, w.insShare)
	updOrder := tx.StmtContext(ctx, w.updOrder)
	insEvent := tx.StmtContext(ctx, w.insEvent)

	orders := make(map[string]*orderAcc)
	now := time.Now().UnixNano()
	var accepted, dups uint64
	for _, r := range batch {
		sh := r.sh
		acc := orders[sh.OrderID]
		if acc == nil {
			acc = &orderAcc{}
			var state string
			err := selOrder.QueryRowContext(ctx, sh.OrderID).Scan(&state, &acc.required, &acc.credited,
				&acc.shares, &acc.paidAt)
			switch {
			case err == nil:
				acc.found = true
				acc.state = State(state)
			case errors.Is(err, sql.ErrNoRows):
			default:
				return fail(fmt.Errorf("store: share group: load order %s: %w", sh.OrderID, err))
			}
			orders[sh.OrderID] = acc
		}
		if !acc.found {
			resps = append(resps, shareResp{err: fmt.Errorf("store: share %x for order %s: %w",
				sh.HeaderHash, sh.OrderID, ErrNotFound)})
			continue
		}
		at := toNanos(sh.At)
		if at == 0 {
			at = now
		}
		res, err := insShare.ExecContext(ctx, sh.HeaderHash[:], sh.OrderID, sh.AssignmentID, sh.Worker,
			sh.JobID, int64(sh.Nonce), sh.Difficulty, at, sh.BlockCandidate)
		if err != nil {
			return fail(fmt.Errorf("store: share group: insert share %x: %w", sh.HeaderHash, err))
		}
		ins, err := res.RowsAffected()
		if err != nil {
			return fail(fmt.Errorf("store: share group: insert share %x: %w", sh.HeaderHash, err))
		}
		if ins == 0 {
			dups++
			resps = append(resps, shareResp{res: ShareResult{Duplicate: true, OrderState: acc.state,
				CreditedWork: acc.credited}})
			continue
		}
		accepted++
		acc.credited += sh.Difficulty
		acc.shares++
		acc.dirty = true
		became := false
		if acc.state == StateWorking && acc.credited >= acc.required {
			acc.state = StatePaid
			acc.paidAt = at
			became = true
			detail := "enough work: " + formatWork(acc.credited) + " of " + formatWork(acc.required) + " units"
			if _, err := insEvent.ExecContext(ctx, sh.OrderID, now, string(StateWorking), string(StatePaid),
				detail); err != nil {
				return fail(fmt.Errorf("store: share group: paid event for order %s: %w", sh.OrderID, err))
			}
		}
		resps = append(resps, shareResp{res: ShareResult{OrderState: acc.state, CreditedWork: acc.credited,
			BecamePaid: became}})
	}
	for id, acc := range orders {
		if !acc.dirty {
			continue
		}
		if _, err := updOrder.ExecContext(ctx, string(acc.state), acc.credited, acc.shares, acc.paidAt,
			now, id); err != nil {
			return fail(fmt.Errorf("store: share group: update order %s: %w", id, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("store: share group: commit: %w", err))
	}
	w.groups.Add(1)
	w.shares.Add(n)
	w.accepted.Add(accepted)
	w.duplicates.Add(dups)
	for {
		m := w.maxGroup.Load()
		if n <= m || w.maxGroup.CompareAndSwap(m, n) {
			break
		}
	}
	return resps
}

func formatWork(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

// Share reads a recorded share by header hash; ErrNotFound when it is not stored.
func (s *Store) Share(ctx context.Context, hash [32]byte) (*Share, error) {
	var (
		sh    Share
		hh    []byte
		nonce int64
		at    int64
	)
	err := s.rdb.QueryRowContext(ctx, `SELECT header_hash, order_id, assignment_id, worker, job_id, nonce,
		difficulty, at, block_candidate FROM shares WHERE header_hash = ?`, hash[:]).Scan(&hh, &sh.OrderID,
		&sh.AssignmentID, &sh.Worker, &sh.JobID, &nonce, &sh.Difficulty, &at, &sh.BlockCandidate)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: share %s: %w", hex.EncodeToString(hash[:]), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read share %s: %w", hex.EncodeToString(hash[:]), err)
	}
	copy(sh.HeaderHash[:], hh)
	sh.Nonce = uint32(nonce)
	sh.At = fromNanos(at)
	return &sh, nil
}

// ShareStats reports the number of accepted (credited) shares over all orders.
func (s *Store) ShareStats(ctx context.Context) (accepted int64, err error) {
	if err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(SUM(shares), 0) FROM orders`).Scan(&accepted); err != nil {
		return 0, fmt.Errorf("store: share stats: %w", err)
	}
	return accepted, nil
}

// OrderShares reports the number of shares credited to an order; ErrNotFound for an
// unknown order.
func (s *Store) OrderShares(ctx context.Context, orderID string) (int64, error) {
	var n int64
	err := s.rdb.QueryRowContext(ctx, `SELECT shares FROM orders WHERE id = ?`, orderID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: shares of order %s: %w", orderID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("store: shares of order %s: %w", orderID, err)
	}
	return n, nil
}
