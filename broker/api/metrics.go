package api

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/proofow/powbroker/broker"
)

// metrics serves the broker's counters in the Prometheus text format (version 0.0.4).
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	st, err := s.b.Status(r.Context())
	if err != nil {
		return err
	}
	var b strings.Builder
	metric := func(name, kind, help string, samples ...sample) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
		for _, sm := range samples {
			fmt.Fprintf(&b, "%s%s %g\n", name, sm.labels, sm.v)
		}
	}
	ready := 0.0
	if st.Ready {
		ready = 1
	}
	metric("powbroker_ready", "gauge", "1 when the broker has a checked job to hand out.", sample{"", ready})
	metric("powbroker_tip_height", "gauge", "Height of the chain tip the broker follows.", sample{"", float64(st.Tip.Height)})
	metric("powbroker_network_difficulty", "gauge", "Difficulty of the current job's network target.", sample{"", st.NetworkDifficulty})
	metric("powbroker_share_difficulty", "gauge", "Share difficulty of HTTP assignments.", sample{"", st.ShareDifficulty})
	metric("powbroker_hashrate_hashes_per_second", "gauge", "Hashrate from credited work over the last minute.", sample{"", st.Hashrate})
	metric("powbroker_job_orders", "gauge", "Orders carried by the current job.", sample{"", float64(st.JobOrders)})
	metric("powbroker_shares_accepted_total", "counter", "Shares accepted since start.", sample{"", float64(st.SharesAccepted)})
	var rej []sample
	for _, k := range sortedKinds(st.RejectedBy) {
		rej = append(rej, sample{fmt.Sprintf(`{type=%q}`, string(k)), float64(st.RejectedBy[k])})
	}
	if len(rej) == 0 {
		rej = append(rej, sample{`{type="none"}`, 0})
	}
	metric("powbroker_shares_rejected_total", "counter", "Shares rejected since start, by problem type.", rej...)
	metric("powbroker_blocks_found_total", "counter", "Blocks found and accepted by the chain since start.", sample{"", float64(st.BlocksFound)})
	var orders []sample
	for _, state := range []string{"working", "paid", "mined", "confirmed", "expired", "canceled", "failed"} {
		n := 0
		for k, v := range st.Orders {
			if string(k) == state {
				n = v
			}
		}
		orders = append(orders, sample{fmt.Sprintf(`{state=%q}`, state), float64(n)})
	}
	metric("powbroker_orders", "gauge", "Orders by state.", orders...)
	ws := s.b.StoreStats()
	metric("powbroker_store_share_groups_total", "counter", "Share group commits.", sample{"", float64(ws.Groups)})
	metric("powbroker_store_share_group_max", "gauge", "Largest share group committed.", sample{"", float64(ws.MaxGroup)})
	metric("powbroker_uptime_seconds", "gauge", "Seconds since the broker started.", sample{"", st.Uptime.Seconds()})
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
	return nil
}

type sample struct {
	labels string
	v      float64
}

func sortedKinds(m map[broker.Kind]int64) []broker.Kind {
	out := make([]broker.Kind, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
