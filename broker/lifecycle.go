package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/chain"
)

// handleTip moves orders along as the best chain changes: orders whose block left the
// main chain go back to paid, orders whose transaction arrived in a block are mined,
// orders whose inputs another transaction spent fail, mined orders gain confirmations.
// Then a clean job goes out.
func (b *Broker) handleTip(ctx context.Context, ev chain.TipEvent) {
	b.tipSeen.Store(time.Now().UnixNano())
	b.mu.Lock()
	b.tip = ev.Tip
	b.mu.Unlock()
	if len(ev.Disconnected) > 0 {
		b.log.Info("chain reorganized", "disconnected", len(ev.Disconnected), "connected", len(ev.Connected), "height", ev.Tip.Height)
		b.handleDisconnected(ctx, ev.Disconnected)
	}
	b.mu.Lock()
	connected := append(b.unread, ev.Connected...)
	b.unread = nil
	b.mu.Unlock()
	b.readConnected(ctx, connected)
	b.updateConfirmations(ctx, ev.Tip)
	b.unpark()
	b.refresh(ctx, true)
	b.live.publish(Change{Kind: ChangeTip, Tip: ev.Tip})
}

// readConnected handles connected blocks in order; blocks that cannot be read now (the
// node is unavailable) are kept and read at the next tip or refresh, so no order misses
// its block because of a node error.
func (b *Broker) readConnected(ctx context.Context, hashes []chainhash.Hash) {
	for i, h := range hashes {
		if err := b.handleConnected(ctx, h); err != nil {
			b.log.Warn("connected block not read yet; will retry", "block", h, "err", err)
			b.mu.Lock()
			b.unread = append(append([]chainhash.Hash(nil), hashes[i:]...), b.unread...)
			b.mu.Unlock()
			return
		}
	}
}

// retryUnread reads blocks left unread by an earlier node error.
func (b *Broker) retryUnread(ctx context.Context) {
	b.mu.Lock()
	pending := b.unread
	b.unread = nil
	b.mu.Unlock()
	if len(pending) > 0 {
		b.readConnected(ctx, pending)
		b.updateConfirmations(ctx, b.Tip())
	}
}

func (b *Broker) handleDisconnected(ctx context.Context, hashes []chainhash.Hash) {
	gone := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		gone[h.String()] = true
	}
	mined, err := b.store.OrdersInState(ctx, StateMined, StateConfirmed)
	if err != nil {
		b.log.Error("reorg: list mined orders", "err", err)
		return
	}
	for _, o := range mined {
		if !gone[o.BlockHash] {
			continue
		}
		detail := fmt.Sprintf("block %s at height %d left the main chain", o.BlockHash, o.Height)
		if _, err := b.transition(ctx, o.ID, []State{StateMined, StateConfirmed}, StatePaid, detail,
			func(o *Order) {
				o.BlockHash, o.Height, o.MinedAt, o.ConfirmedAt = "", 0, time.Time{}, time.Time{}
			}); err != nil {
			b.log.Error("reorg: move order back", "order", o.ID, "err", err)
		}
	}
}

func (b *Broker) handleConnected(ctx context.Context, hash chainhash.Hash) error {
	blk, height, err := b.backend.Block(ctx, hash)
	if err != nil {
		return fmt.Errorf("read block %s: %w", hash, err)
	}
	if height < 0 {
		return nil // left the main chain again before we read it
	}
	for _, tx := range blk.Transactions[1:] {
		txid := tx.TxHash()
		if a := b.orderByTxid(txid); a != nil {
			if err := b.mined(ctx, a.id, hash, height); err != nil {
				b.log.Error("mark order mined", "order", a.id, "err", err)
			}
			continue
		}
		for _, in := range tx.TxIn {
			b.mu.Lock()
			id, ok := b.spends[in.PreviousOutPoint]
			b.mu.Unlock()
			if !ok {
				continue
			}
			detail := fmt.Sprintf("input %s was spent by transaction %s in block %s", in.PreviousOutPoint, txid, hash)
			b.failOrder(ctx, id, detail)
		}
	}
	return nil
}

// mined moves an active order to mined in block hash at height.
func (b *Broker) mined(ctx context.Context, id string, hash chainhash.Hash, height int32) error {
	detail := fmt.Sprintf("in block %s at height %d", hash, height)
	_, err := b.transition(ctx, id, []State{StateWorking, StatePaid}, StateMined, detail,
		func(o *Order) { o.BlockHash, o.Height, o.MinedAt, o.Reason = hash.String(), height, time.Now(), "" })
	return err
}

func (b *Broker) failOrder(ctx context.Context, id, detail string) {
	_, err := b.transition(ctx, id, []State{StateWorking, StatePaid}, StateFailed, detail,
		func(o *Order) { o.Reason = detail })
	if errors.Is(err, ErrStateChanged) {
		// Another path closed it first (and took it out of the active set); make sure.
		b.removeActive(id)
		return
	}
	if err != nil {
		b.log.Error("fail order", "order", id, "err", err)
	}
}

func (b *Broker) updateConfirmations(ctx context.Context, tip chain.Tip) {
	mined, err := b.store.OrdersInState(ctx, StateMined)
	if err != nil {
		b.log.Error("list mined orders", "err", err)
		return
	}
	for _, o := range mined {
		conf := tip.Height - o.Height + 1
		if conf >= b.cfg.Confirmations {
			detail := fmt.Sprintf("%d confirmations", conf)
			if _, err := b.transition(ctx, o.ID, []State{StateMined}, StateConfirmed, detail,
				func(o *Order) { o.ConfirmedAt = time.Now() }); err != nil {
				b.log.Error("confirm order", "order", o.ID, "err", err)
			}
			continue // the transition woke its watchers
		}
		b.watch.notify(o.ID) // one more confirmation
	}
}

// orderRefused handles an order whose transaction the chain refuses in a block. A
// transaction that can never be mined (an input spent by another confirmed transaction,
// a script or consensus failure) fails the order; one whose inputs are missing or not
// mature yet (for example after a reorg to a shorter chain, or a node that restarted
// with a fresh regtest chain) is parked until the next tip: the order is not lost.
func (b *Broker) orderRefused(ctx context.Context, o *activeOrder, cause error) {
	pending := b.pendingTxs(o.id)
	_, err := b.backend.CheckTx(ctx, o.tx, pending)
	var te *chain.TxError
	if errors.As(err, &te) {
		switch te.Reason {
		case chain.TxMissingInputs, chain.TxImmature, chain.TxNotFinal, chain.TxConflict:
		case chain.TxAlreadyMined:
			// Normally the tip event that mined it moves it; when that event was
			// missed (the block arrived while the broker was down), this does.
			b.minedElsewhere(ctx, o)
			return
		default:
			b.failOrder(ctx, o.id, "the transaction became invalid: "+te.Error())
			return
		}
		cause = te
	}
	b.park(o.id)
	_ = b.store.SetReason(ctx, o.id, "left out of the block template until the chain changes: "+cause.Error())
}

// settleSubmittedBlocks records the chain's answer for blocks the broker submitted
// before it stopped without recording the answer (a kill between the two): found when
// the chain has the block on its main chain, refused otherwise. A block the node
// cannot be asked about now is left for the next start.
func (b *Broker) settleSubmittedBlocks(ctx context.Context) {
	blocks, err := b.store.Blocks(ctx)
	if err != nil {
		b.log.Error("list found blocks", "err", err)
		return
	}
	for _, blk := range blocks {
		if blk.Accepted || blk.Reason != SubmittedBlockReason {
			continue
		}
		var hash chainhash.Hash
		if chainhash.Decode(&hash, blk.Hash) != nil {
			continue
		}
		_, height, err := b.backend.Block(ctx, hash)
		switch {
		case errors.Is(err, chain.ErrUnavailable):
			continue
		case err == nil && height >= 0:
			blk.Accepted, blk.Reason = true, ""
		case err == nil:
			blk.Reason = StaleBlockPrefix + "on a side chain after a restart (its answer was not recorded)"
		default:
			blk.Reason = "not in the chain after a restart (submitted, its answer not recorded): " + err.Error()
		}
		if err := b.store.AddBlock(ctx, blk); err != nil {
			b.log.Error("record block", "hash", blk.Hash, "err", err)
			continue
		}
		b.log.Info("block submitted before a restart settled", "hash", blk.Hash, "accepted", blk.Accepted)
	}
}

// reconcile brings the stored orders up to date with the chain when the broker
// starts: its tip events begin at the current tip, so what happened while it was down
// would go unseen. A mined or recently confirmed order whose transaction is no longer
// in the main chain goes back to paid, as the reorg would have done (a btcd regtest node
// that restarted with a fresh chain, a reorg while the broker was down); an active
// order whose transaction the chain confirmed meanwhile is mined. Orders are left as
// they are when the node cannot say (an error, or no transaction index).
func (b *Broker) reconcile(ctx context.Context, tip chain.Tip) {
	// Confirmed orders deeper than this are not checked at every start.
	const recheckDepth = 1000
	done, err := b.store.OrdersInState(ctx, StateMined, StateConfirmed)
	if err != nil {
		b.log.Error("reconcile: list mined orders", "err", err)
		return
	}
	var gone []chainhash.Hash
	for _, o := range done {
		if o.State == StateConfirmed && o.Height <= tip.Height-recheckDepth {
			continue
		}
		var txid, block chainhash.Hash
		if chainhash.Decode(&txid, o.Txid) != nil || chainhash.Decode(&block, o.BlockHash) != nil {
			continue
		}
		st, err := b.backend.TxStatus(ctx, txid, block)
		if err != nil {
			b.log.Warn("reconcile: transaction status unknown; order left as it is", "order", o.ID, "err", err)
			continue
		}
		if !st.Confirmed || st.BlockHash != block {
			gone = append(gone, block)
		}
	}
	if len(gone) > 0 {
		b.log.Info("blocks of mined orders left the main chain while the broker was down", "blocks", len(gone))
		b.handleDisconnected(ctx, gone)
	}
	for _, a := range b.activeSnapshot() {
		b.minedElsewhere(ctx, a)
	}
}

// minedElsewhere marks an active order mined when the chain has its transaction in a
// block the broker did not see arrive.
func (b *Broker) minedElsewhere(ctx context.Context, a *activeOrder) {
	st, err := b.backend.TxStatus(ctx, a.txid, chainhash.Hash{})
	if err != nil || !st.Confirmed || st.Height > b.Tip().Height {
		return // unknown, not mined, or in a block whose tip event is still to come
	}
	if err := b.mined(ctx, a.id, st.BlockHash, st.Height); err != nil {
		if !errors.Is(err, ErrStateChanged) {
			b.log.Error("mark order mined", "order", a.id, "err", err)
		}
		return
	}
	b.updateConfirmations(ctx, b.Tip())
}

// parkBeforeSegwit keeps witness transactions out of a template for a block where
// segwit is not active (chain.Assemble refuses them, which would leave the broker with
// no job at all). That happens after a reorg to a short chain, such as a btcd regtest
// node that restarted with a fresh chain; the chain may grow past the activation again,
// so the orders are parked with a reason, never failed. The reason is the node's
// verdict on the transaction when it has a more precise one (missing inputs).
func (b *Broker) parkBeforeSegwit(ctx context.Context, tmpl *chain.Template, orders []*activeOrder) []*activeOrder {
	if tmpl.SegwitActive {
		return orders
	}
	out := make([]*activeOrder, 0, len(orders))
	for _, o := range orders {
		if !o.tx.HasWitness() {
			out = append(out, o)
			continue
		}
		cause := fmt.Sprintf("the transaction has witness data and segwit is not active for block %d", tmpl.Height)
		_, err := b.backend.CheckTx(ctx, o.tx, b.pendingTxs(o.id))
		var te *chain.TxError
		if errors.As(err, &te) && te.Reason != chain.TxNonStandard {
			cause = te.Error()
		}
		b.park(o.id)
		_ = b.store.SetReason(ctx, o.id, "left out of the block template until the chain changes: "+cause)
		b.log.Info("order parked: segwit is not active", "order", o.id, "height", tmpl.Height, "reason", cause)
	}
	return out
}

// expire moves working orders past their deadline to expired.
func (b *Broker) expire(ctx context.Context) {
	now := time.Now()
	for _, a := range b.activeSnapshot() {
		if state, _ := b.activeState(a.id); state != StateWorking || a.expires.IsZero() || now.Before(a.expires) {
			continue
		}
		_, err := b.transition(ctx, a.id, []State{StateWorking}, StateExpired,
			"deadline passed before enough work arrived", nil)
		if err != nil && !errors.Is(err, ErrStateChanged) {
			b.log.Error("expire order", "order", a.id, "err", err)
		}
	}
}

// watcher wakes long-polls when an order changes.
type watcher struct {
	mu    sync.Mutex
	chans map[string]chan struct{}
	all   chan struct{}
	// changed, when set, hears of every change (the live feed); it must not block.
	changed func(id string)
}

func newWatcher() *watcher {
	return &watcher{chans: make(map[string]chan struct{}), all: make(chan struct{})}
}

// wait returns a channel closed at the next change of the order.
func (w *watcher) wait(id string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.chans[id]
	if !ok {
		c = make(chan struct{})
		w.chans[id] = c
	}
	return c
}

// any returns a channel closed at the next change of any order.
func (w *watcher) any() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all
}

func (w *watcher) notify(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed != nil {
		w.changed(id)
	}
	if c, ok := w.chans[id]; ok {
		close(c)
		delete(w.chans, id)
	}
	close(w.all)
	w.all = make(chan struct{})
}

// OrderChanged returns a channel closed at the next change of the order (state,
// credited work or confirmations).
func (b *Broker) OrderChanged(id string) <-chan struct{} { return b.watch.wait(id) }

// AnyOrderChanged returns a channel closed at the next change of any order.
func (b *Broker) AnyOrderChanged() <-chan struct{} { return b.watch.any() }

// rateMeter sums credited work over a sliding window to estimate the hashrate.
type rateMeter struct {
	mu     sync.Mutex
	window time.Duration
	events []rateEvent
}

type rateEvent struct {
	at   time.Time
	work float64
}

func newRateMeter(window time.Duration) *rateMeter { return &rateMeter{window: window} }

func (r *rateMeter) add(work float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.events = append(r.events, rateEvent{now, work})
	r.trim(now)
}

func (r *rateMeter) trim(now time.Time) {
	i := 0
	for i < len(r.events) && now.Sub(r.events[i].at) > r.window {
		i++
	}
	r.events = r.events[i:]
}

// hashrate is hashes per second over the window (one work unit = 2^32 hashes).
func (r *rateMeter) hashrate(since time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.trim(now)
	sum := 0.0
	for _, e := range r.events {
		sum += e.work
	}
	span := r.window
	if d := now.Sub(since); d < span {
		span = d
	}
	if span <= 0 {
		return 0
	}
	return sum * 4294967296 / span.Seconds()
}
