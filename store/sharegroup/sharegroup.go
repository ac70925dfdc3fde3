// Package sharegroup is the group-commit front end the stores share: callers queue
// shares and wait; one goroutine collects them into groups (up to Max shares, waiting
// at most Delay for more once the first arrived) and hands each group to the store's
// commit function; every caller gets its own share's answer only after the commit of
// its group returned.
package sharegroup

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proofow/powbroker/broker"
)

// Commit writes one group in one transaction: res[i] and errs[i] answer shares[i]
// (errs[i] for a share that fails alone, such as an unknown order). A non-nil return
// fails the whole group: every share of it gets that error.
type Commit func(shares []*broker.Share, res []broker.Recorded, errs []error) error

// Queue collects shares into groups for a Commit. All methods are safe for concurrent
// use.
type Queue struct {
	delay   time.Duration
	max     int
	commit  Commit
	observe func(shares int, d time.Duration)
	prefix  string // error prefix, e.g. "store"

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan req
	done   chan struct{}

	groups, shares, accepted, duplicates, failed, maxGroup atomic.Uint64
	sent                                                   atomic.Uint64
}

type req struct {
	sh   *broker.Share
	resp chan resp
}

type resp struct {
	res broker.Recorded
	err error
}

// New starts a queue: delay <= 0 commits what is queued without waiting. observe (may
// be nil) sees every group's size and commit duration.
func New(prefix string, delay time.Duration, max int, commit Commit, observe func(shares int, d time.Duration)) *Queue {
	q := &Queue{delay: delay, max: max, commit: commit, observe: observe, prefix: prefix,
		queue: make(chan req, 4*max), done: make(chan struct{})}
	go q.run()
	return q
}

// Check refuses shares no store may record.
func (q *Queue) check(sh *broker.Share) error {
	if sh == nil {
		return fmt.Errorf("%s: nil share", q.prefix)
	}
	if sh.OrderID == "" {
		return fmt.Errorf("%s: share without order id", q.prefix)
	}
	if math.IsNaN(sh.Difficulty) || math.IsInf(sh.Difficulty, 0) || sh.Difficulty < 0 {
		return fmt.Errorf("%s: share %x: bad difficulty %v", q.prefix, sh.HeaderHash, sh.Difficulty)
	}
	return nil
}

// Record queues every share before waiting (so that they share group commits) and
// returns each one's answer; after Stop, broker.ErrStoreClosed. A share whose wait ends
// with ctx may still be committed; it is only not acknowledged.
func (q *Queue) Record(ctx context.Context, shares []*broker.Share) ([]broker.Recorded, []error) {
	results := make([]broker.Recorded, len(shares))
	errs := make([]error, len(shares))
	reqs := make([]req, len(shares))
	q.mu.RLock()
	for i, sh := range shares {
		if errs[i] = q.check(sh); errs[i] != nil {
			continue
		}
		if q.closed {
			errs[i] = broker.ErrStoreClosed
			continue
		}
		r := req{sh: sh, resp: make(chan resp, 1)}
		select {
		case q.queue <- r:
			q.sent.Add(1)
			reqs[i] = r
		case <-ctx.Done():
			errs[i] = fmt.Errorf("%s: record share: %w", q.prefix, ctx.Err())
		}
	}
	q.mu.RUnlock()
	for i, r := range reqs {
		if r.resp == nil {
			continue
		}
		select {
		case a := <-r.resp:
			results[i], errs[i] = a.res, a.err
		case <-ctx.Done():
			errs[i] = fmt.Errorf("%s: record share: %w", q.prefix, ctx.Err())
		}
	}
	return results, errs
}

// Sent counts the shares handed to the writer goroutine.
func (q *Queue) Sent() uint64 { return q.sent.Load() }

// Stop refuses new shares, lets the writer commit what is queued, and waits for it.
func (q *Queue) Stop() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.queue)
	}
	q.mu.Unlock()
	<-q.done
}

// Stats reports the counters since New.
func (q *Queue) Stats() broker.WriterStats {
	return broker.WriterStats{
		Groups: q.groups.Load(), Shares: q.shares.Load(), Accepted: q.accepted.Load(),
		Duplicates: q.duplicates.Load(), Failed: q.failed.Load(), MaxGroup: q.maxGroup.Load(),
	}
}

func (q *Queue) run() {
	defer close(q.done)
	batch := make([]req, 0, q.max)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first, ok := <-q.queue
		if !ok {
			return
		}
		batch = append(batch[:0], first)
		open := q.collect(&batch, timer)
		q.flush(batch)
		for i := range batch {
			batch[i] = req{}
		}
		if !open {
			return // closed and drained: a closed channel yields only after its buffer
		}
	}
}

// collect adds what is queued (and, with a delay, what arrives within it) to batch; it
// reports false when the queue closed.
func (q *Queue) collect(batch *[]req, timer *time.Timer) bool {
	wait := q.delay > 0
	if wait {
		timer.Reset(q.delay)
		defer timer.Stop()
	}
	for len(*batch) < q.max {
		select { // what is already queued, without touching the timer
		case r, ok := <-q.queue:
			if !ok {
				return false
			}
			*batch = append(*batch, r)
			continue
		default:
		}
		if !wait {
			return true // commit what was queued; more queues up during the commit
		}
		select {
		case r, ok := <-q.queue:
			if !ok {
				return false
			}
			*batch = append(*batch, r)
		case <-timer.C:
			return true
		}
	}
	return true
}

// flush commits one group and answers its callers.
func (q *Queue) flush(batch []req) {
	n := len(batch)
	shares := make([]*broker.Share, n)
	for i, r := range batch {
		shares[i] = r.sh
	}
	res, errs := make([]broker.Recorded, n), make([]error, n)
	started := time.Now()
	err := q.commit(shares, res, errs)
	if q.observe != nil {
		q.observe(n, time.Since(started))
	}
	if err != nil {
		q.failed.Add(uint64(n))
		for i := range errs {
			res[i], errs[i] = broker.Recorded{}, err
		}
	} else {
		q.groups.Add(1)
		q.shares.Add(uint64(n))
		for i := range res {
			switch {
			case errs[i] != nil:
			case res[i].Duplicate:
				q.duplicates.Add(1)
			default:
				q.accepted.Add(1)
			}
		}
		for {
			m := q.maxGroup.Load()
			if uint64(n) <= m || q.maxGroup.CompareAndSwap(m, uint64(n)) {
				break
			}
		}
	}
	for i, r := range batch {
		r.resp <- resp{res: res[i], err: errs[i]}
	}
}
