package apiworker

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/miner"
)

// MineBlock takes assignments of the order and scans each for a nonce that meets the
// network target (not merely the share target), posts it and returns the block's hash
// once the broker says the chain accepted the block. Requests the broker asks to slow
// down are sent again after its Retry-After. Tests and powsoak use it to have a block
// found when they need one.
func MineBlock(ctx context.Context, c *api.Client, id, token string) (string, error) {
	for ctx.Err() == nil {
		var a *api.Assignment
		if err := slowDown(ctx, func() (err error) { a, err = c.Assignment(ctx, id, token); return err }); err != nil {
			return "", err
		}
		raw, err := hex.DecodeString(a.Header)
		if err != nil || len(raw) != 80 {
			return "", fmt.Errorf("assignment %s: header is not 80 bytes of hex", a.ID)
		}
		var h miner.Header
		copy(h[:], raw)
		netT, err := api.ParseDisplayTarget(a.NetworkTarget)
		if err != nil {
			return "", fmt.Errorf("assignment %s: network target: %w", a.ID, err)
		}
		var nonce *uint32
		sctx, stop := context.WithCancel(ctx)
		_, _ = miner.Best().Scan(sctx, &h, a.NonceStart, a.NonceCount, &netT, func(f miner.Found) {
			if nonce == nil {
				n := f.Nonce
				nonce = &n
				stop()
			}
		})
		stop()
		if nonce == nil {
			continue // no block in this range: the next assignment
		}
		var r *api.SharesResponse
		if err := slowDown(ctx, func() (err error) {
			r, err = c.SubmitShares(ctx, id, token, []api.ShareIn{{AssignmentID: a.ID, Nonce: *nonce}})
			return err
		}); err != nil {
			return "", err
		}
		if len(r.Results) == 1 && r.Results[0].BlockAccepted {
			return r.Results[0].Hash, nil
		}
		// A stale job (the tip moved): a new assignment.
	}
	return "", ctx.Err()
}

// slowDown runs req again while the broker answers slow-down.
func slowDown(ctx context.Context, req func() error) error {
	for {
		err := req()
		var p *api.Problem
		if !errors.As(err, &p) || p.Type != "slow-down" {
			return err
		}
		if !sleep(ctx, max(100*time.Millisecond, time.Duration(p.RetryAfter)*time.Second)) {
			return err
		}
	}
}
