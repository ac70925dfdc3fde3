package rpcnode

import (
	"context"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/chain"
)

// Tip tracking limits.
const (
	// defaultWindow is how many recent main-chain blocks the poller remembers to
	// find the fork point of a reorg without asking the node about the old branch
	// (which may be gone: btcd wipes its regtest chain on restart).
	defaultWindow = 2016
	// defaultWalkLimit bounds how far back the poller walks the new branch in one
	// event; a longer jump reports only the newest blocks as Connected.
	defaultWalkLimit = 10000
)

// chainView is the poller's picture of the main chain: hashes by height for the
// most recent blocks.
type chainView struct {
	tip    chain.Tip
	low    int32
	byHigh map[int32]chainhash.Hash
}

// Tips polls getbestblockhash every PollInterval and delivers one event per change of
// the best chain until ctx ends, then closes the channel.
//
// The first event reports the tip found by the first successful poll (Connected holds
// just that block), so a consumer learns the starting point from the channel itself;
// the poller then also remembers the 2016 blocks below it. On a change the new branch
// is walked back to the fork point with that record: Disconnected lists the blocks that
// left the main chain (newest first), Connected those that joined it (oldest first).
// A chain that went back to a lower height, such as a restarted btcd regtest node back
// at genesis, is a reorg like any other. Limits: a reorg deeper than the record
// disconnects every remembered block and connects the new blocks down to the record's
// lowest height; a jump of more than 10000 blocks reports only the newest 10000 as
// Connected.
//
// For btcd, a websocket subscription to block notifications (notifyblocks on /ws)
// makes the poller poll at once when a block arrives, so tip changes are seen within
// milliseconds instead of up to PollInterval; polling stays the source of truth and
// continues alone when the websocket is unavailable (Config.DisableWebsocket turns it
// off). For bitcoind, Config.ZMQ does the same with Core's ZMQ hashblock publisher.
//
// While the node does not answer, polling continues quietly (one log line when it goes
// away, one when it is back) and no event is sent. A slow consumer delays polling; no
// change is lost, several may arrive as one event.
func (n *Node) Tips(ctx context.Context) <-chan chain.TipEvent {
	ch := make(chan chain.TipEvent, 8)
	go n.pollTips(ctx, ch)
	return ch
}

func (n *Node) pollTips(ctx context.Context, ch chan<- chain.TipEvent) {
	defer close(ch)
	ticker := time.NewTicker(n.cfg.PollInterval)
	defer ticker.Stop()
	kick := make(chan struct{}, 1)
	if n.cfg.Kind == KindBtcd && !n.cfg.DisableWebsocket {
		wsCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		go n.notifyBlocks(wsCtx, kick)
	}
	if n.cfg.ZMQ != "" {
		zctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go n.zmqBlocks(zctx, kick)
	}
	var view *chainView
	down := false
	for {
		ev, changed, err := n.pollOnce(ctx, &view)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			n.setHealth(err)
			if !down {
				n.log.Warn("node unavailable; tip polling continues", "err", err)
				down = true
			}
		default:
			n.setHealth(nil)
			if down {
				n.log.Info("node reachable again", "tip", view.tip.Hash, "height", view.tip.Height)
				down = false
			}
			if changed {
				if ev.Reorg() {
					n.log.Info("reorg", "tip", ev.Tip.Hash, "height", ev.Tip.Height, "disconnected", len(ev.Disconnected), "connected", len(ev.Connected))
				}
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
		select {
		case <-ticker.C:
		case <-kick:
		case <-ctx.Done():
			return
		}
	}
}

// pollOnce checks the best block and, when it changed, computes the event and
// updates *view.
func (n *Node) pollOnce(ctx context.Context, view **chainView) (chain.TipEvent, bool, error) {
	var best string
	if err := n.rpc.call(ctx, "getbestblockhash", &best); err != nil {
		return chain.TipEvent{}, false, asUnavailable(err)
	}
	if *view != nil && (*view).tip.Hash.String() == best {
		return chain.TipEvent{}, false, nil
	}
	tip, err := n.Tip(ctx) // one getblockchaininfo: hash, height and median time together
	if err != nil {
		return chain.TipEvent{}, false, err
	}
	if *view == nil {
		v, err := n.firstView(ctx, tip)
		if err != nil {
			return chain.TipEvent{}, false, err
		}
		*view = v
		return chain.TipEvent{Tip: tip, Connected: []chainhash.Hash{tip.Hash}}, true, nil
	}
	v := *view
	if tip.Hash == v.tip.Hash {
		return chain.TipEvent{}, false, nil
	}
	connected, fork, found, err := n.walkBack(ctx, v, tip)
	if err != nil {
		return chain.TipEvent{}, false, err
	}
	if !found {
		if fork, err = n.forkByHeight(ctx, v); err != nil {
			return chain.TipEvent{}, false, err
		}
	}
	return v.advance(tip, fork, connected, n.window), true, nil
}

// firstView remembers the recent main chain below tip, so that a reorg soon after the
// start reports the blocks it disconnects.
func (n *Node) firstView(ctx context.Context, tip chain.Tip) (*chainView, error) {
	v := &chainView{tip: tip, low: tip.Height, byHigh: map[int32]chainhash.Hash{tip.Height: tip.Hash}}
	cur := tip.Hash
	for h := tip.Height; h > 0 && h > tip.Height-n.window+1; h-- {
		hdr, err := n.rawHeader(ctx, cur)
		if err != nil {
			return nil, asUnavailable(err)
		}
		cur = hdr.PrevBlock
		v.byHigh[h-1], v.low = cur, h-1
	}
	return v, nil
}

// walkBack walks the new branch from tip back until it meets the view (found, at
// height fork), returning the blocks it walked, newest first.
func (n *Node) walkBack(ctx context.Context, v *chainView, tip chain.Tip) (connected []chainhash.Hash, fork int32, found bool, err error) {
	cur, h := tip.Hash, tip.Height
	fork = -1
	for steps := int32(0); h >= 0 && steps < n.walkLimit; steps++ {
		if old, ok := v.byHigh[h]; ok && old == cur {
			return connected, h, true, nil
		}
		if h < v.low {
			break // below what we remember: the fork is unknown
		}
		connected = append(connected, cur)
		if h == 0 {
			break
		}
		hdr, err := n.rawHeader(ctx, cur)
		if err != nil {
			return nil, 0, false, asUnavailable(err)
		}
		cur, h = hdr.PrevBlock, h-1
	}
	return connected, fork, false, nil
}

// forkByHeight finds, when the walk did not meet the view, the highest remembered
// block still in the main chain, by height (-1 when none is).
func (n *Node) forkByHeight(ctx context.Context, v *chainView) (int32, error) {
	for hh := v.tip.Height; hh >= v.low; hh-- {
		var at string
		if err := n.rpc.call(ctx, "getblockhash", &at, hh); err != nil {
			if isOutOfRange(err) {
				continue // above the new tip
			}
			return 0, asUnavailable(err)
		}
		if at == v.byHigh[hh].String() {
			return hh, nil
		}
	}
	return -1, nil
}

// advance moves the view to tip: the remembered blocks above fork are disconnected,
// the walked ones (newest first) connected; the view keeps window blocks.
func (v *chainView) advance(tip chain.Tip, fork int32, connected []chainhash.Hash, window int32) chain.TipEvent {
	ev := chain.TipEvent{Tip: tip}
	for hh := v.tip.Height; hh > fork && hh >= v.low; hh-- {
		if old, ok := v.byHigh[hh]; ok {
			ev.Disconnected = append(ev.Disconnected, old)
			delete(v.byHigh, hh)
		}
	}
	lowest := tip.Height - int32(len(connected)) + 1 // of the walked blocks
	if lowest > fork+1 {
		// The walk was cut short: the remembered blocks below it are not linked to
		// the new ones, so the view starts afresh with the walked blocks.
		clear(v.byHigh)
	}
	for i := len(connected) - 1; i >= 0; i-- {
		ev.Connected = append(ev.Connected, connected[i])
		v.byHigh[tip.Height-int32(i)] = connected[i]
	}
	v.tip = tip
	v.byHigh[tip.Height] = tip.Hash
	v.low = tip.Height
	for hh := range v.byHigh {
		switch {
		case hh > tip.Height || hh <= tip.Height-window:
			delete(v.byHigh, hh)
		case hh < v.low:
			v.low = hh
		}
	}
	return ev
}

// Health reports whether the node answered the tip poller's last request: nil when it
// did (or while no Tips poller has run yet), else that request's error, which wraps
// chain.ErrUnavailable. It lets callers report an outage at once instead of waiting for
// a request of their own to time out; it is only as fresh as the polling (a node that
// went away is noticed within PollInterval plus Timeout, one that came back within
// PollInterval).
func (n *Node) Health() error {
	n.healthMu.Lock()
	defer n.healthMu.Unlock()
	return n.pollErr
}

func (n *Node) setHealth(err error) {
	n.healthMu.Lock()
	n.pollErr = err
	n.healthMu.Unlock()
}
