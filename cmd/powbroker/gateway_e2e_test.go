package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker/bus"
	"github.com/proofow/powbroker/store/pgstore"
)

// TestGatewaysOverNATS: a broker on PostgreSQL serving two gateways over a real
// nats-server; powminer stratum on each gateway pays its own order; every share powminer
// saw accepted is in the database; a gateway asking for a prefix another holds is
// refused; a message signed with another key is refused and credits nothing.
func TestGatewaysOverNATS(t *testing.T) {
	t.Parallel() // separate processes and databases; the suite stays under go test's 10 min
	pb, pm := binaries(t)
	ns := natsb.Start(t)
	db := pg.DB(t)
	keyFile := filepath.Join(t.TempDir(), "bus.key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startProc(t, pb, 60*time.Second, "serve", "--datadir", t.TempDir(), "--net", "private", "--private-bits", "1f00ffff",
		"--http", "127.0.0.1:0", "--log-level", "info", "--store", db, "--bus", ns.URL(), "--bus-key-file", keyFile)
	gw := func(prefix int) *proc {
		return startProc(t, pb, 30*time.Second, "gateway", "--bus", ns.URL(), "--bus-key-file", keyFile,
			"--stratum", "127.0.0.1:0", "--prefix", strconv.Itoa(prefix), "--id", "gw"+strconv.Itoa(prefix), "--log-level", "warn")
	}
	g1, g2 := gw(1), gw(2)
	// A third gateway wanting prefix 1 is refused.
	dup := run(t, "", pb, "gateway", "--bus", ns.URL(), "--bus-key-file", keyFile, "--stratum", "127.0.0.1:0", "--prefix", "1", "--id", "gw-dup")
	if dup.code == 0 || !strings.Contains(dup.stderr, "prefix 1 is held by gateway gw1") {
		t.Fatalf("duplicate prefix: %+v", dup)
	}
	api := "http://" + b.addr("http")
	ctx := context.Background()
	st, err := pgstore.Open(ctx, db, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, g := range []*proc{g1, g2} {
		id, token := submitOrder(t, pb, api)
		m := run(t, "", pm, "stratum", "--url", "stratum+tcp://"+g.addr("stratum"), "--token", token, "--threads", "1", "--json")
		var res minerResult
		if m.code != 0 || json.Unmarshal([]byte(m.stdout), &res) != nil || (res.State != "paid" && res.State != "mined") || res.Accepted < 1 {
			t.Fatalf("powminer stratum on %s: %+v; broker: %s; gateway: %s", g.ready["gateway"], m, b.errb, g.errb)
		}
		o, err := st.Order(ctx, id)
		if err != nil || o.Shares < res.Accepted || (o.State != "paid" && o.State != "mined") {
			t.Fatalf("stored order %+v, %v; powminer saw %d accepted", o, err, res.Accepted)
		}
	}
	// A forged share (another key) gets no answer and is logged by the broker.
	forger, err := bus.Dial(ctx, ns.URL(), []byte("not-the-bus-key-at-all"), "forger", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	before, _ := st.ShareStats(ctx)
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var r bus.SubmitReply
	if err := forger.Request(fctx, bus.SubjectSubmit, &bus.Share{Gateway: "gw1", Account: "x", JobID: "1",
		Extranonce1: []byte{1, 0, 0, 9}, Extranonce2: make([]byte, 8), Difficulty: 1}, &r); err == nil {
		t.Fatalf("a forged share was answered: %+v", r)
	}
	after, _ := st.ShareStats(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.errb.String(), "refused a message") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after != before || !strings.Contains(b.errb.String(), "bad MAC") {
		t.Fatalf("forged share: shares %d -> %d; broker log: %s", before, after, b.errb)
	}
}

// TestGatewayFailover: powminer stratum with both gateways' URLs mines an order through
// the first; the first gateway is killed with kill -9 while the order is working; the
// miner moves to the second and the order completes; every share it saw accepted is in
// the database.
func TestGatewayFailover(t *testing.T) {
	t.Parallel() // separate processes and databases; the suite stays under go test's 10 min
	pb, pm := binaries(t)
	ns := natsb.Start(t)
	db := pg.DB(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "bus.key")
	brokerCfg := filepath.Join(dir, "broker.json")
	gwCfg := filepath.Join(dir, "gateway.json")
	for path, body := range map[string]string{
		keyFile:   "0123456789abcdef0123456789abcdef\n",
		brokerCfg: `{"datadir": "` + filepath.Join(dir, "data") + `", "net": "private", "http": "127.0.0.1:0", "broker": {"pricing": {"min_work": 0.05, "work_per_vbyte": 0, "work_per_sat": 0}}}`,
		gwCfg:     `{"stratum_tuning": {"start_difficulty": 0.001, "min_difficulty": 0.001, "share_interval": "1s"}}`,
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := startProc(t, pb, 120*time.Second, "serve", "--config", brokerCfg, "--log-level", "warn",
		"--store", db, "--bus", ns.URL(), "--bus-key-file", keyFile)
	gw := func(prefix int) *proc {
		return startProc(t, pb, 30*time.Second, "gateway", "--config", gwCfg, "--bus", ns.URL(), "--bus-key-file", keyFile,
			"--stratum", "127.0.0.1:0", "--prefix", strconv.Itoa(prefix), "--id", "gw"+strconv.Itoa(prefix), "--log-level", "warn")
	}
	g1, g2 := gw(1), gw(2)
	id, token := submitOrder(t, pb, "http://"+b.addr("http"))
	ctx := context.Background()
	st, err := pgstore.Open(ctx, db, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	miner := exec.Command(pm, "stratum", "--url", "stratum+tcp://"+g1.addr("stratum")+",stratum+tcp://"+g2.addr("stratum"),
		"--token", token, "--threads", "1", "--json")
	var mout, merr bytes.Buffer
	miner.Stdout, miner.Stderr = &mout, &merr
	if err := miner.Start(); err != nil {
		t.Fatal(err)
	}
	mdone := make(chan error, 1)
	go func() { mdone <- miner.Wait() }()
	t.Cleanup(func() { _ = miner.Process.Kill() })
	// Kill the first gateway once shares arrive through it.
	deadline := time.Now().Add(60 * time.Second)
	var before int64
	for time.Now().Before(deadline) {
		o, err := st.Order(ctx, id)
		if err == nil && o.Shares >= 2 {
			before = o.Shares
			t.Logf("order %s is %s with %d shares: killing gateway 1", id, o.State, o.Shares)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if before == 0 {
		t.Fatalf("no shares through gateway 1 within 60 s; gateway: %s; miner: %s", g1.errb, merr.String())
	}
	g1.kill()
	select {
	case err := <-mdone:
		if err != nil {
			t.Fatalf("powminer: %v; stdout %s; stderr %s", err, mout.String(), merr.String())
		}
	case <-time.After(120 * time.Second):
		t.Fatalf("powminer did not finish within 120 s after the kill; stderr %s; gateway 2: %s", merr.String(), g2.errb)
	}
	var res minerResult
	if err := json.Unmarshal(mout.Bytes(), &res); err != nil || (res.State != "paid" && res.State != "mined") {
		t.Fatalf("powminer result %q: %v", mout.String(), err)
	}
	o, err := st.Order(ctx, id)
	if err != nil || o.Shares < res.Accepted || (o.State != "paid" && o.State != "mined") {
		t.Fatalf("stored order %+v, %v; powminer saw %d accepted", o, err, res.Accepted)
	}
	t.Logf("order %s %s: %d shares stored (%d before the kill), powminer saw %d accepted", id, o.State, o.Shares, before, res.Accepted)
}
