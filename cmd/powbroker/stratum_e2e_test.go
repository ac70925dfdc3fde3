package main

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestServeStratum: serve --stratum prints the Stratum address in its ready line, and
// powminer stratum mines an order over it until the broker says it is complete.
func TestServeStratum(t *testing.T) {
	pb, pm := binaries(t)
	dir := t.TempDir()
	line, wait, errb := serveLine(t, pb, "--datadir", dir, "--net", "private", "--private-bits", "1f00ffff",
		"--http", "127.0.0.1:0", "--stratum", "127.0.0.1:0", "--log-level", "warn")
	var ready map[string]any
	if err := json.Unmarshal([]byte(line), &ready); err != nil {
		t.Fatalf("ready line %q: %v; stderr %s", line, err, errb)
	}
	var keys []string
	for k := range ready {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	addr, _ := ready["stratum"].(string)
	if strings.Join(keys, ",") != "http,ready,stratum" || !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("ready line %s", line)
	}
	url := "http://" + ready["http"].(string)
	f := run(t, "", pb, "faucet", "--api", url, "--fee", "0", "--amount", "0.05")
	if f.code != 0 {
		t.Fatalf("faucet: %+v", f)
	}
	s := run(t, strings.TrimSpace(f.stdout)+"\n", pb, "tx", "submit", "--api", url, "--json", "-")
	var sub struct{ ID, Token string }
	if s.code != 0 || json.Unmarshal([]byte(s.stdout), &sub) != nil {
		t.Fatalf("submit: %+v", s)
	}
	surl := "stratum+tcp://" + addr
	m := run(t, "", pm, "stratum", "--url", surl, "--token", sub.Token+".rig1", "--threads", "1", "--json")
	var res struct {
		Order    string `json:"order"`
		State    string `json:"state"`
		Accepted int    `json:"accepted"`
	}
	if m.code != 0 || json.Unmarshal([]byte(m.stdout), &res) != nil || res.Order != sub.ID || (res.State != "paid" && res.State != "mined") || res.Accepted < 1 {
		t.Fatalf("powminer stratum: %+v; serve stderr: %s", m, errb)
	}
	// Again for the complete order: the broker refuses the worker naming its state,
	// which is a normal end.
	again := run(t, "", pm, "stratum", "--url", surl, "--user", sub.Token, "--json")
	if again.code != 0 || !strings.Contains(again.stdout, `"order":"`+sub.ID+`"`) {
		t.Fatalf("powminer stratum on a complete order: %+v", again)
	}
	bad := run(t, "", pm, "stratum", "--url", surl, "--user", "pow_nosuchtoken")
	if bad.code != 1 || !strings.Contains(bad.stderr, "refused") || strings.Count(strings.TrimSpace(bad.stderr), "\n") != 0 {
		t.Fatalf("unknown token: %+v", bad)
	}
	for _, args := range [][]string{
		{"stratum", "--user", sub.Token},
		{"stratum", "--url", "http://" + addr, "--user", sub.Token},
		{"stratum", "--url", surl, "--user", sub.Token, "--threads", "0"},
	} {
		if r := run(t, "", pm, args...); r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Fatalf("powminer %v: %+v", args, r)
		}
	}
	checkMetrics(t, url)
	if code := wait(true); code != 0 {
		t.Fatalf("serve exited %d; stderr %s", code, errb)
	}
	line, wait2, _ := serveLine(t, pb, "--datadir", t.TempDir(), "--stratum", "nope")
	if code := wait2(false); line != "" || code != 2 {
		t.Fatalf("serve --stratum nope: line %q exit %d", line, code)
	}
}

// checkMetrics: the daemon's /metrics carries the Go, process and build series, the
// latency histograms fed by the share path and the store, the Stratum figures, and no
// placeholder series.
func checkMetrics(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	for _, want := range []string{
		"\ngo_goroutines ", "\nprocess_open_fds ", "\ngo_build_info{", "\npowbroker_build_info{",
		"\npowbroker_store_share_group_size_bucket{", "\npowbroker_store_commit_seconds_bucket{",
		"# TYPE powbroker_tip_notify_seconds histogram",
		"\npowbroker_stratum_connections ", "\npowbroker_stratum_workers ",
		"\npowbroker_stratum_vardiff_retargets_total ", "\npowbroker_stratum_rejects_order_done_total ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for name, min := range map[string]float64{
		"powbroker_share_check_seconds_count": 1, "powbroker_store_commit_seconds_count": 1,
		"powbroker_stratum_connections_total": 3, "powbroker_stratum_authorize_failures_total": 2,
		"powbroker_stratum_shares_accepted_total": 1,
	} {
		if v := metricValue(text, name); v < min {
			t.Errorf("%s = %v, want at least %v", name, v, min)
		}
	}
	if strings.Contains(text, `type="none"`) || strings.Contains(text, "share_group_max") {
		t.Errorf("placeholder or replaced series left:\n%s", text)
	}
}

// metricValue is the value of an unlabelled sample, -1 when absent.
func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
