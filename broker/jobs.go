package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/broker/internal/bounded"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/miner"
)

// maxJobs is how many recent jobs stay known for shares and block candidates: enough
// for every job of a busy tip (one per new or leaving order) and the ones before it.
const maxJobs = 256

// Job is one version of the pooled block being mined: a template with the active
// orders' transactions, its coinbase halves and merkle branch, and a job id.
type Job struct {
	ID        string
	Assembly  *chain.Assembly
	PrevHash  chainhash.Hash
	Height    int32
	Version   int32
	Bits      uint32
	NTime     uint32 // header time miners start from
	MinTime   uint32
	NetTarget *big.Int
	netTarget miner.Target
	// Orders are the ids of the orders whose transactions the job carries.
	Orders  []string
	Clean   bool // first job on a new tip: earlier jobs are stale
	Created time.Time
	// rebuild numbers the rebuild that made the job (Broker.rebuilds when it began).
	rebuild uint64
	// TipSeen is when the broker learnt of the tip a clean job is built on (zero when
	// not clean or unknown): the start of the tip-to-notify latency.
	TipSeen time.Time

	roots *bounded.Map[rootKey, chainhash.Hash] // merkle root per extranonce1‖extranonce2

	// solved is set once a block of this job was accepted: later candidates of the
	// same job would only be siblings of our own block and are not submitted.
	solved atomic.Bool
}

// NetworkDifficulty is the difficulty of the job's network target.
func (j *Job) NetworkDifficulty() float64 { return chain.TargetDifficulty(j.NetTarget) }

// HasOrder tells whether the job carries the order's transaction.
func (j *Job) HasOrder(id string) bool {
	for _, o := range j.Orders {
		if o == id {
			return true
		}
	}
	return false
}

// rootKey is extranonce1‖extranonce2 as a comparable value (no allocation per share).
type rootKey struct {
	b [chain.Extranonce1Size + chain.MaxExtranonce2]byte
	n uint8
}

// newRootCache is a job's merkle-root cache: a session's shares hit one entry.
func newRootCache() *bounded.Map[rootKey, chainhash.Hash] {
	return bounded.New[rootKey, chainhash.Hash](8192)
}

// merkleRoot returns the cached merkle root for the extranonces.
func (j *Job) merkleRoot(en1, en2 []byte) chainhash.Hash {
	if len(en1)+len(en2) > len(rootKey{}.b) {
		return j.Assembly.MerkleRoot(en1, en2) // not a size a job hands out; not cached
	}
	var key rootKey
	key.n = uint8(copy(key.b[:], en1))
	key.n += uint8(copy(key.b[key.n:], en2))
	if root, ok := j.roots.Get(key); ok {
		return root
	}
	root := j.Assembly.MerkleRoot(en1, en2)
	j.roots.Put(key, root)
	return root
}

// Header renders the 80-byte header for the extranonces, version, time and nonce.
func (j *Job) Header(en1, en2 []byte, version int32, ntime, nonce uint32) miner.Header {
	var h miner.Header
	binary.LittleEndian.PutUint32(h[0:4], uint32(version))
	copy(h[4:36], j.PrevHash[:])
	root := j.merkleRoot(en1, en2)
	copy(h[36:68], root[:])
	binary.LittleEndian.PutUint32(h[68:72], ntime)
	binary.LittleEndian.PutUint32(h[72:76], j.Bits)
	binary.LittleEndian.PutUint32(h[76:80], nonce)
	return h
}

// Block assembles the full block for a solved header.
func (j *Job) Block(en1, en2 []byte, h *miner.Header) (*wire.MsgBlock, error) {
	var hdr wire.BlockHeader
	if err := hdr.Deserialize(bytes.NewReader(h[:])); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	return j.Assembly.Block(en1, en2, hdr)
}

// jobBook keeps the current job and the recent ones by id.
type jobBook struct {
	mu      sync.RWMutex
	seq     uint64
	current *Job
	byID    map[string]*Job
	order   []string
	subs    map[chan *Job]struct{}
}

func newJobBook() *jobBook {
	return &jobBook{byID: make(map[string]*Job), subs: make(map[chan *Job]struct{})}
}

func (b *jobBook) add(j *Job) {
	b.mu.Lock()
	b.seq++
	j.ID = fmt.Sprintf("%x", b.seq)
	b.current = j
	b.byID[j.ID] = j
	b.order = append(b.order, j.ID)
	for len(b.order) > maxJobs {
		delete(b.byID, b.order[0])
		b.order = b.order[1:]
	}
	subs := make([]chan *Job, 0, len(b.subs))
	for c := range b.subs {
		subs = append(subs, c)
	}
	b.mu.Unlock()
	for _, c := range subs {
		// Keep only the newest job for a slow subscriber.
		select {
		case c <- j:
		default:
			select {
			case <-c:
			default:
			}
			select {
			case c <- j:
			default:
			}
		}
	}
}

func (b *jobBook) get(id string) *Job {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.byID[id]
}

func (b *jobBook) cur() *Job {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.current
}

func (b *jobBook) subscribe() (chan *Job, func()) {
	c := make(chan *Job, 1)
	b.mu.Lock()
	b.subs[c] = struct{}{}
	b.mu.Unlock()
	return c, func() {
		b.mu.Lock()
		delete(b.subs, c)
		b.mu.Unlock()
	}
}

// Jobs delivers every new job (the newest one when the reader is slow) until the
// returned cancel function is called. The first value is the current job, if any.
func (b *Broker) Jobs() (<-chan *Job, func()) {
	c, cancel := b.jobs.subscribe()
	if j := b.jobs.cur(); j != nil {
		select {
		case c <- j:
		default:
		}
	}
	return c, cancel
}

// CurrentJob returns the newest job, nil before the first template.
func (b *Broker) CurrentJob() *Job { return b.jobs.cur() }

// Job returns a recent job by id, nil when unknown or pruned.
func (b *Broker) Job(id string) *Job { return b.jobs.get(id) }

// jobWait bounds how long an HTTP request waits for a job that carries its order.
const jobWait = 10 * time.Second

// WantJob returns the current job when it carries the order; otherwise it asks the
// refresh loop for a new job now and returns nil (the job feed delivers it). It is the
// one way to get a job that carries a new order (or one back after a reorg): Stratum
// sessions call it when their worker authorizes, the HTTP path through jobWith.
func (b *Broker) WantJob(id string) *Job {
	if j := b.jobs.cur(); j != nil && j.HasOrder(id) {
		return j
	}
	b.markDirty(true)
	return nil
}

// jobWith is WantJob waiting for the refresh: it returns the first job that carries the
// order or was built after the request (an order the chain refuses stays out of it,
// parked or failed, and its assignment then shows why), within jobWait.
func (b *Broker) jobWith(ctx context.Context, id string) (*Job, error) {
	feed, cancel := b.jobs.subscribe()
	defer cancel()
	asked := b.rebuilds.Load()
	if j := b.WantJob(id); j != nil {
		return j, nil
	}
	timer := time.NewTimer(jobWait)
	defer timer.Stop()
	for {
		select {
		case j := <-feed:
			if j.HasOrder(id) || j.rebuild > asked {
				return j, nil
			}
		case <-timer.C:
			return nil, problem(KindNotReady, "no new job was built for order %s within %s; try again", id, jobWait)
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for a job with order %s: %w", id, ctx.Err())
		}
	}
}

// rebuild makes a new job from the backend's template and the active orders, checks
// it with a proposal, and publishes it.
func (b *Broker) rebuild(ctx context.Context, clean bool) error {
	// One rebuild at a time, so a job from an older template is never published after
	// a newer one.
	b.rebuildMu.Lock()
	defer b.rebuildMu.Unlock()
	n := b.rebuilds.Add(1)
	tmpl, err := b.backend.Template(ctx)
	if err != nil {
		return fmt.Errorf("template: %w", err)
	}
	orders := b.parkBeforeSegwit(ctx, tmpl, b.templateOrders())
	extra := make([]chain.TemplateTx, 0, len(orders))
	for _, o := range orders {
		extra = append(extra, o.ttx)
	}
	asm, err := b.assemble(tmpl, extra)
	if err != nil {
		return err
	}
	if err := b.propose(ctx, asm); err != nil {
		// Find the orders the chain refuses: keep adding them one at a time.
		var be *chain.BlockError
		if !errors.As(err, &be) {
			return err
		}
		good := []chain.TemplateTx{}
		for _, o := range orders {
			try := append(append([]chain.TemplateTx(nil), good...), o.ttx)
			a, aerr := b.assemble(tmpl, try)
			if aerr == nil {
				aerr = b.propose(ctx, a)
			}
			if aerr != nil {
				b.log.Warn("order transaction refused in a block", "order", o.id, "err", aerr)
				b.orderRefused(ctx, o, aerr)
				continue
			}
			good = try
		}
		if asm, err = b.assemble(tmpl, good); err != nil {
			return err
		}
		if err := b.propose(ctx, asm); err != nil {
			return fmt.Errorf("template without the refused orders: %w", err)
		}
	}
	included := make(map[chainhash.Hash]bool, len(asm.Included))
	for _, h := range asm.Included {
		included[h] = true
	}
	var ids []string
	for _, o := range orders {
		if included[o.txid] {
			ids = append(ids, o.id)
		}
	}
	for _, d := range asm.Dropped {
		if o := b.orderByTxid(d.Txid); o != nil {
			_ = b.store.SetReason(ctx, o.id, "not in the current block template: "+d.Reason)
		}
	}
	sort.Strings(ids)
	if cur := b.jobs.cur(); cur == nil || cur.PrevHash != tmpl.PrevHash {
		clean = true // a new tip: every earlier job is stale
	}
	j := &Job{
		Assembly:  asm,
		PrevHash:  tmpl.PrevHash,
		Height:    tmpl.Height,
		Version:   tmpl.Version,
		Bits:      tmpl.Bits,
		NTime:     uint32(tmpl.CurTime.Unix()),
		MinTime:   uint32(tmpl.MinTime.Unix()),
		NetTarget: tmpl.Target(),
		netTarget: miner.TargetFromBig(tmpl.Target()),
		Orders:    ids,
		Clean:     clean,
		Created:   time.Now(),
		rebuild:   n,
		roots:     newRootCache(),
	}
	if seen := b.tipSeen.Load(); clean && seen != 0 {
		j.TipSeen = time.Unix(0, seen)
	}
	b.jobs.add(j)
	b.log.Debug("new job", "job", j.ID, "height", j.Height, "orders", len(ids), "clean", clean)
	return nil
}

func (b *Broker) assemble(tmpl *chain.Template, extra []chain.TemplateTx) (*chain.Assembly, error) {
	asm, err := chain.Assemble(chain.AssembleSpec{
		Template:     tmpl,
		Extra:        extra,
		PayoutScript: b.payout,
		Tag:          []byte(b.cfg.CoinbaseTag),
	})
	if err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	return asm, nil
}

// propose checks the assembled block (zero extranonces, unsolved) with the backend.
func (b *Broker) propose(ctx context.Context, asm *chain.Assembly) error {
	en1 := make([]byte, chain.Extranonce1Size)
	en2 := make([]byte, asm.Extranonce2Size)
	t := asm.Template
	hdr := asm.Header(en1, en2, t.Version, uint32(t.CurTime.Unix()), 0)
	blk, err := asm.Block(en1, en2, hdr)
	if err != nil {
		return err
	}
	return b.backend.Propose(ctx, blk)
}
