package sse

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options tune a Hub; zero values take the defaults.
type Options struct {
	Replay    int           // events kept for reconnecting clients (default 1024)
	ClientBuf int           // events queued per client before it is dropped (default 256)
	MaxConns  int           // concurrent clients (default 1000)
	Heartbeat time.Duration // comment line sent when idle (default 15s)
	// WriteTimeout bounds one write to a client (default 10s).
	WriteTimeout time.Duration
}

// Event is one published event.
type Event struct {
	Seq  uint64
	Type string
	Data []byte // JSON, one line
}

// Hub fans events out to SSE clients.
type Hub struct {
	opt   Options
	epoch string

	mu      sync.Mutex
	seq     uint64
	ring    []Event // the last opt.Replay events, oldest first
	clients map[*client]struct{}
	dropped uint64
}

type client struct {
	ch   chan Event
	gone chan struct{} // closed when the hub drops the client
}

// NewHub returns a hub.
func NewHub(opt Options) *Hub {
	if opt.Replay <= 0 {
		opt.Replay = 1024
	}
	if opt.ClientBuf <= 0 {
		opt.ClientBuf = 256
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 1000
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = 15 * time.Second
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 10 * time.Second
	}
	return &Hub{opt: opt, epoch: strconv.FormatInt(time.Now().UnixNano(), 36), clients: make(map[*client]struct{})}
}

// Publish sends an event of type typ with v as JSON data to every client and keeps it
// for replay. It never blocks: a client whose queue is full is dropped.
func (h *Hub) Publish(typ string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sse: event %s: %w", typ, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ev := Event{Seq: h.seq, Type: typ, Data: data}
	if len(h.ring) >= h.opt.Replay {
		copy(h.ring, h.ring[1:])
		h.ring = h.ring[:len(h.ring)-1]
	}
	h.ring = append(h.ring, ev)
	for c := range h.clients {
		select {
		case c.ch <- ev:
		default:
			h.dropLocked(c)
		}
	}
	return nil
}

func (h *Hub) dropLocked(c *client) {
	delete(h.clients, c)
	close(c.gone)
	h.dropped++
}

// Stats reports the connected clients and how many were dropped for being slow.
func (h *Hub) Stats() (clients int, dropped uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients), h.dropped
}

// ID renders an event id.
func (h *Hub) ID(seq uint64) string { return h.epoch + "-" + strconv.FormatUint(seq, 10) }

// subscribe registers a client and returns the events after lastID to replay; reset
// is true when lastID names events that are no longer kept (or another hub's).
func (h *Hub) subscribe(lastID string) (c *client, replay []Event, reset bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) >= h.opt.MaxConns {
		return nil, nil, false, fmt.Errorf("%d event stream clients already connected", len(h.clients))
	}
	c = &client{ch: make(chan Event, h.opt.ClientBuf), gone: make(chan struct{})}
	h.clients[c] = struct{}{}
	if lastID == "" {
		return c, nil, false, nil
	}
	epoch, s, ok := strings.Cut(lastID, "-")
	seq, perr := strconv.ParseUint(s, 10, 64)
	if !ok || perr != nil || epoch != h.epoch || seq > h.seq {
		return c, nil, true, nil
	}
	if len(h.ring) > 0 && seq+1 < h.ring[0].Seq {
		return c, nil, true, nil // missed events that are no longer kept
	}
	for _, ev := range h.ring {
		if ev.Seq > seq {
			replay = append(replay, ev)
		}
	}
	return c, replay, false, nil
}

func (h *Hub) unsubscribe(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		close(c.gone)
	}
}

// ServeHTTP streams events (text/event-stream) until the client leaves, the request's
// context ends or the client is dropped for being slow.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id") // for clients that cannot set headers
	}
	if len(last) > 64 {
		last = "invalid"
	}
	c, replay, reset, err := h.subscribe(last)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer h.unsubscribe(c)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(h.opt.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	var buf []byte
	buf = append(buf, "retry: 2000\n\n"...)
	if reset {
		buf = h.appendEvent(buf, Event{Seq: 0, Type: "reset", Data: []byte(`{"reason":"events since the last id are not available; reload the state"}`)})
	}
	for _, ev := range replay {
		buf = h.appendEvent(buf, ev)
	}
	if !write(buf) {
		return
	}
	ctx := r.Context()
	beat := time.NewTicker(h.opt.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.gone:
			return // too slow: dropped by Publish
		case ev := <-c.ch:
			buf = h.appendEvent(buf[:0], ev)
			// Send what else is queued in the same write.
			for more := true; more && len(buf) < 64<<10; {
				select {
				case ev := <-c.ch:
					buf = h.appendEvent(buf, ev)
				default:
					more = false
				}
			}
			if !write(buf) {
				return
			}
		case <-beat.C:
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		}
	}
}

func (h *Hub) appendEvent(buf []byte, ev Event) []byte {
	if ev.Seq > 0 {
		buf = append(buf, "id: "...)
		buf = append(buf, h.ID(ev.Seq)...)
		buf = append(buf, '\n')
	}
	buf = append(buf, "event: "...)
	buf = append(buf, ev.Type...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, ev.Data...)
	return append(buf, "\n\n"...)
}
