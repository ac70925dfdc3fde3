package embedded

import (
	"context"
	"sync"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/proofow/powbroker/chain"
)

// subscriber is one Tips channel's queue. publish never blocks on it: events queue up
// and, past maxQueuedEvents, are merged into one event that describes the same change.
type subscriber struct {
	mu    sync.Mutex
	queue []chain.TipEvent
	wake  chan struct{} // capacity 1
}

// Tips returns a channel that receives one event per change of the best chain until
// ctx ends or the chain closes; then the channel is closed. Each call has its own
// channel. A reorganization arrives as one event (Disconnected newest first, Connected
// oldest first); a subscriber that falls far behind gets merged events that together
// describe the same changes.
func (c *Chain) Tips(ctx context.Context) <-chan chain.TipEvent {
	out := make(chan chain.TipEvent)
	s := &subscriber{wake: make(chan struct{}, 1)}
	c.subMu.Lock()
	if c.ctx.Err() != nil || ctx.Err() != nil {
		c.subMu.Unlock()
		close(out)
		return out
	}
	c.subs[s] = struct{}{}
	c.subMu.Unlock()
	go c.serve(ctx, s, out)
	return out
}

func (c *Chain) serve(ctx context.Context, s *subscriber, out chan<- chain.TipEvent) {
	defer func() {
		c.subMu.Lock()
		delete(c.subs, s)
		c.subMu.Unlock()
		close(out)
	}()
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, ev := range q {
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			case <-c.ctx.Done():
				return
			}
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return
		case <-c.ctx.Done():
			return
		}
	}
}

// publish queues ev for every subscriber without blocking.
func (c *Chain) publish(ev chain.TipEvent) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	for s := range c.subs {
		s.mu.Lock()
		if n := len(s.queue); n >= maxQueuedEvents {
			s.queue[n-1] = mergeEvents(s.queue[n-1], ev)
		} else {
			s.queue = append(s.queue, ev)
		}
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// mergeEvents returns one event equivalent to a followed by b.
func mergeEvents(a, b chain.TipEvent) chain.TipEvent {
	m := chain.TipEvent{
		Tip:          b.Tip,
		Disconnected: append([]chainhash.Hash(nil), a.Disconnected...),
		Connected:    append([]chainhash.Hash(nil), a.Connected...),
	}
	for _, d := range b.Disconnected {
		if k := len(m.Connected); k > 0 && m.Connected[k-1] == d {
			m.Connected = m.Connected[:k-1]
			continue
		}
		m.Disconnected = append(m.Disconnected, d)
	}
	m.Connected = append(m.Connected, b.Connected...)
	return m
}
