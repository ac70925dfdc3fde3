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
	backoff := 100 * time.Millisecond
	var last *api.Order
	for {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		a, err := opt.Client.Assignment(ctx, opt.OrderID, opt.Token)
		if err != nil {
			var p *api.Problem
			if errors.As(err, &p) {
				switch p.Type {
				case "order-complete", "expired", "order-closed":
					o, oerr := opt.Client.Order(ctx, opt.OrderID, opt.Token)
					return o, st, oerr
				case "slow-down", "not-ready", "node-unavailable":
					if !sleep(ctx, max(backoff, time.Duration(p.RetryAfter)*time.Second)) {
						return nil, st, ctx.Err()
					}
					backoff = min(2*backoff, 5*time.Second)
					continue
				}
				return nil, st, err
			}
			// Transport error: retry with backoff.
			if !sleep(ctx, backoff) {
				return nil, st, ctx.Err()
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		st.Assignments++
		if last == nil {
			last, _ = opt.Client.Order(ctx, opt.OrderID, opt.Token)
		}
		o, stop, err := work(ctx, opt, a, &st, last)
		if err != nil {
			return o, st, err
		}
		if stop {
			return o, st, nil
		}
		if o != nil {
			last = o
		}
	}
}

// work scans one assignment; stop reports that the order needs no more work.
func work(ctx context.Context, opt Options, a *api.Assignment, st *Stats, seen *api.Order) (*api.Order, bool, error) {
	raw, err := hex.DecodeString(a.Header)
	if err != nil || len(raw) != 80 {
		return nil, false, fmt.Errorf("assignment %s: header is not 80 bytes of hex", a.ID)
	}
	var hdr miner.Header
	copy(hdr[:], raw)
	target, err := api.ParseDisplayTarget(a.ShareTarget)
	if err != nil {
		return nil, false, fmt.Errorf("assignment %s: %w", a.ID, err)
	}
	netTarget, err := api.ParseDisplayTarget(a.NetworkTarget)
	if err != nil {
		return nil, false, fmt.Errorf("assignment %s: network target: %w", a.ID, err)
	}
	scanCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var found []api.ShareIn
	done := make(chan struct{})
	// need is how many shares complete the order: post them at once rather than at the
	// next tick, so the worker does not find shares the broker no longer wants.
	need := api.MaxSharesPerPost
	if seen != nil && a.ShareDifficulty > 0 {
		if n := (seen.RequiredWork - seen.CreditedWork) / a.ShareDifficulty; n >= 0 && n < float64(need) {
			need = max(1, int(n+0.999999))
		}
	}
	flush := make(chan struct{}, 1)
	blocks := map[uint32]bool{} // nonces that meet the network target (guarded by mu)
	go func() {
		defer close(done)
		n, _ := miner.ScanParallel(scanCtx, opt.Kernel, opt.Threads, &hdr, a.NonceStart, a.NonceCount, &target, func(f miner.Found) {
			if scanCtx.Err() != nil {
				return // stopping: the kernel may still report the rest of its chunk
			}
			mu.Lock()
			sh := api.ShareIn{AssignmentID: a.ID, Nonce: f.Nonce}
			found = append(found, sh)
			if netTarget.Meets(&f.Hash) {
				blocks[f.Nonce] = true
			}
			full := len(found) >= api.MaxSharesPerPost
			enough := len(found) >= need
			mu.Unlock()
			if full || enough {
				// Enough to complete the order, or more than one post can carry (an easy
				// share target, as on regtest): stop scanning, post now, and take a new
				// assignment if the broker still wants work.
				cancel()
				select {
				case flush <- struct{}{}:
				default:
				}
			}
		})
		mu.Lock()
		st.Hashes += n
		mu.Unlock()
	}()
	started := time.Now()
	tick := time.NewTicker(opt.PostInterval)
	defer tick.Stop()
	finished := false
	last := seen
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-done
			return last, false, ctx.Err()
		case <-done:
			finished = true
		case <-tick.C:
		case <-flush:
		}
		mu.Lock()
		batch := arrange(found, blocks, need)
		found = nil
		mu.Unlock()
		for len(batch) > api.MaxSharesPerPost {
			if _, stop, renew, err := post(ctx, opt, a.JobID, batch[:api.MaxSharesPerPost], st, &last); err != nil || stop || renew {
				cancel()
				<-done
				return last, stop, err
			}
			batch = batch[api.MaxSharesPerPost:]
		}
		_, stop, renew, err := post(ctx, opt, a.JobID, batch, st, &last)
		if err != nil || stop || renew || finished || time.Since(started) > opt.MaxAssignmentAge {
			cancel()
			<-done
			if err == nil && !stop && !finished {
				// Post what was found between the last post and the cancel.
				mu.Lock()
				rest := found
				found = nil
				mu.Unlock()
				if len(rest) > 0 {
					_, stop, _, err = post(ctx, opt, a.JobID, rest, st, &last)
				}
			}
			return last, stop, err
		}
	}
}

// post sends a batch; renew reports that the assignment is no longer worth scanning.
func post(ctx context.Context, opt Options, jobID string, batch []api.ShareIn, st *Stats, last **api.Order) (*api.SharesResponse, bool, bool, error) {
	for attempt := 0; ; attempt++ {
		resp, err := opt.Client.SubmitShares(ctx, opt.OrderID, opt.Token, batch)
		var p *api.Problem
		if err != nil && !(errors.As(err, &p) && p.Results != nil) {
			if errors.As(err, &p) {
				switch p.Type {
				case "slow-down", "node-unavailable", "not-ready":
				case "order-complete", "expired", "order-closed":
					o, oerr := opt.Client.Order(ctx, opt.OrderID, opt.Token)
					*last = o
					return nil, true, false, oerr
				default:
					return nil, false, false, err
				}
			}
			if attempt >= 20 || !sleep(ctx, time.Duration(100*(attempt+1))*time.Millisecond) {
				return nil, false, false, err
			}
			continue
		}
		renew := false
		for _, r := range resp.Results {
			if r.Accepted {
				st.Accepted++
			} else {
				st.Rejected++
				if r.Problem != nil && (r.Problem.Type == "stale-job" || r.Problem.Type == "assignment-expired") {
					renew = true
				}
			}
			if r.BlockAccepted {
				st.Blocks++
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
		return resp, resp.Stop, renew, nil
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
