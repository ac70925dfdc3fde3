package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/proofow/powbroker/chain"
)

// ChangeKind names what a Change is about.
type ChangeKind string

// Change kinds.
const (
	ChangeTip   ChangeKind = "tip"   // a new best tip
	ChangeBlock ChangeKind = "block" // the broker found a block (accepted or rejected)
	ChangeOrder ChangeKind = "order" // an order was created or changed (state, work, confirmations)
)

// Change is one thing a live view (the status page) shows as it happens.
type Change struct {
	Kind    ChangeKind
	OrderID string    // ChangeOrder
	Tip     chain.Tip // ChangeTip
	Block   *Block    // ChangeBlock
}

// liveFeed fans changes out to subscribers without ever blocking the broker: a
// subscriber whose buffer is full misses changes (it is told by Lost).
type liveFeed struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
	hist history
}

// Subscription receives changes until it is closed.
type Subscription struct {
	C    <-chan Change
	c    chan Change
	feed *liveFeed
	lost bool
}

func newLiveFeed() *liveFeed { return &liveFeed{subs: make(map[*Subscription]struct{})} }

func (f *liveFeed) publish(c Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		select {
		case s.c <- c:
		default:
			s.lost = true
		}
	}
}

// Subscribe returns a subscription with a buffer of buf changes.
func (b *Broker) Subscribe(buf int) *Subscription {
	c := make(chan Change, max(1, buf))
	s := &Subscription{C: c, c: c, feed: b.live}
	b.live.mu.Lock()
	b.live.subs[s] = struct{}{}
	b.live.mu.Unlock()
	return s
}

// Lost tells (and resets) whether changes were dropped since the last call because the
// buffer was full.
func (s *Subscription) Lost() bool {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	l := s.lost
	s.lost = false
	return l
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.feed.mu.Lock()
	delete(s.feed.subs, s)
	s.feed.mu.Unlock()
}

// Minute is one minute of share statistics.
type Minute struct {
	Start      time.Time
	Accepted   int64
	Work       float64 // credited work units
	Rejected   int64
	RejectedBy map[Kind]int64
}

// historyMinutes is how far back History reaches.
const historyMinutes = 60

// history keeps per-minute share counts of the last hour in a ring.
type history struct {
	mu  sync.Mutex
	buf [historyMinutes]Minute
}

func (h *history) add(now time.Time, work float64, reject Kind) {
	start := now.Truncate(time.Minute)
	h.mu.Lock()
	defer h.mu.Unlock()
	m := &h.buf[(start.Unix()/60)%historyMinutes]
	if !m.Start.Equal(start) {
		*m = Minute{Start: start}
	}
	if reject != "" {
		m.Rejected++
		if m.RejectedBy == nil {
			m.RejectedBy = make(map[Kind]int64)
		}
		m.RejectedBy[reject]++
		return
	}
	m.Accepted++
	m.Work += work
}

// minutes lists the last hour, oldest first, one entry per minute (zero when idle).
func (h *history) minutes(now time.Time) []Minute {
	end := now.Truncate(time.Minute)
	out := make([]Minute, 0, historyMinutes)
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := historyMinutes - 1; i >= 0; i-- {
		start := end.Add(-time.Duration(i) * time.Minute)
		m := h.buf[(start.Unix()/60)%historyMinutes]
		if !m.Start.Equal(start) {
			m = Minute{Start: start}
		}
		by := make(map[Kind]int64, len(m.RejectedBy))
		for k, v := range m.RejectedBy {
			by[k] = v
		}
		m.RejectedBy = by
		out = append(out, m)
	}
	return out
}

// History is the share statistics of the last hour, one entry per minute, oldest first
// (the current minute last, still filling).
func (b *Broker) History() []Minute { return b.live.hist.minutes(time.Now()) }

// recentOrders is the store's listing of the newest orders (the SQLite store has it).
type recentOrders interface {
	RecentOrders(ctx context.Context, limit int) ([]*Order, error)
}

// PublicOrders lists the newest orders (at most limit) as anyone may see them: no token.
func (b *Broker) PublicOrders(ctx context.Context, limit int) ([]*View, error) {
	rs, ok := b.store.(recentOrders)
	if !ok {
		return nil, errors.New("the store cannot list recent orders")
	}
	os, err := rs.RecentOrders(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*View, len(os))
	for i, o := range os {
		out[i] = b.View(o)
	}
	return out, nil
}

// PublicOrder is one order as anyone may see it (by id, no token).
func (b *Broker) PublicOrder(ctx context.Context, id string) (*View, error) {
	o, err := b.store.Order(ctx, id)
	if err != nil {
		return nil, err
	}
	return b.View(o), nil
}
