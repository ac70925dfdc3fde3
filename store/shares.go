package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/store/sharegroup"
)

// orderAcc is the state of one order inside a group transaction.
type orderAcc struct {
	found  bool
	work   broker.OrderWork
	paidAt int64
	dirty  bool
}

type shareWriter struct {
	s *Store
	q *sharegroup.Queue

	selOrder, insShare, updOrder, insEvent *sql.Stmt
}

func newShareWriter(s *Store) (*shareWriter, error) {
	w := &shareWriter{s: s}
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

// start begins taking shares.
func (w *shareWriter) start() {
	w.q = sharegroup.New("store", w.s.opt.GroupDelay, w.s.opt.GroupMax, w.commit, w.s.opt.ObserveCommit)
}

// stop refuses new shares, lets the writer commit what is queued, and waits for it.
func (w *shareWriter) stop() { w.q.Stop() }

// RecordShares records accepted shares and credits their orders (broker.Store): it
// queues them all before waiting, so that they share group commits (one HTTP post
// carrying many proofs waits for one or two commits, not one per share), and returns
// only after the group commit containing each share is durable, or with an error (then
// the share must not be reported accepted; it may or may not have been stored).
//
// In its group's transaction, in arrival order: a share whose header hash is already
// stored gives Duplicate=true and credits nothing; otherwise broker.CreditShare credits
// the order, and when it makes the order paid, PaidAt is the share's time and an
// order_events row (broker.PaidDetail) goes with it. A share for an unknown order fails
// alone with an error wrapping broker.ErrNotFound. results[i] and errs[i] belong to
// shares[i].
func (s *Store) RecordShares(ctx context.Context, shares []*broker.Share) (results []broker.Recorded, errs []error) {
	return s.shares.q.Record(ctx, shares)
}

// Stats reports the share writer's counters.
func (s *Store) Stats() broker.WriterStats { return s.shares.q.Stats() }

// commit writes one group in one transaction (a sharegroup.Commit).
func (w *shareWriter) commit(batch []*broker.Share, res []broker.Recorded, errs []error) error {
	ctx := context.Background()
	fail := func(err error) error {
		err = storageFault(err)
		w.s.log.Error("store: share group failed", "shares", len(batch), "err", err)
		return err
	}
	tx, err := w.s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("store: share group: begin: %w", err))
	}
	defer tx.Rollback()
	g := &group{
		ctx: ctx, selOrder: tx.StmtContext(ctx, w.selOrder), insShare: tx.StmtContext(ctx, w.insShare),
		updOrder: tx.StmtContext(ctx, w.updOrder), insEvent: tx.StmtContext(ctx, w.insEvent),
		orders: make(map[string]*orderAcc), now: time.Now().UnixNano(),
	}
	for i, sh := range batch {
		r, err := g.record(sh)
		var ge groupError
		if errors.As(err, &ge) {
			return fail(ge.err)
		}
		res[i], errs[i] = r, err
	}
	if err := g.updateOrders(); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("store: share group: commit: %w", err))
	}
	return nil
}

// group is one share group's transaction: its statements and the orders it touched.
type group struct {
	ctx                                    context.Context
	selOrder, insShare, updOrder, insEvent *sql.Stmt
	orders                                 map[string]*orderAcc
	now                                    int64
}

// groupError is an error that fails the whole group (its transaction is unusable).
type groupError struct{ err error }

func (e groupError) Error() string { return e.err.Error() }

// order loads the work account of an order once per group.
func (g *group) order(id string) (*orderAcc, error) {
	if acc := g.orders[id]; acc != nil {
		return acc, nil
	}
	acc := &orderAcc{}
	var state string
	err := g.selOrder.QueryRowContext(g.ctx, id).Scan(&state, &acc.work.Required, &acc.work.Credited,
		&acc.work.Shares, &acc.paidAt)
	switch {
	case err == nil:
		acc.found = true
		acc.work.State = broker.State(state)
	case errors.Is(err, sql.ErrNoRows):
	default:
		return nil, groupError{fmt.Errorf("store: share group: load order %s: %w", id, err)}
	}
	g.orders[id] = acc
	return acc, nil
}

// record inserts one share and credits its order with the broker's paid rule. An error
// that is not a groupError concerns this share alone.
func (g *group) record(sh *broker.Share) (broker.Recorded, error) {
	acc, err := g.order(sh.OrderID)
	if err != nil {
		return broker.Recorded{}, err
	}
	if !acc.found {
		return broker.Recorded{}, fmt.Errorf("store: share %x for order %s: %w", sh.HeaderHash, sh.OrderID, broker.ErrNotFound)
	}
	at := toNanos(sh.At)
	if at == 0 {
		at = g.now
	}
	res, err := g.insShare.ExecContext(g.ctx, sh.HeaderHash[:], sh.OrderID, sh.AssignmentID, sh.Worker,
		sh.JobID, int64(sh.Nonce), sh.Difficulty, at, sh.BlockCandidate)
	if err != nil {
		return broker.Recorded{}, groupError{fmt.Errorf("store: share group: insert share %x: %w", sh.HeaderHash, err)}
	}
	ins, err := res.RowsAffected()
	if err != nil {
		return broker.Recorded{}, groupError{fmt.Errorf("store: share group: insert share %x: %w", sh.HeaderHash, err)}
	}
	if ins == 0 {
		return broker.Recorded{Duplicate: true, OrderState: acc.work.State, CreditedWork: acc.work.Credited}, nil
	}
	acc.dirty = true
	became := broker.CreditShare(&acc.work, sh.Difficulty)
	if became {
		acc.paidAt = at
		if _, err := g.insEvent.ExecContext(g.ctx, sh.OrderID, g.now, string(broker.StateWorking),
			string(broker.StatePaid), broker.PaidDetail(acc.work)); err != nil {
			return broker.Recorded{}, groupError{fmt.Errorf("store: share group: paid event for order %s: %w", sh.OrderID, err)}
		}
	}
	return broker.Recorded{OrderState: acc.work.State, CreditedWork: acc.work.Credited, BecamePaid: became}, nil
}

// updateOrders writes the work accounts the group changed.
func (g *group) updateOrders() error {
	for id, acc := range g.orders {
		if !acc.dirty {
			continue
		}
		if _, err := g.updOrder.ExecContext(g.ctx, string(acc.work.State), acc.work.Credited, acc.work.Shares,
			acc.paidAt, g.now, id); err != nil {
			return fmt.Errorf("store: share group: update order %s: %w", id, err)
		}
	}
	return nil
}

// Share reads a recorded share by header hash; ErrNotFound when it is not stored.
func (s *Store) Share(ctx context.Context, hash [32]byte) (*broker.Share, error) {
	var (
		sh    broker.Share
		hh    []byte
		nonce int64
		at    int64
	)
	err := s.rdb.QueryRowContext(ctx, `SELECT header_hash, order_id, assignment_id, worker, job_id, nonce,
		difficulty, at, block_candidate FROM shares WHERE header_hash = ?`, hash[:]).Scan(&hh, &sh.OrderID,
		&sh.AssignmentID, &sh.Worker, &sh.JobID, &nonce, &sh.Difficulty, &at, &sh.BlockCandidate)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: share %s: %w", hex.EncodeToString(hash[:]), broker.ErrNotFound)
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
