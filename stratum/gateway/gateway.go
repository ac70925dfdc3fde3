// Package gateway is a Stratum front end of a broker over the bus: the stratum
// package's server holds the sessions, parses, runs vardiff and hands shares to this
// package's Pool, which checks them in full against the jobs the broker published
// (broker.ShareChecker, the broker's own check) and sends the good ones to the broker,
// answering the miner only with the broker's answer, given after its store committed
// the share. Without a broker answer a submit gets a clear error and nothing is
// acknowledged.
//
// A gateway holds a one-byte extranonce1 prefix leased from the broker (refused when
// another live gateway holds it) and renews it every HeartbeatInterval; its sessions'
// extranonce1 values come from blocks the broker reserves under that prefix, so no two
// sessions anywhere hash the same header.
package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/bus"
	"github.com/proofow/powbroker/broker/busnode"
	"github.com/proofow/powbroker/broker/stratumpool"
	"github.com/proofow/powbroker/stratum"
)

// HeartbeatInterval is how often a gateway renews its prefix lease.
const HeartbeatInterval = 2 * time.Second

// RequestTimeout bounds every request to the broker.
const RequestTimeout = 10 * time.Second

// maxJobs is how many recent jobs a gateway keeps for shares.
const maxJobs = 256

// Options configure a gateway.
type Options struct {
	ID     string // unique name of the gateway
	Prefix int    // 1..255
	Logger *slog.Logger
}

// Pool is the broker behind the bus, as a stratum.Pool.
type Pool struct {
	c       *bus.Conn
	opt     Options
	log     *slog.Logger
	checker *broker.ShareChecker

	mu      sync.Mutex
	broker  string // instance id of the broker whose jobs we hold
	byID    map[string]*gwJob
	order   []string
	current *gwJob
	subs    map[chan *stratum.Job]struct{}
	en1     struct{ next, end uint32 }
}

type gwJob struct {
	bj *broker.Job
	sj *stratum.Job
}

var _ stratum.Pool = (*Pool)(nil)

// ErrPrefixTaken is a registration the broker refused.
var ErrPrefixTaken = errors.New("gateway: extranonce prefix refused")

// New registers the gateway with the broker (its prefix lease) and subscribes to jobs.
func New(ctx context.Context, c *bus.Conn, opt Options) (*Pool, error) {
	if opt.Prefix < 1 || opt.Prefix > 255 {
		return nil, fmt.Errorf("gateway: prefix %d: want 1 to 255", opt.Prefix)
	}
	if opt.ID == "" {
		return nil, errors.New("gateway: an id is required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pool{c: c, opt: opt, log: opt.Logger, checker: broker.NewShareChecker(),
		byID: make(map[string]*gwJob), subs: make(map[chan *stratum.Job]struct{})}
	if _, err := bus.Subscribe(c, bus.SubjectJobs, p.onJob); err != nil {
		return nil, fmt.Errorf("gateway: subscribe to jobs: %w", err)
	}
	if err := p.register(ctx); err != nil {
		return nil, err
	}
	p.fetchJob(ctx)
	return p, nil
}

func (p *Pool) register(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	var r bus.RegisterReply
	if err := p.c.Request(ctx, bus.SubjectRegister, &bus.Register{Gateway: p.opt.ID, Prefix: p.opt.Prefix}, &r); err != nil {
		return fmt.Errorf("gateway: register: %w", err)
	}
	if r.Error != nil {
		return fmt.Errorf("%w: %s", ErrPrefixTaken, r.Error.Message)
	}
	return nil
}

// fetchJob asks the broker for its current job (after a start or a takeover).
func (p *Pool) fetchJob(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	var j bus.Job
	if err := p.c.Request(ctx, bus.SubjectJobNow, &bus.JobNow{Gateway: p.opt.ID}, &j); err == nil && j.ID != "" {
		p.onJob(&j)
	}
}

// Run renews the prefix lease until ctx ends; it returns an error when the broker
// refuses the lease (another gateway took the prefix while this one was away).
func (p *Pool) Run(ctx context.Context) error {
	t := time.NewTicker(HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			err := p.register(ctx)
			if errors.Is(err, ErrPrefixTaken) {
				return err
			}
			if err != nil {
				p.log.Warn("gateway: heartbeat", "err", err)
				continue
			}
			p.mu.Lock()
			empty := p.current == nil
			p.mu.Unlock()
			if empty {
				p.fetchJob(ctx)
			}
		}
	}
}

// onJob takes a published job: checked, rebuilt for the share check, converted for the
// sessions. A job from another broker instance (a standby that took over) replaces
// every job held.
func (p *Pool) onJob(w *bus.Job) {
	if err := w.Check(); err != nil {
		p.log.Warn("gateway: refused a job", "err", err)
		return
	}
	bj := broker.RemoteJob(busnode.JobParts(w))
	g := &gwJob{bj: bj, sj: stratumpool.Job(bj)}
	p.mu.Lock()
	if w.Broker != p.broker {
		if p.broker != "" {
			p.log.Info("gateway: jobs from a new broker instance", "broker", w.Broker)
			g.sj.Clean = true
		}
		p.broker = w.Broker
		clear(p.byID)
		p.order = p.order[:0]
	}
	if _, dup := p.byID[w.ID]; dup {
		p.mu.Unlock()
		return
	}
	p.byID[w.ID] = g
	p.order = append(p.order, w.ID)
	for len(p.order) > maxJobs {
		delete(p.byID, p.order[0])
		p.order = p.order[1:]
	}
	p.current = g
	subs := make([]chan *stratum.Job, 0, len(p.subs))
	for c := range p.subs {
		subs = append(subs, c)
	}
	p.mu.Unlock()
	for _, c := range subs {
		select { // keep only the newest job for a slow reader
		case c <- g.sj:
		default:
			select {
			case <-c:
			default:
			}
			select {
			case c <- g.sj:
			default:
			}
		}
	}
}

// Jobs delivers the newest job (the current one first) until cancel.
func (p *Pool) Jobs() (<-chan *stratum.Job, func()) {
	c := make(chan *stratum.Job, 1)
	p.mu.Lock()
	p.subs[c] = struct{}{}
	if p.current != nil {
		c <- p.current.sj
	}
	p.mu.Unlock()
	var once sync.Once
	return c, func() {
		once.Do(func() {
			p.mu.Lock()
			delete(p.subs, c)
			p.mu.Unlock()
		})
	}
}

// Authorize resolves a token at the broker.
func (p *Pool) Authorize(ctx context.Context, token string) (stratum.Account, error) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	var r bus.AuthReply
	if err := p.c.Request(ctx, bus.SubjectAuth, &bus.AuthRequest{Gateway: p.opt.ID, Token: token}, &r); err != nil {
		return stratum.Account{}, unavailable(err)
	}
	if r.Error != nil {
		return stratum.Account{}, &stratum.Error{Code: r.Error.Code, Message: r.Error.Message}
	}
	if r.Account == nil {
		return stratum.Account{}, unavailable(errors.New("empty answer"))
	}
	return account(*r.Account), nil
}

func account(a bus.Account) stratum.Account {
	return stratum.Account{ID: a.ID, State: a.State, Working: a.Working, Message: a.Message}
}

// unavailable is the miner's error when the broker does not answer.
func unavailable(err error) error {
	return &stratum.Error{Code: stratum.CodeOther, Message: "the broker is unavailable, nothing was recorded: " + err.Error()}
}

// Extranonce1 hands out the next value of the gateway's current block, asking the
// broker for a new block when it is used up.
func (p *Pool) Extranonce1(ctx context.Context) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.en1.next >= p.en1.end {
		rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
		defer cancel()
		var r bus.ExtranonceReply
		if err := p.c.Request(rctx, bus.SubjectExtranonce, &bus.ExtranonceRequest{Gateway: p.opt.ID, Prefix: p.opt.Prefix}, &r); err != nil {
			return nil, unavailable(err)
		}
		if r.Error != nil {
			return nil, &stratum.Error{Code: r.Error.Code, Message: r.Error.Message}
		}
		if byte(r.First>>24) != byte(p.opt.Prefix) || r.Count == 0 || uint64(r.First&0xffffff)+uint64(r.Count) > 1<<24 {
			return nil, fmt.Errorf("gateway: broker sent extranonce block %08x+%d outside prefix %d", r.First, r.Count, p.opt.Prefix)
		}
		p.en1.next, p.en1.end = r.First, r.First+r.Count
	}
	en1 := make([]byte, 4)
	binary.BigEndian.PutUint32(en1, p.en1.next)
	p.en1.next++
	return en1, nil
}

// AccountChanged is closed after a second: the server then asks the broker again
// (Authorize); a paid order is reported at once by the share that paid it.
func (p *Pool) AccountChanged(string) <-chan struct{} {
	c := make(chan struct{})
	time.AfterFunc(time.Second, func() { close(c) })
	return c
}

// Submit checks a share against its job and, when good, has the broker record it.
func (p *Pool) Submit(ctx context.Context, s stratum.Share) (stratum.Accepted, error) {
	p.mu.Lock()
	g := p.byID[s.JobID]
	p.mu.Unlock()
	if g == nil {
		return stratum.Accepted{}, &stratum.Error{Code: stratum.CodeStale, Message: fmt.Sprintf("job %q is unknown or too old", s.JobID)}
	}
	w := broker.Work{OrderID: s.Account, JobID: s.JobID, Extranonce1: s.Extranonce1, Extranonce2: s.Extranonce2,
		NTime: s.NTime, Nonce: s.Nonce, Version: int32(s.Version), ShareDiff: s.Difficulty, Worker: s.Worker}
	if _, _, err := p.checker.Check(g.bj, &w); err != nil {
		return stratum.Accepted{}, stratumpool.ErrorOf(err)
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	var r bus.SubmitReply
	err := p.c.Request(ctx, bus.SubjectSubmit, &bus.Share{Gateway: p.opt.ID, Account: s.Account, Worker: s.Worker,
		JobID: s.JobID, Extranonce1: s.Extranonce1, Extranonce2: s.Extranonce2, NTime: s.NTime, Nonce: s.Nonce,
		Version: s.Version, Difficulty: s.Difficulty}, &r)
	if err != nil {
		return stratum.Accepted{}, unavailable(err)
	}
	if r.Error != nil {
		return stratum.Accepted{}, &stratum.Error{Code: r.Error.Code, Message: r.Error.Message}
	}
	if r.Accepted == nil {
		return stratum.Accepted{}, unavailable(errors.New("empty answer"))
	}
	return stratum.Accepted{Difficulty: r.Accepted.Difficulty, Block: r.Accepted.Block, Account: account(r.Accepted.Account)}, nil
}
