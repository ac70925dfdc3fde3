package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/web"
	"github.com/proofow/powbroker/stratum"
)

// WorkerLister lists the Stratum server's workers (the daemon's *stratum.Server).
type WorkerLister interface {
	Workers() []stratum.WorkerInfo
}

// PublicOrder is an order as anyone may see it: never its token.
type PublicOrder struct {
	ID           string     `json:"id"`
	Txid         string     `json:"txid"`
	State        string     `json:"state"`
	RequiredWork float64    `json:"required_work"`
	CreditedWork float64    `json:"credited_work"`
	Progress     float64    `json:"progress"`
	Shares       int64      `json:"shares"`
	CreatedAt    time.Time  `json:"created_at"`
	PaidAt       *time.Time `json:"paid_at"`
	MinedAt      *time.Time `json:"mined_at"`
	BlockHash    string     `json:"block_hash,omitempty"`
	Height       int32      `json:"height,omitempty"`
}

func publicOrder(v *broker.View) PublicOrder {
	return PublicOrder{ID: v.ID, Txid: v.Txid, State: string(v.State), RequiredWork: v.RequiredWork,
		CreditedWork: v.CreditedWork, Progress: v.Progress, Shares: v.Shares, CreatedAt: v.CreatedAt.UTC(),
		PaidAt: timePtr(v.PaidAt), MinedAt: timePtr(v.MinedAt), BlockHash: v.BlockHash, Height: v.Height}
}

// Worker is one Stratum worker as the status page shows it.
type Worker struct {
	Session        uint64           `json:"session"`
	Order          string           `json:"order"`
	Suffix         string           `json:"suffix"`
	Hashrate       float64          `json:"hashrate"`
	Difficulty     float64          `json:"difficulty"`
	Accepted       int64            `json:"accepted"`
	LastShare      *time.Time       `json:"last_share"`
	Rejected       map[string]int64 `json:"rejected"`
	ConnectedSince time.Time        `json:"connected_since"`
}

// Minute is one minute of share statistics.
type Minute struct {
	Start      time.Time        `json:"start"`
	Accepted   int64            `json:"accepted"`
	Rejected   int64            `json:"rejected"`
	RejectedBy map[string]int64 `json:"rejected_by"`
	Work       float64          `json:"work"`
	Hashrate   float64          `json:"hashrate"` // work of the minute in hashes per second
}

// Stats is the last hour of share statistics, one entry per minute, oldest first.
type Stats struct {
	Minutes []Minute `json:"minutes"`
}

// TipEvent is the stream's "tip" event.
type TipEvent struct {
	Height            int32     `json:"height"`
	Hash              string    `json:"hash"`
	Time              time.Time `json:"time"`
	NetworkDifficulty float64   `json:"network_difficulty"`
}

// LiveStats is the stream's "stats" event, sent when the numbers change.
type LiveStats struct {
	Hashrate       float64        `json:"hashrate"`
	Workers        int            `json:"workers"`
	SharesAccepted int64          `json:"shares_accepted"`
	SharesRejected int64          `json:"shares_rejected"`
	BlocksFound    int64          `json:"blocks_found"`
	Orders         map[string]int `json:"orders"`
	Minute         Minute         `json:"minute"`
}

func (s *Server) workers() []Worker {
	if s.workerList == nil {
		return []Worker{}
	}
	ws := s.workerList.Workers()
	out := make([]Worker, 0, len(ws))
	for _, w := range ws {
		out = append(out, Worker{Session: w.Session, Order: w.Account, Suffix: w.Suffix, Hashrate: w.Hashrate,
			Difficulty: w.Difficulty, Accepted: w.Accepted, LastShare: timePtr(w.LastShare), Rejected: w.Rejected,
			ConnectedSince: w.ConnectedSince.UTC()})
	}
	return out
}

func minuteJSON(m broker.Minute) Minute {
	out := Minute{Start: m.Start.UTC(), Accepted: m.Accepted, Rejected: m.Rejected, Work: m.Work,
		Hashrate: m.Work * 4294967296 / 60, RejectedBy: make(map[string]int64, len(m.RejectedBy))}
	for k, v := range m.RejectedBy {
		out.RejectedBy[string(k)] = v
	}
	return out
}

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.workers())
	return nil
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) error {
	ms := s.b.History()
	out := Stats{Minutes: make([]Minute, len(ms))}
	for i, m := range ms {
		out.Minutes[i] = minuteJSON(m)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// MaxPublicOrders bounds GET /v1/orders.
const MaxPublicOrders = 500

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request) error {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPublicOrders {
			return newProblem(broker.KindInvalidRequest, "limit %q must be a number from 1 to %d", v, MaxPublicOrders)
		}
		limit = n
	}
	vs, err := s.b.PublicOrders(r.Context(), limit)
	if err != nil {
		return err
	}
	out := make([]PublicOrder, len(vs))
	for i, v := range vs {
		out[i] = publicOrder(v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getReceipt(w http.ResponseWriter, r *http.Request) error {
	token, err := bearer(r)
	if err != nil {
		return err
	}
	rc, err := s.b.Receipt(r.Context(), r.PathValue("id"), token)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="receipt-`+rc.OrderID+`.json"`)
	writeJSON(w, http.StatusOK, rc)
	return nil
}

func (s *Server) getReceiptProof(w http.ResponseWriter, r *http.Request) error {
	token, err := bearer(r)
	if err != nil {
		return err
	}
	p, err := s.b.ReceiptProof(r.Context(), r.PathValue("id"), token, r.URL.Query().Get("share"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// liveLoop turns the broker's changes into stream events until ctx ends: tips, blocks
// and orders as they happen (orders coalesced over 200 ms), stats when they change.
func (s *Server) liveLoop(ctx context.Context) {
	sub := s.b.Subscribe(4096)
	defer sub.Close()
	flush := time.NewTicker(200 * time.Millisecond)
	defer flush.Stop()
	pending := make(map[string]bool)
	var last []byte
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-sub.C:
			switch c.Kind {
			case broker.ChangeOrder:
				if len(pending) < 10_000 {
					pending[c.OrderID] = true
				}
			case broker.ChangeTip:
				ev := TipEvent{Height: c.Tip.Height, Hash: c.Tip.Hash.String(), Time: c.Tip.MedianTime.UTC()}
				if j := s.b.CurrentJob(); j != nil {
					ev.NetworkDifficulty = j.NetworkDifficulty()
				}
				s.publish("tip", ev)
			case broker.ChangeBlock:
				s.publish("block", blockJSON(c.Block))
			}
		case <-flush.C:
			if sub.Lost() {
				s.publish("reset", map[string]string{"reason": "the broker's changes came faster than the stream could follow"})
			}
			s.flushOrders(ctx, pending)
			last = s.publishStats(ctx, last)
		}
	}
}

func (s *Server) flushOrders(ctx context.Context, pending map[string]bool) {
	ids := make([]string, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	clear(pending)
	sort.Strings(ids)
	for _, id := range ids {
		v, err := s.b.PublicOrder(ctx, id)
		if errors.Is(err, broker.ErrNotFound) {
			continue
		}
		if err != nil {
			s.log.Warn("stream: read order", "order", id, "err", err)
			continue
		}
		s.publish("order", publicOrder(v))
	}
}

// publishStats sends a stats event when it differs from the last one sent.
func (s *Server) publishStats(ctx context.Context, last []byte) []byte {
	st, err := s.b.Status(ctx)
	if err != nil {
		return last
	}
	ls := LiveStats{Hashrate: st.Hashrate, Workers: len(s.workers()), SharesAccepted: st.SharesAccepted,
		SharesRejected: st.SharesRejected, BlocksFound: st.BlocksFound, Orders: make(map[string]int)}
	for k, v := range st.Orders {
		ls.Orders[string(k)] = v
	}
	if h := s.b.History(); len(h) > 0 {
		ls.Minute = minuteJSON(h[len(h)-1])
	}
	cmp := ls
	cmp.Hashrate = 0 // the estimate drifts with time alone: not a reason to send
	key, _ := json.Marshal(cmp)
	if string(key) == string(last) {
		return last
	}
	s.publish("stats", ls)
	return key
}

func (s *Server) publish(typ string, v any) {
	if err := s.hub.Publish(typ, v); err != nil {
		s.log.Error("stream publish", "err", err)
	}
}

// Overview is what the status page's server-rendered overview shows.
func (s *Server) Overview(ctx context.Context) (*web.Overview, error) {
	st, err := s.b.Status(ctx)
	if err != nil {
		return nil, err
	}
	blocks, err := s.b.Blocks(ctx)
	if err != nil {
		return nil, err
	}
	ov := &web.Overview{Network: st.Network, Ready: st.Ready, NotReadyReason: st.NotReadyReason,
		TipHeight: st.Tip.Height, TipHash: st.Tip.Hash.String(), TipTime: st.Tip.MedianTime.UTC(),
		NetworkDifficulty: st.NetworkDifficulty, ShareDifficulty: st.ShareDifficulty, Hashrate: st.Hashrate,
		SharesAccepted: st.SharesAccepted, SharesRejected: st.SharesRejected, Workers: len(s.workers()),
		PublicKey: s.b.ReceiptPublicKey(), Orders: map[string]int{}}
	for k, v := range st.Orders {
		ov.Orders[string(k)] = v
	}
	for k, v := range st.RejectedBy {
		ov.RejectedBy = append(ov.RejectedBy, web.Count{Name: string(k), N: v})
	}
	sort.Slice(ov.RejectedBy, func(i, j int) bool { return ov.RejectedBy[i].Name < ov.RejectedBy[j].Name })
	recent, err := s.b.PublicOrders(ctx, 8)
	if err != nil {
		return nil, err
	}
	for _, v := range recent {
		ov.Recent = append(ov.Recent, web.OrderRow{ID: v.ID, State: string(v.State), Progress: v.Progress})
	}
	for _, b := range blocks {
		if b.Accepted {
			ov.BlocksAccepted++
		} else {
			ov.BlocksRejected++
		}
	}
	return ov, nil
}
