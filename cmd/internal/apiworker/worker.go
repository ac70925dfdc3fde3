// Package apiworker is the HTTP work loop of powminer api, shared with powbroker demo:
// fetch an assignment, scan its nonce range with a miner kernel, post found nonces in
// batches (each post is also the poll), renew stale or used-up assignments, and stop
// when the broker says the order needs no more work.
package apiworker

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/miner"
)

// Options configure a worker.
type Options struct {
	Client  *api.Client
	OrderID string
	Token   string
	Kernel  miner.Kernel // nil = miner.Best()
	Threads int          // 0 = 1
	// PostInterval is how often found nonces are posted (and the order polled).
	PostInterval time.Duration
	// MaxAssignmentAge renews an assignment that is older, to follow new jobs.
	MaxAssignmentAge time.Duration
	// OnPost, when set, sees every answer to a post.
	OnPost func(*api.SharesResponse)
	// OnRetry, when set, hears of every failure the worker retries, with the wait
	// before the next attempt.
	OnRetry func(err error, wait time.Duration)
}

// maxBackoff is the longest wait between two attempts.
const maxBackoff = 30 * time.Second

// retrier spaces the retries of one kind of request: 100 ms, doubling, at most
// maxBackoff, reset by a success.
type retrier struct {
	next    time.Duration
	onRetry func(error, time.Duration)
}

// retryable tells whether err is worth another attempt: the broker unreachable, busy
// or not ready, or an answer from in front of it (HTTP 5xx that is no problem).
func retryable(err error) bool {
	var te *api.TransportError
	if errors.As(err, &te) {
		return !te.Permanent()
	}
	var p *api.Problem
	if errors.As(err, &p) {
		switch p.Type {
		case "slow-down", "not-ready", "node-unavailable":
			return true
		case "http-error":
			return p.Status >= 500
		}
	}
	return false
}

// wait sleeps before the next attempt after err (at least what Retry-After asks); it
// reports false when ctx ends first.
func (r *retrier) wait(ctx context.Context, err error) bool {
	d := max(r.next, 100*time.Millisecond)
	var p *api.Problem
	if errors.As(err, &p) && p.RetryAfter > 0 {
		d = max(d, time.Duration(p.RetryAfter)*time.Second)
	}
	r.next = min(2*d, maxBackoff)
	if r.onRetry != nil {
		r.onRetry(err, d)
	}
	return sleep(ctx, d)
}

func (r *retrier) reset() { r.next = 0 }

// closed tells whether err says the order takes no more work.
func closed(err error) bool {
	var p *api.Problem
	if !errors.As(err, &p) {
		return false
	}
	switch p.Type {
	case "order-complete", "expired", "order-closed":
		return true
	}
	return false
}

// Stats count what a worker did.
type Stats struct {
	Hashes      uint64
	Accepted    int
	Rejected    int
	Blocks      int
	Assignments int
}

// Run works for the order until the broker says stop, ctx ends or an error that is
// not transient occurs. It returns the order as last seen.
func Run(ctx context.Context, opt Options) (*api.Order, Stats, error) {
	var st Stats
	if opt.Kernel == nil {
		opt.Kernel = miner.Best()
	}
	if opt.Threads <= 0 {
		opt.Threads = 1
	}
	if opt.PostInterval <= 0 {
		opt.PostInterval = 500 * time.Millisecond
	}
	if opt.MaxAssignmentAge <= 0 {
		opt.MaxAssignmentAge = 20 * time.Second
	}
	w := &worker{opt: opt, st: &st, posts: retrier{onRetry: opt.OnRetry}}
	fetch := retrier{onRetry: opt.OnRetry}
	var last *api.Order
	for {
		if err := ctx.Err(); err != nil {
			return last, st, err
		}
		a, err := opt.Client.Assignment(ctx, opt.OrderID, opt.Token)
		switch {
		case err != nil && closed(err):
			o, oerr := opt.Client.Order(ctx, opt.OrderID, opt.Token)
			return o, st, oerr
		case err != nil && retryable(err):
			if !fetch.wait(ctx, err) {
				return last, st, ctx.Err()
			}
			continue
		case err != nil:
			return last, st, err
		}
		fetch.reset()
		st.Assignments++
		if last == nil {
			last, _ = opt.Client.Order(ctx, opt.OrderID, opt.Token)
		}
		o, stop, err := w.work(ctx, a, last)
		if o != nil {
			last = o
		}
		if err != nil || stop {
			return last, st, err
		}
	}
}

// worker is one Run: its options, counts and the retry pace of its posts.
type worker struct {
	opt   Options
	st    *Stats
	posts retrier
}

// scan is one assignment being hashed: the nonces found so far and the signals of
// the scanning goroutine.
type scan struct {
	mu     sync.Mutex
	found  []api.ShareIn
	blocks map[uint32]bool // nonces that meet the network target
	need   int             // shares that complete the order
	flush  chan struct{}   // post now
	done   chan struct{}   // the scan ended
	cancel context.CancelFunc
}

// take empties the nonces found so far, arranged for posting.
func (s *scan) take() []api.ShareIn {
	s.mu.Lock()
	defer s.mu.Unlock()
	batch := arrange(s.found, s.blocks, s.need)
	s.found = nil
	return batch
}

// stop ends the scan and waits for it.
func (s *scan) stop() {
	s.cancel()
	<-s.done
}

// start scans the assignment in a goroutine.
func (w *worker) start(ctx context.Context, a *api.Assignment, seen *api.Order) (*scan, error) {
	raw, err := hex.DecodeString(a.Header)
	if err != nil || len(raw) != 80 {
		return nil, fmt.Errorf("assignment %s: header is not 80 bytes of hex", a.ID)
	}
	var hdr miner.Header
	copy(hdr[:], raw)
	target, err := api.ParseDisplayTarget(a.ShareTarget)
	if err != nil {
		return nil, fmt.Errorf("assignment %s: %w", a.ID, err)
	}
	netTarget, err := api.ParseDisplayTarget(a.NetworkTarget)
	if err != nil {
		return nil, fmt.Errorf("assignment %s: network target: %w", a.ID, err)
	}
	scanCtx, cancel := context.WithCancel(ctx)
	sc := &scan{blocks: map[uint32]bool{}, need: api.MaxSharesPerPost, flush: make(chan struct{}, 1), done: make(chan struct{}), cancel: cancel}
	// need is how many shares complete the order: post them at once rather than at the
	// next tick, so the worker does not find shares the broker no longer wants.
	if seen != nil && a.ShareDifficulty > 0 {
		if n := (seen.RequiredWork - seen.CreditedWork) / a.ShareDifficulty; n >= 0 && n < float64(sc.need) {
			sc.need = max(1, int(n+0.999999))
		}
	}
	go func() {
		defer close(sc.done)
		n, _ := miner.ScanParallel(scanCtx, w.opt.Kernel, w.opt.Threads, &hdr, a.NonceStart, a.NonceCount, &target, func(f miner.Found) {
			if scanCtx.Err() != nil {
				return // stopping: the kernel may still report the rest of its chunk
			}
			sc.mu.Lock()
			sc.found = append(sc.found, api.ShareIn{AssignmentID: a.ID, Nonce: f.Nonce})
			if netTarget.Meets(&f.Hash) {
				sc.blocks[f.Nonce] = true
			}
			full := len(sc.found) >= api.MaxSharesPerPost || len(sc.found) >= sc.need
			sc.mu.Unlock()
			if full {
				// Enough to complete the order, or more than one post can carry (an easy
				// share target, as on regtest): stop scanning, post now, and take a new
				// assignment if the broker still wants work.
				cancel()
				select {
				case sc.flush <- struct{}{}:
				default:
				}
			}
		})
		sc.mu.Lock()
		w.st.Hashes += n
		sc.mu.Unlock()
	}()
	return sc, nil
}

// work scans one assignment, posting what it finds at every tick; stop reports that
// the order needs no more work.
func (w *worker) work(ctx context.Context, a *api.Assignment, seen *api.Order) (*api.Order, bool, error) {
	sc, err := w.start(ctx, a, seen)
	if err != nil {
		return nil, false, err
	}
	defer sc.cancel()
	started := time.Now()
	tick := time.NewTicker(w.opt.PostInterval)
	defer tick.Stop()
	last := seen
	for {
		finished := false
		select {
		case <-ctx.Done():
			sc.stop()
			return last, false, ctx.Err()
		case <-sc.done:
			finished = true
		case <-tick.C:
		case <-sc.flush:
		}
		stop, renew, err := w.postAll(ctx, a.JobID, sc.take(), &last)
		if err != nil || stop || renew || finished || time.Since(started) > w.opt.MaxAssignmentAge {
			sc.stop()
			if err == nil && !stop && !finished {
				// Post what was found between the last post and the stop.
				if rest := sc.take(); len(rest) > 0 {
					stop, _, err = w.postAll(ctx, a.JobID, rest, &last)
				}
			}
			return last, stop, err
		}
	}
}

// postAll posts a batch in posts of at most MaxSharesPerPost.
func (w *worker) postAll(ctx context.Context, jobID string, batch []api.ShareIn, last **api.Order) (stop, renew bool, err error) {
	for {
		n := min(len(batch), api.MaxSharesPerPost)
		if stop, renew, err = w.post(ctx, jobID, batch[:n], last); err != nil || stop || renew || n == len(batch) {
			return stop, renew, err
		}
		batch = batch[n:]
	}
}

// post sends a batch; renew reports that the assignment is no longer worth scanning.
func (w *worker) post(ctx context.Context, jobID string, batch []api.ShareIn, last **api.Order) (stop, renew bool, err error) {
	opt := w.opt
	for {
		resp, err := opt.Client.SubmitShares(ctx, opt.OrderID, opt.Token, batch)
		var p *api.Problem
		if err != nil && !(errors.As(err, &p) && p.Results != nil) {
			switch {
			case closed(err):
				o, oerr := opt.Client.Order(ctx, opt.OrderID, opt.Token)
				if o != nil {
					*last = o
				}
				return true, false, oerr
			case retryable(err):
				if !w.posts.wait(ctx, err) {
					return false, false, ctx.Err()
				}
				continue
			}
			return false, false, err
		}
		w.posts.reset()
		for _, r := range resp.Results {
			if r.Accepted {
				w.st.Accepted++
			} else {
				w.st.Rejected++
				if r.Problem != nil && (r.Problem.Type == "stale-job" || r.Problem.Type == "assignment-expired") {
					renew = true
				}
			}
			if r.BlockAccepted {
				w.st.Blocks++
			}
		}
		if resp.Order != nil {
			*last = resp.Order
		}
		if resp.Job != "" && resp.Job != jobID {
			renew = true // a newer job (new orders, new tip): follow it
		}
		if opt.OnPost != nil {
			opt.OnPost(resp)
		}
		return resp.Stop, renew, nil
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// arrange orders a batch for posting: shares that are not blocks first, then blocks
// (a block moves the tip, which would make the batch's later shares stale), and keeps
// at most need shares (threads still scanning may find more than the order needs),
// never dropping a block.
func arrange(batch []api.ShareIn, blocks map[uint32]bool, need int) []api.ShareIn {
	var plain, blk []api.ShareIn
	for _, sh := range batch {
		if blocks[sh.Nonce] {
			blk = append(blk, sh)
		} else {
			plain = append(plain, sh)
		}
	}
	if keep := need - len(blk); len(plain) > keep {
		plain = plain[:max(0, keep)]
	}
	return append(plain, blk...)
}
