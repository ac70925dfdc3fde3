package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/miner"
)

// maxFutureTime is how far ahead of now a share's header time may be.
const maxFutureTime = 2 * time.Hour

// shareDifficulty is the difficulty of HTTP assignments: the configured one, never
// harder than the network's.
func (b *Broker) shareDifficulty() float64 {
	d := b.cfg.ShareDifficulty
	if j := b.jobs.cur(); j != nil {
		d = min(d, j.NetworkDifficulty())
	}
	return d
}

// Work is one share to check, from any transport.
type Work struct {
	OrderID      string
	JobID        string
	Extranonce1  []byte
	Extranonce2  []byte
	NTime        uint32
	Nonce        uint32
	Version      int32
	ShareDiff    float64 // difficulty the share is judged at (its job's, for Stratum)
	Worker       string
	AssignmentID string
}

// ShareResult is what the broker did with an accepted share.
type ShareResult struct {
	Hash          chainhash.Hash // header hash, internal byte order
	Difficulty    float64        // credited work units (the share difficulty)
	Achieved      float64        // difficulty the hash reached
	Block         bool           // the share met the network target: a block was submitted
	BlockAccepted bool
	OrderState    State
	CreditedWork  float64
	BecamePaid    bool
}

// ShareError is a rejected share; Block reports a block submitted from it anyway
// (a stale share that met the network target).
type ShareError struct {
	Problem       *Error
	Block         bool
	BlockAccepted bool
	Hash          chainhash.Hash
}

func (e *ShareError) Error() string { return e.Problem.Error() }
func (e *ShareError) Unwrap() error { return e.Problem }

// SubmitWork is the one share path: rebuild the header from the job and the
// extranonces, hash it, compare with the share target, submit a block when it meets
// the network target, reject stale jobs, record it durably (duplicates by header
// hash) and credit the order. It returns only after the share is durable.
func (b *Broker) SubmitWork(ctx context.Context, w Work) (ShareResult, error) {
	if b.observeShare != nil {
		start := time.Now()
		defer func() { b.observeShare(time.Since(start)) }()
	}
	j, err := b.judge(ctx, w)
	var res ShareResult
	if err == nil {
		recs, errs := b.store.RecordShares(ctx, []*Share{j.rec})
		res, err = b.settle(ctx, j, recs[0], errs[0])
	} else {
		res = j.res
	}
	b.count(res, err)
	return res, err
}

// judged is a share checked up to its durable write: the result so far and the record
// to write.
type judged struct {
	res ShareResult
	rec *Share
}

// judge runs the share path up to the durable write: job, header, hash, share target,
// block submission, order state and staleness.
func (b *Broker) judge(ctx context.Context, w Work) (judged, error) {
	var res ShareResult
	fail := func(e *Error) (judged, error) { return judged{res: res}, e }
	job := b.jobs.get(w.JobID)
	if job == nil {
		return fail(problem(KindStaleJob, "job %q is unknown or too old; fetch new work", w.JobID))
	}
	hdr, sum, err := b.checker.Check(job, &w)
	res.Hash = chainhash.Hash(sum)
	if err != nil {
		return judged{res: res}, err
	}
	res.Achieved = chain.HashDifficulty(&res.Hash)
	// Judge staleness and the order's state before a block of this share moves the
	// tip (and mines the order).
	stale := job.PrevHash != b.Tip().Hash
	state, active := b.activeState(w.OrderID)
	working := active && state == StateWorking
	if job.netTarget.Meets(&sum) && !job.solved.Load() {
		res.Block = true
		res.BlockAccepted = b.submitBlock(ctx, job, w, &hdr)
		if res.BlockAccepted {
			job.solved.Store(true)
		}
	}
	reject := func(e *Error) (judged, error) {
		return judged{res: res}, &ShareError{Problem: e, Block: res.Block, BlockAccepted: res.BlockAccepted, Hash: res.Hash}
	}
	if !working {
		return reject(b.notWorking(ctx, w.OrderID))
	}
	if stale {
		return reject(problem(KindStaleJob, "job %s was built on block %s, no longer the tip", job.ID, job.PrevHash))
	}
	return judged{res: res, rec: &Share{
		HeaderHash: sum, OrderID: w.OrderID, AssignmentID: w.AssignmentID, Worker: w.Worker,
		JobID: job.ID, Nonce: w.Nonce, Difficulty: w.ShareDiff, At: time.Now(), BlockCandidate: res.Block,
	}}, nil
}

// settle finishes a judged share once its durable write returned.
func (b *Broker) settle(ctx context.Context, j judged, rec Recorded, err error) (ShareResult, error) {
	res := j.res
	if errors.Is(err, ErrStorageFault) {
		b.log.Warn("share not recorded: storage fault", "order", j.rec.OrderID, "err", err)
		return res, problem(KindStorageUnavailable, "the share was not recorded and nothing was credited (%v); send it again shortly", err)
	}
	if err != nil {
		return res, fmt.Errorf("record share: %w", err)
	}
	if rec.Duplicate {
		return res, &ShareError{Problem: problem(KindDuplicateShare, "a share with header hash %s was already submitted", res.Hash),
			Block: res.Block, BlockAccepted: res.BlockAccepted, Hash: res.Hash}
	}
	res.Difficulty, res.OrderState, res.CreditedWork, res.BecamePaid = j.rec.Difficulty, rec.OrderState, rec.CreditedWork, rec.BecamePaid
	if rec.BecamePaid {
		b.paid(ctx, j.rec.OrderID, rec.CreditedWork)
	} else {
		b.watch.notify(j.rec.OrderID)
	}
	return res, nil
}

// count tallies a share's outcome for status and metrics.
func (b *Broker) count(res ShareResult, err error) {
	if err != nil {
		b.rejected(err)
		b.live.hist.add(time.Now(), 0, KindOf(err))
		return
	}
	b.sharesAccepted.Add(1)
	b.rate.add(res.Difficulty)
	b.live.hist.add(time.Now(), res.Difficulty, "")
}

// notWorking explains why an order takes no shares.
func (b *Broker) notWorking(ctx context.Context, id string) *Error {
	o, err := b.store.Order(ctx, id)
	if err != nil {
		return problem(KindNotFound, "no order %q", id)
	}
	switch o.State {
	case StatePaid, StateMined, StateConfirmed:
		return problem(KindOrderComplete, "order %s is %s: it needs no more work, stop mining it", id, o.State)
	case StateExpired:
		return problem(KindExpired, "order %s expired before enough work arrived", id)
	default:
		return problem(KindOrderClosed, "order %s is %s", id, o.State)
	}
}

// StaleBlockPrefix starts the Reason of a recorded block that was valid but lost the
// race at its height (chain.BlockError.Stale), as opposed to one the chain rejected.
const StaleBlockPrefix = "stale: "

// SubmittedBlockReason is the Reason of a block recorded before the chain answered:
// kept only when the daemon stopped in between; Start then asks the chain.
const SubmittedBlockReason = "submitted; the chain's answer was not recorded"

// submitBlock assembles and submits the block of a share that met the network target.
func (b *Broker) submitBlock(ctx context.Context, job *Job, w Work, hdr *miner.Header) bool {
	blk, err := job.Block(w.Extranonce1, w.Extranonce2, hdr)
	if err != nil {
		b.log.Error("assemble found block", "job", job.ID, "err", err)
		return false
	}
	hash := blk.BlockHash()
	rec := &Block{Hash: hash.String(), Height: job.Height, PrevHash: job.PrevHash.String(), FoundAt: time.Now(), OrderIDs: job.Orders}
	for _, tx := range blk.Transactions {
		rec.Txids = append(rec.Txids, tx.TxHash().String())
	}
	if down := b.nodeDown(); down != nil {
		// The node is known not to answer: waiting for its timeout on every block
		// share would stall share answers (on regtest every share is a block).
		err = fmt.Errorf("not submitted: %w", down)
	} else {
		// Recorded first: the chain's tip event may mark orders mined by this block
		// before its answer is recorded below.
		rec.Reason = SubmittedBlockReason
		if serr := b.store.AddBlock(context.WithoutCancel(ctx), rec); serr != nil {
			b.log.Error("record block", "hash", hash, "err", serr)
		}
		rec.Reason = ""
		err = b.backend.SubmitBlock(ctx, blk)
	}
	rec.Accepted = err == nil
	var be *chain.BlockError
	switch {
	case errors.As(err, &be) && be.Stale:
		// Valid, but another block took its height first: a lost race, not a fault.
		rec.Reason = StaleBlockPrefix + be.Reason
		b.log.Info("stale block", "hash", hash, "height", job.Height, "reason", be.Reason)
	case err != nil:
		rec.Reason = err.Error()
		b.log.Warn("block rejected", "hash", hash, "height", job.Height, "err", err)
	default:
		b.blocksFound.Add(1)
		b.log.Info("block found", "hash", hash, "height", job.Height, "orders", len(job.Orders), "worker", w.Worker)
	}
	if serr := b.store.AddBlock(context.WithoutCancel(ctx), rec); serr != nil {
		b.log.Error("record block", "hash", hash, "err", serr)
	}
	b.live.publish(Change{Kind: ChangeBlock, Block: rec})
	return err == nil
}

// AssignmentView is an assignment with what a worker needs to scan it.
type AssignmentView struct {
	*Assignment
	ShareTarget   miner.Target
	NetworkTarget miner.Target
}

// NextAssignment hands out a new assignment for a working order.
func (b *Broker) NextAssignment(ctx context.Context, id, token string) (*AssignmentView, error) {
	o, err := b.Authorize(ctx, id, token)
	if err != nil {
		return nil, err
	}
	a, err := b.newAssignment(ctx, o)
	if err != nil {
		return nil, err
	}
	return b.assignmentView(a), nil
}

// AssignmentView renders an assignment for its worker.
func (b *Broker) AssignmentView(a *Assignment) *AssignmentView { return b.assignmentView(a) }

func (b *Broker) assignmentView(a *Assignment) *AssignmentView {
	v := &AssignmentView{Assignment: a, ShareTarget: miner.TargetFromBig(chain.DifficultyTarget(a.ShareDiff))}
	if j := b.jobs.get(a.JobID); j != nil {
		v.NetworkTarget = j.netTarget
	}
	return v
}

func (b *Broker) newAssignment(ctx context.Context, o *Order) (*Assignment, error) {
	if state, ok := b.activeState(o.ID); !ok || state != StateWorking {
		return nil, b.notWorking(ctx, o.ID)
	}
	if err := b.Ready(); err != nil {
		return nil, err
	}
	job, err := b.jobWith(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	en1, err := b.nextExtranonce1(ctx)
	if err != nil {
		return nil, err
	}
	en2 := make([]byte, job.Assembly.Extranonce2Size)
	hdr := job.Header(en1, en2, job.Version, job.NTime, 0)
	now := time.Now()
	a := &Assignment{
		ID: randomID("asg_", 16), OrderID: o.ID, JobID: job.ID, Extranonce1: en1, Extranonce2: en2,
		Header: hdr[:], NonceStart: 0, NonceCount: b.cfg.AssignmentNonces, ShareDiff: b.shareDifficulty(),
		CreatedAt: now, ExpiresAt: now.Add(b.cfg.AssignmentTTL.D()),
	}
	if err := b.store.CreateAssignment(ctx, a); err != nil {
		return nil, fmt.Errorf("store assignment: %w", err)
	}
	b.assignments.Put(a.ID, a)
	return a, nil
}

func (b *Broker) assignment(ctx context.Context, id string) (*Assignment, error) {
	if a, ok := b.assignments.Get(id); ok {
		return a, nil
	}
	if len(id) > 64 {
		return nil, problem(KindAssignmentNotFound, "no assignment %q", id)
	}
	a, err := b.store.Assignment(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, problem(KindAssignmentNotFound, "no assignment %q", id)
	}
	return a, err
}

// SharePost is one nonce found in an assignment.
type SharePost struct {
	AssignmentID string
	Nonce        uint32
}

// ShareOutcome is the answer for one posted share: a result or an error.
type ShareOutcome struct {
	Post   SharePost
	Result ShareResult
	Err    error
}

// SubmitShares checks a batch of nonces found in HTTP assignments of one order; it
// also serves as the poll: the view is the order after the batch.
func (b *Broker) SubmitShares(ctx context.Context, id, token string, posts []SharePost) ([]ShareOutcome, *View, error) {
	start := time.Now()
	o, err := b.Authorize(ctx, id, token)
	if err != nil {
		return nil, nil, err
	}
	// Judge every share, then write the good ones together: one post waits for one or
	// two group commits, not one per share.
	out := make([]ShareOutcome, len(posts))
	var (
		ready []int
		recs  []*Share
		js    []judged
	)
	for i, p := range posts {
		out[i].Post = p
		j, err := b.judgePost(ctx, o, p)
		if err != nil {
			out[i].Result, out[i].Err = j.res, err
			b.count(j.res, err)
			continue
		}
		ready, recs, js = append(ready, i), append(recs, j.rec), append(js, j)
	}
	if len(recs) > 0 {
		results, errs := b.store.RecordShares(ctx, recs)
		for k, i := range ready {
			out[i].Result, out[i].Err = b.settle(ctx, js[k], results[k], errs[k])
			b.count(out[i].Result, out[i].Err)
		}
	}
	if b.observeShare != nil {
		d := time.Since(start)
		for range posts {
			b.observeShare(d)
		}
	}
	o, err = b.store.Order(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return out, b.View(o), nil
}

// judgePost checks a posted nonce against its assignment, then judges the share.
func (b *Broker) judgePost(ctx context.Context, o *Order, p SharePost) (judged, error) {
	a, err := b.assignment(ctx, p.AssignmentID)
	if err != nil {
		return judged{}, err
	}
	if a.OrderID != o.ID {
		return judged{}, problem(KindAssignmentMismatch, "assignment %s belongs to another order, not %s", a.ID, o.ID)
	}
	if off := uint64(p.Nonce - a.NonceStart); off >= a.NonceCount {
		return judged{}, problem(KindNonceOutOfRange, "nonce %d is outside the assignment's range [%d, %d)", p.Nonce, a.NonceStart, uint64(a.NonceStart)+a.NonceCount)
	}
	if time.Now().After(a.ExpiresAt.Add(30 * time.Second)) {
		return judged{}, problem(KindAssignmentExpired, "assignment %s expired at %s", a.ID, a.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return b.judge(ctx, Work{
		OrderID: o.ID, JobID: a.JobID, Extranonce1: a.Extranonce1, Extranonce2: a.Extranonce2,
		NTime: binary.LittleEndian.Uint32(a.Header[68:72]), Nonce: p.Nonce,
		Version: int32(binary.LittleEndian.Uint32(a.Header[0:4])), ShareDiff: a.ShareDiff,
		Worker: "api", AssignmentID: a.ID,
	})
}

// rejected counts a rejected share by kind and returns err.
func (b *Broker) rejected(err error) error {
	b.sharesRejected.Add(1)
	k := KindOf(err)
	b.rejectMu.Lock()
	if b.rejectedBy == nil {
		b.rejectedBy = make(map[Kind]int64)
	}
	b.rejectedBy[k]++
	b.rejectMu.Unlock()
	return err
}

// RejectedByKind counts rejected shares by problem kind.
func (b *Broker) RejectedByKind() map[Kind]int64 {
	b.rejectMu.Lock()
	defer b.rejectMu.Unlock()
	out := make(map[Kind]int64, len(b.rejectedBy))
	for k, v := range b.rejectedBy {
		out[k] = v
	}
	return out
}
