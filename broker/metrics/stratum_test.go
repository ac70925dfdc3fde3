package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/proofow/powbroker/stratum"
)

// TestStratumHardeningMetrics: the ban list and the slow-miner drops reach /metrics.
func TestStratumHardeningMetrics(t *testing.T) {
	m := New()
	m.WatchStratum(func() stratum.Stats {
		return stratum.Stats{Banned: 2, Bans: 5, RefusedBanned: 7, Dropped: 3}
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		"powbroker_stratum_banned_ips 2\n", "powbroker_stratum_bans_total 5\n",
		"powbroker_stratum_connections_refused_banned_total 7\n", "powbroker_stratum_slow_miners_dropped_total 3\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("metrics lack %q", want)
		}
	}
}
