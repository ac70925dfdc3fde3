package metrics

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/buildinfo"
	"github.com/proofow/powbroker/stratum"
)

// Metrics is one registry with its histograms. The zero value is not usable; call New.
type Metrics struct {
	reg         *prometheus.Registry
	shareCheck  prometheus.Histogram
	storeCommit prometheus.Histogram
	storeGroup  prometheus.Histogram
	nodeRPC     *prometheus.HistogramVec
	tipNotify   prometheus.Histogram
}

// latencyBuckets run from 10 µs to about 10 s.
var latencyBuckets = prometheus.ExponentialBuckets(1e-5, 4, 11)

// New returns a registry with the Go, process and build-info collectors and the
// latency histograms.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	hist := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	}
	m.shareCheck = hist("powbroker_share_check_seconds", "Time of a share on the share path, from arrival to its durable verdict.", latencyBuckets)
	m.storeCommit = hist("powbroker_store_commit_seconds", "Time of one share group commit (one SQLite transaction).", latencyBuckets)
	m.storeGroup = hist("powbroker_store_share_group_size", "Shares per group commit.", prometheus.ExponentialBuckets(1, 4, 7))
	m.tipNotify = hist("powbroker_tip_notify_seconds", "Time from a new chain tip seen to mining.notify queued to every Stratum session.", latencyBuckets)
	m.nodeRPC = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "powbroker_node_rpc_seconds", Help: "Node JSON-RPC request time, by method and outcome (ok or error).", Buckets: latencyBuckets,
	}, []string{"method", "outcome"})
	bi := buildinfo.Read()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "powbroker_build_info", Help: "Always 1; the labels describe the build.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.Revision, "goversion": bi.GoVersion},
	})
	build.Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(), build,
		m.shareCheck, m.storeCommit, m.storeGroup, m.tipNotify, m.nodeRPC,
	)
	return m
}

// Handler serves the registry in the Prometheus text (or negotiated) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the underlying registry, for collectors of other packages.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveShare is the broker's ObserveShare hook.
func (m *Metrics) ObserveShare(d time.Duration) { m.shareCheck.Observe(d.Seconds()) }

// ObserveCommit is the store's ObserveCommit hook.
func (m *Metrics) ObserveCommit(shares int, d time.Duration) {
	m.storeCommit.Observe(d.Seconds())
	m.storeGroup.Observe(float64(shares))
}

// ObserveRPC is the node client's ObserveRPC hook.
func (m *Metrics) ObserveRPC(method string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.nodeRPC.WithLabelValues(method, outcome).Observe(d.Seconds())
}

// ObserveTipNotify is the Stratum server's ObserveTipNotify hook.
func (m *Metrics) ObserveTipNotify(d time.Duration) { m.tipNotify.Observe(d.Seconds()) }

// Broker is what the broker collector reads at each scrape.
type Broker interface {
	Status(ctx context.Context) (*broker.Status, error)
	StoreStats() broker.WriterStats
}

// WatchBroker adds the broker's figures, read at each scrape.
func (m *Metrics) WatchBroker(b Broker) { m.reg.MustRegister(&brokerCollector{b: b}) }

// WatchStratum adds the Stratum server's figures, read at each scrape.
func (m *Metrics) WatchStratum(stats func() stratum.Stats) {
	m.reg.MustRegister(&stratumCollector{stats: stats})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

type brokerCollector struct{ b Broker }

var (
	dReady      = desc("powbroker_ready", "1 when the broker has a checked job to hand out.")
	dTip        = desc("powbroker_tip_height", "Height of the chain tip the broker follows.")
	dNetDiff    = desc("powbroker_network_difficulty", "Difficulty of the current job's network target.")
	dShareDiff  = desc("powbroker_share_difficulty", "Share difficulty of HTTP assignments.")
	dHashrate   = desc("powbroker_hashrate_hashes_per_second", "Hashrate from credited work over the last minute.")
	dJobOrders  = desc("powbroker_job_orders", "Orders carried by the current job.")
	dAccepted   = desc("powbroker_shares_accepted_total", "Shares accepted since start (HTTP and Stratum).")
	dRejected   = desc("powbroker_shares_rejected_total", "Shares the broker rejected since start, by problem type (Stratum submits refused before the broker: powbroker_stratum_rejects_total).", "type")
	dBlocks     = desc("powbroker_blocks_found_total", "Blocks found and accepted by the chain since start.")
	dOrders     = desc("powbroker_orders", "Orders by state.", "state")
	dGroups     = desc("powbroker_store_share_groups_total", "Share group commits.")
	dGroupFails = desc("powbroker_store_share_group_failures_total", "Shares whose group commit failed.")
	dUptime     = desc("powbroker_uptime_seconds", "Seconds since the broker started.")
)

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dReady, dTip, dNetDiff, dShareDiff, dHashrate, dJobOrders, dAccepted, dRejected, dBlocks, dOrders, dGroups, dGroupFails, dUptime} {
		ch <- d
	}
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.b.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(dReady, err)
		return
	}
	gauge, counter := emitters(ch)
	ready := 0.0
	if st.Ready {
		ready = 1
	}
	gauge(dReady, ready)
	gauge(dTip, float64(st.Tip.Height))
	gauge(dNetDiff, st.NetworkDifficulty)
	gauge(dShareDiff, st.ShareDifficulty)
	gauge(dHashrate, st.Hashrate)
	gauge(dJobOrders, float64(st.JobOrders))
	counter(dAccepted, float64(st.SharesAccepted))
	kinds := make([]string, 0, len(st.RejectedBy))
	for k := range st.RejectedBy {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		counter(dRejected, float64(st.RejectedBy[broker.Kind(k)]), k)
	}
	counter(dBlocks, float64(st.BlocksFound))
	for _, s := range broker.States() {
		gauge(dOrders, float64(st.Orders[s]), string(s))
	}
	ws := c.b.StoreStats()
	counter(dGroups, float64(ws.Groups))
	counter(dGroupFails, float64(ws.Failed))
	gauge(dUptime, st.Uptime.Seconds())
}

type stratumCollector struct{ stats func() stratum.Stats }

var (
	dSConns       = desc("powbroker_stratum_connections", "Open Stratum connections.")
	dSConnsTotal  = desc("powbroker_stratum_connections_total", "Stratum connections admitted since start.")
	dSRefused     = desc("powbroker_stratum_connections_refused_total", "Stratum connections refused by the connection limits.")
	dSWorkers     = desc("powbroker_stratum_workers", "Workers authorized on open Stratum connections.")
	dSAuthFail    = desc("powbroker_stratum_authorize_failures_total", "mining.authorize requests refused.")
	dSAccepted    = desc("powbroker_stratum_shares_accepted_total", "Stratum submits accepted.")
	dSRejects     = desc("powbroker_stratum_rejects_total", "Stratum submits refused, by error code (20-25).", "code")
	dSOrderDone   = desc("powbroker_stratum_rejects_order_done_total", "Stratum submits for orders that take no more shares (paid, mined or closed; also counted under code 24).")
	dSRetargets   = desc("powbroker_stratum_vardiff_retargets_total", "Vardiff difficulty changes.")
	dSDifficulty  = desc("powbroker_stratum_session_difficulty", "Share difficulty over the open subscribed sessions: min, median and max.", "stat")
	dSBanned      = desc("powbroker_stratum_banned_ips", "Remote IPs banned now for invalid shares or malformed requests.")
	dSBans        = desc("powbroker_stratum_bans_total", "Bans of remote IPs since start.")
	dSRefBanned   = desc("powbroker_stratum_connections_refused_banned_total", "Stratum connections refused because their IP was banned.")
	dSDropped     = desc("powbroker_stratum_slow_miners_dropped_total", "Miners disconnected for not reading what was sent to them.")
	stratumDescrs = []*prometheus.Desc{dSConns, dSConnsTotal, dSRefused, dSWorkers, dSAuthFail, dSAccepted, dSRejects, dSOrderDone, dSRetargets, dSDifficulty,
		dSBanned, dSBans, dSRefBanned, dSDropped}
)

func (c *stratumCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range stratumDescrs {
		ch <- d
	}
}

func (c *stratumCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	gauge, counter := emitters(ch)
	gauge(dSConns, float64(st.Sessions))
	counter(dSConnsTotal, float64(st.ConnsAccepted))
	counter(dSRefused, float64(st.ConnsRefused))
	gauge(dSWorkers, float64(st.Workers))
	counter(dSAuthFail, float64(st.AuthorizeFailed))
	counter(dSAccepted, float64(st.Accepted))
	codes := make([]string, 0, len(st.RejectedBy))
	for k := range st.RejectedBy {
		if k != stratum.ReasonOrderDone {
			codes = append(codes, k)
		}
	}
	sort.Strings(codes)
	for _, code := range codes {
		counter(dSRejects, float64(st.RejectedBy[code]), code)
	}
	counter(dSOrderDone, float64(st.RejectedBy[stratum.ReasonOrderDone]))
	counter(dSRetargets, float64(st.Retargets))
	gauge(dSBanned, float64(st.Banned))
	counter(dSBans, float64(st.Bans))
	counter(dSRefBanned, float64(st.RefusedBanned))
	counter(dSDropped, float64(st.Dropped))
	if st.DifficultyMax > 0 {
		gauge(dSDifficulty, st.DifficultyMin, "min")
		gauge(dSDifficulty, st.DifficultyMedian, "median")
		gauge(dSDifficulty, st.DifficultyMax, "max")
	}
}

// emitters send constant gauge and counter samples to ch.
func emitters(ch chan<- prometheus.Metric) (gauge, counter func(d *prometheus.Desc, v float64, labels ...string)) {
	gauge = func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter = func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	return gauge, counter
}
