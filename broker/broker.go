package broker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/broker/internal/bounded"
	"github.com/proofow/powbroker/broker/receipt"
	"github.com/proofow/powbroker/chain"
)

// Options are what a Broker is built from.
type Options struct {
	Config  Config
	Net     string // network name, for defaults and display
	Backend chain.Backend
	Store   Store
	// PayoutScript receives every block's subsidy and fees.
	PayoutScript []byte
	// TokenKey derives order tokens (HMAC); keep it secret and stable across restarts.
	TokenKey []byte
	// ReceiptKey is the 32-byte secret key that signs work receipts (BIP 340); keep it
	// stable across restarts. Nil: a fresh key for this run.
	ReceiptKey []byte
	Logger     *slog.Logger
	// ObserveShare, when set, sees how long each share took on the share path, from
	// arrival to its durable verdict (metrics).
	ObserveShare func(d time.Duration)
	// CompactAfter is how long after an order ended its shares are compacted away
	// (stores that implement ShareCompactor); 0 = DefaultCompactAfter, negative = never.
	CompactAfter time.Duration
}

// Broker is the stratifier. Create it with New and run it with Run.
type Broker struct {
	cfg     Config
	net     string
	backend chain.Backend
	store   Store
	payout  []byte
	key     []byte
	log     *slog.Logger
	// observeShare sees each share's time on the share path (nil: not measured).
	observeShare func(time.Duration)
	// compactAfter: see Options.CompactAfter.
	compactAfter time.Duration
	// tipSeen is when the current tip was first seen (unix nanoseconds), the start of
	// its clean job's tip-to-notify latency.
	tipSeen atomic.Int64
	jobs    *jobBook
	started time.Time

	mu     sync.Mutex
	active map[string]*activeOrder   // working and paid orders: in templates
	spends map[wire.OutPoint]string  // outpoint -> id of the active order spending it
	byTxid map[chainhash.Hash]string // txid -> id of the active order
	tip    chain.Tip
	// unread are connected blocks that could not be read yet (node unavailable).
	unread []chainhash.Hash
	en1    struct{ next, end uint64 }
	dirty  bool

	// assignments caches recent HTTP assignments (the store has them all).
	assignments *bounded.Map[string, *Assignment]

	watch *watcher

	ready          atomic.Bool
	lastErr        atomic.Value // string
	sharesAccepted atomic.Int64
	sharesRejected atomic.Int64
	blocksFound    atomic.Int64
	rate           *rateMeter
	refreshNow     chan struct{}
	checker        *ShareChecker
	rebuildMu      sync.Mutex
	rebuilds       atomic.Uint64 // rebuilds begun (Job.rebuild)
	rejectMu       sync.Mutex
	rejectedBy     map[Kind]int64
	signer         *receipt.Signer
	receiptMu      sync.Mutex // one receipt issued at a time (the stored one is checked under it)
	live           *liveFeed
}

// activeOrder is what the broker keeps in memory about a working or paid order.
type activeOrder struct {
	id      string
	txid    chainhash.Hash
	tx      *wire.MsgTx
	ttx     chain.TemplateTx
	state   State
	created time.Time
	expires time.Time
	// parked keeps the order out of templates until the next tip: its transaction
	// cannot be mined on this chain now (missing or immature inputs), which may change.
	parked bool
}

// New checks the options and returns a broker; call Run to start it.
func New(opt Options) (*Broker, error) {
	if opt.Backend == nil || opt.Store == nil {
		return nil, errors.New("broker: a backend and a store are required")
	}
	if len(opt.PayoutScript) == 0 {
		return nil, errors.New("broker: a payout script is required")
	}
	if len(opt.TokenKey) < 16 {
		return nil, errors.New("broker: a token key of at least 16 bytes is required")
	}
	cfg := opt.Config.WithDefaults(opt.Net)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	signer, err := newSigner(opt.ReceiptKey)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		cfg: cfg, net: opt.Net, backend: opt.Backend, store: opt.Store,
		payout: opt.PayoutScript, key: opt.TokenKey, log: log, observeShare: opt.ObserveShare,
		compactAfter: opt.CompactAfter,
		jobs:         newJobBook(), active: make(map[string]*activeOrder),
		spends: make(map[wire.OutPoint]string), byTxid: make(map[chainhash.Hash]string), assignments: bounded.New[string, *Assignment](100_000),
		checker: NewShareChecker(),
		watch:   newWatcher(), rate: newRateMeter(time.Minute), refreshNow: make(chan struct{}, 1),
		started: time.Now(), signer: signer, live: newLiveFeed(),
	}
	if b.compactAfter == 0 {
		b.compactAfter = DefaultCompactAfter
	}
	b.lastErr.Store("")
	b.watch.changed = func(id string) { b.live.publish(Change{Kind: ChangeOrder, OrderID: id}) }
	return b, nil
}

// Config returns the effective configuration.
func (b *Broker) Config() Config { return b.cfg }

// Net returns the network name.
func (b *Broker) Net() string { return b.net }

// Backend returns the chain backend.
func (b *Broker) Backend() chain.Backend { return b.backend }

// nodeHealth is implemented by backends that know whether their node answers now
// (rpcnode: the tip poller's last request), so that an outage is reported at once
// instead of after each caller's own request timed out.
type nodeHealth interface{ Health() error }

// nodeDown returns the backend's outage, nil when its node answers (or it cannot tell).
func (b *Broker) nodeDown() error {
	if h, ok := b.backend.(nodeHealth); ok {
		return h.Health()
	}
	return nil
}

// Ready tells whether the broker has a checked job to hand out and its chain node
// answers; the error says why not.
func (b *Broker) Ready() error {
	if err := b.nodeDown(); err != nil {
		return &Error{Kind: KindNodeUnavailable, Detail: "the chain node does not answer: " + err.Error(), Err: err}
	}
	if b.ready.Load() {
		return nil
	}
	if s, _ := b.lastErr.Load().(string); s != "" {
		return problem(KindNotReady, "%s", s)
	}
	return problem(KindNotReady, "the first block template is not ready yet")
}

// Start loads the orders, reads the tip and builds the first job. Run calls it; a caller
// that needs the broker ready before serving (serve's ready line) may call it first.
func (b *Broker) Start(ctx context.Context) error {
	if b.ready.Load() {
		return nil
	}
	if err := b.loadActive(ctx); err != nil {
		return err
	}
	tip, err := b.backend.Tip(ctx)
	if err != nil {
		b.setErr(err)
		return fmt.Errorf("chain tip: %w", err)
	}
	b.mu.Lock()
	b.tip = tip
	b.mu.Unlock()
	b.settleSubmittedBlocks(ctx)
	b.reconcile(ctx, tip)
	if err := b.rebuild(ctx, true); err != nil {
		b.setErr(err)
		return fmt.Errorf("first job: %w", err)
	}
	b.ready.Store(true)
	b.lastErr.Store("")
	return nil
}

// Run drives the broker until ctx ends: follows the chain's tips, refreshes jobs when
// orders change, expires orders.
func (b *Broker) Run(ctx context.Context) error {
	tips := b.backend.Tips(ctx)
	for ctx.Err() == nil {
		if err := b.Start(ctx); err == nil {
			break
		}
		b.log.Warn("broker not ready", "err", b.lastErr.Load())
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	refresh := time.NewTicker(b.cfg.RefreshInterval.D())
	defer refresh.Stop()
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	compacted := make(chan struct{})
	defer func() { <-compacted }()
	go func() {
		defer close(compacted)
		b.compactLoop(ctx)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-tips:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("broker: the chain's tip feed ended")
			}
			b.handleTip(ctx, ev)
		case <-b.refreshNow:
			b.refresh(ctx, false)
		case <-refresh.C:
			b.mu.Lock()
			dirty := b.dirty
			b.mu.Unlock()
			b.retryUnread(ctx)
			j := b.jobs.cur()
			if dirty || j == nil || time.Since(j.Created) > 30*time.Second || !b.ready.Load() {
				b.refresh(ctx, false)
			}
		case <-sweep.C:
			b.expire(ctx)
		}
	}
}

func (b *Broker) refresh(ctx context.Context, clean bool) {
	b.mu.Lock()
	b.dirty = false
	b.mu.Unlock()
	if err := b.rebuild(ctx, clean); err != nil {
		b.setErr(err)
		b.log.Warn("job refresh failed", "err", err)
		b.mu.Lock()
		b.dirty = true
		b.mu.Unlock()
		return
	}
	b.ready.Store(true)
	b.lastErr.Store("")
}

func (b *Broker) setErr(err error) {
	b.lastErr.Store(err.Error())
	if errors.Is(err, chain.ErrUnavailable) {
		b.ready.Store(false)
	}
}

// markDirty asks for a new job at the next refresh; soon asks for it now.
func (b *Broker) markDirty(soon bool) {
	b.mu.Lock()
	b.dirty = true
	b.mu.Unlock()
	if soon {
		select {
		case b.refreshNow <- struct{}{}:
		default:
		}
	}
}

func (b *Broker) loadActive(ctx context.Context) error {
	orders, err := b.store.OrdersInState(ctx, StateWorking, StatePaid)
	if err != nil {
		return fmt.Errorf("load orders: %w", err)
	}
	for _, o := range orders {
		if err := b.addActive(o); err != nil {
			b.log.Error("stored order has an unreadable transaction", "order", o.ID, "err", err)
		}
	}
	return nil
}

func (b *Broker) addActive(o *Order) error {
	tx, err := decodeTx(o.RawTx)
	if err != nil {
		return err
	}
	btx := btcutil.NewTx(tx)
	a := &activeOrder{
		id: o.ID, txid: tx.TxHash(), tx: tx, state: o.State, created: o.CreatedAt, expires: o.ExpiresAt,
		ttx: chain.TemplateTx{Tx: tx, Fee: o.Fee, Weight: blockchain.GetTransactionWeight(btx),
			SigOpCost: int64(blockchain.CountSigOps(btx) * blockchain.WitnessScaleFactor)},
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.active[o.ID]; ok {
		old.state = o.State
		return nil
	}
	b.active[o.ID] = a
	for _, in := range tx.TxIn {
		b.spends[in.PreviousOutPoint] = o.ID
	}
	b.byTxid[a.txid] = o.ID
	b.dirty = true
	return nil
}

func (b *Broker) removeActive(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.active[id]
	if !ok {
		return
	}
	delete(b.active, id)
	delete(b.byTxid, a.txid)
	for _, in := range a.tx.TxIn {
		if b.spends[in.PreviousOutPoint] == id {
			delete(b.spends, in.PreviousOutPoint)
		}
	}
	b.dirty = true
}

// setActiveState updates the state of an active order; false when it is not active.
func (b *Broker) setActiveState(id string, s State) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.active[id]
	if ok {
		a.state = s
	}
	return ok
}

// activeSnapshot lists the active orders, oldest first (parents before children).
func (b *Broker) activeSnapshot() []*activeOrder {
	b.mu.Lock()
	out := make([]*activeOrder, 0, len(b.active))
	for _, a := range b.active {
		out = append(out, a)
	}
	b.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].created.Equal(out[j].created) {
			return out[i].id < out[j].id
		}
		return out[i].created.Before(out[j].created)
	})
	return out
}

// templateOrders are the active orders that go into templates.
func (b *Broker) templateOrders() []*activeOrder {
	all := b.activeSnapshot()
	out := all[:0]
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range all {
		if !a.parked {
			out = append(out, a)
		}
	}
	return out
}

// unpark lets every parked order try the templates again.
func (b *Broker) unpark() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.active {
		a.parked = false
	}
}

func (b *Broker) park(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, ok := b.active[id]; ok {
		a.parked = true
	}
}

func (b *Broker) orderByTxid(txid chainhash.Hash) *activeOrder {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.active[b.byTxid[txid]]
}

func (b *Broker) activeState(id string) (State, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.active[id]
	if !ok {
		return "", false
	}
	return a.state, true
}

// Tip is the broker's view of the chain tip.
func (b *Broker) Tip() chain.Tip {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tip
}

// nextExtranonce1 hands out a unique extranonce1, reserving ranges in the store so
// that they stay unique across restarts.
func (b *Broker) nextExtranonce1(ctx context.Context) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.en1.next >= b.en1.end {
		const block = 4096
		first, err := b.store.Reserve(ctx, "extranonce1", block)
		if err != nil {
			return nil, fmt.Errorf("reserve extranonce: %w", err)
		}
		b.en1.next, b.en1.end = first, first+block
	}
	v := b.en1.next
	b.en1.next++
	en1 := make([]byte, chain.Extranonce1Size)
	binary.BigEndian.PutUint32(en1, uint32(v))
	return en1, nil
}

// NewExtranonce1 returns a unique 4-byte extranonce1 for a Stratum session.
func (b *Broker) NewExtranonce1(ctx context.Context) ([]byte, error) { return b.nextExtranonce1(ctx) }

func randomID(prefix string, n int) string {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	out := make([]byte, 0, len(prefix)+n)
	out = append(out, prefix...)
	for _, c := range buf {
		out = append(out, alphabet[int(c)%len(alphabet)])
	}
	return string(out)
}
