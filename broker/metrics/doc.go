// Package metrics is the daemon's Prometheus registry (github.com/prometheus/client_golang):
// the Go and process collectors, build information, latency histograms that the
// broker, store, node client and Stratum server feed through their Observe hooks, and
// the broker's and the Stratum server's figures, read at each scrape.
package metrics
