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
		o, stop, err := work(ctx, opt, a, &st)
		if err != nil {
			return o, st, err
		}
		if stop {
			return o, st, nil
		}
	}
}

// work scans one assignment; stop reports that the order needs no more work.
func work(ctx context.Context, opt Options, a *api.Assignment, st *Stats) (*api.Order, bool, error) {
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
	scanCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var found []api.ShareIn
	done := make(chan struct{})
	go func() {
		defer close(done)
		n, _ := miner.ScanParallel(scanCtx, opt.Kernel, opt.Threads, &hdr, a.NonceStart, a.NonceCount, &target, func(f miner.Found) {
			mu.Lock()
			found = append(found, api.ShareIn{AssignmentID: a.ID, Nonce: f.Nonce})
			full := len(found) >= api.MaxSharesPerPost
			mu.Unlock()
			if full {
				// Shares come faster than one post a period can carry (an easy share
				// target, as on regtest): stop here, post, and take a new assignment.
				cancel()
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
	var last *api.Order
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-done
			return last, false, ctx.Err()
		case <-done:
			finished = true
		case <-tick.C:
		}
		mu.Lock()
		batch := found
		found = nil
		mu.Unlock()
		for len(batch) > api.MaxSharesPerPost {
			if _, stop, renew, err := post(ctx, opt, batch[:api.MaxSharesPerPost], st, &last); err != nil || stop || renew {
				cancel()
				<-done
				return last, stop, err
			}
			batch = batch[api.MaxSharesPerPost:]
		}
		_, stop, renew, err := post(ctx, opt, batch, st, &last)
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
					_, stop, _, err = post(ctx, opt, rest, st, &last)
				}
			}
			return last, stop, err
		}
	}
}

// post sends a batch; renew reports that the assignment is no longer worth scanning.
func post(ctx context.Context, opt Options, batch []api.ShareIn, st *Stats, last **api.Order) (*api.SharesResponse, bool, bool, error) {
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
			if r.Block {
				st.Blocks++
			}
		}
		if resp.Order != nil {
			*last = resp.Order
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
