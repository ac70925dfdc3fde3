package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proofow/powbroker/chain/rpcnode/btcdtest"
	"github.com/proofow/powbroker/store/pgstore"
)

// TestStandbyTakeover: two brokers on one PostgreSQL and one btcd, with two gateways
// over nats-server. The second broker waits as a standby (no ready line) while the
// first serves; an order is mined through a gateway; the first broker is killed with
// kill -9; the standby takes over within seconds, knows the order, and a second order
// is mined through the same gateways, which followed it. Every share powminer saw
// accepted is in the database.
func TestStandbyTakeover(t *testing.T) {
	pb, pm := binaries(t)
	btcdForTests(t)
	ns := natsb.Start(t)
	db := pg.DB(t)
	miner, err := btcdtest.NewKey("miner")
	if err != nil {
		t.Fatal(err)
	}
	payout, err := btcdtest.NewKey("payout")
	if err != nil {
		t.Fatal(err)
	}
	node := btcdtest.Start(t, btcdtest.Options{MiningAddr: miner.Addr.EncodeAddress()})
	node.Generate(440) // past segwit activation: the coins are P2WPKH
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "bus.key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	brokerArgs := func(name string) []string {
		return []string{"serve", "--chain", "rpc", "--rpc-url", node.URL(), "--rpc-user", node.User, "--rpc-pass", node.Pass,
			"--rpc-kind", "btcd", "--payout-address", payout.Addr.EncodeAddress(), "--net", "regtest",
			"--datadir", filepath.Join(dir, name), "--http", "127.0.0.1:0", "--log-level", "info",
			"--store", db, "--bus", ns.URL(), "--bus-key-file", keyFile}
	}
	active := startProc(t, pb, 60*time.Second, brokerArgs("a")...)
	// The standby: started now, ready only after the takeover.
	standby := make(chan *proc, 1)
	var standbyErr *syncBuffer
	sp := startWaiting(t, pb, brokerArgs("b")...)
	go func() {
		if line, ok := <-sp.lines; ok && json.Unmarshal([]byte(line), &sp.ready) == nil {
			standby <- sp
		}
	}()
	g1 := startProc(t, pb, 30*time.Second, "gateway", "--bus", ns.URL(), "--bus-key-file", keyFile,
		"--stratum", "127.0.0.1:0", "--prefix", "1", "--id", "gw1", "--log-level", "info")
	g2 := startProc(t, pb, 30*time.Second, "gateway", "--bus", ns.URL(), "--bus-key-file", keyFile,
		"--stratum", "127.0.0.1:0", "--prefix", "2", "--id", "gw2", "--log-level", "info")
	urls := "stratum+tcp://" + g1.addr("stratum") + ",stratum+tcp://" + g2.addr("stratum")

	mineOrder := func(api string, coinbase int32) (string, minerResult) {
		tx, err := miner.Spend(0, nil, node.CoinbaseAt(coinbase))
		if err != nil {
			t.Fatal(err)
		}
		var raw bytes.Buffer
		if err := tx.Serialize(&raw); err != nil {
			t.Fatal(err)
		}
		s := run(t, hex.EncodeToString(raw.Bytes())+"\n", pb, "tx", "submit", "--api", api, "--json", "-")
		var sub struct{ ID, Token string }
		if s.code != 0 || json.Unmarshal([]byte(s.stdout), &sub) != nil {
			t.Fatalf("submit: %+v", s)
		}
		m := run(t, "", pm, "stratum", "--url", urls, "--token", sub.Token, "--threads", "1", "--json")
		var res minerResult
		if m.code != 0 || json.Unmarshal([]byte(m.stdout), &res) != nil || (res.State != "paid" && res.State != "mined") {
			t.Fatalf("powminer stratum: %+v; gateway 1: %s", m, g1.errb)
		}
		return sub.ID, res
	}
	first, res1 := mineOrder("http://"+active.addr("http"), 1)
	select {
	case p := <-standby:
		t.Fatalf("the standby printed a ready line while the first broker was active: %v", p.ready)
	default:
	}
	killed := time.Now()
	active.kill()
	var b *proc
	select {
	case b = <-standby:
	case <-time.After(60 * time.Second):
		t.Fatalf("no takeover within 60 s; standby: %s", sp.errb)
	}
	took := time.Since(killed)
	standbyErr = b.errb
	t.Logf("standby ready %v after the kill -9", took.Round(time.Millisecond))
	if took > 15*time.Second {
		t.Fatalf("takeover took %v", took)
	}
	if !strings.Contains(standbyErr.String(), "waiting to take over") {
		t.Fatalf("the standby did not say it waited: %s", standbyErr)
	}
	second, res2 := mineOrder("http://"+b.addr("http"), 2)
	ctx := context.Background()
	st, err := pgstore.Open(ctx, db, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, res := range map[string]minerResult{first: res1, second: res2} {
		o, err := st.Order(ctx, id)
		if err != nil || o.Shares < res.Accepted || (o.State != "paid" && o.State != "mined") {
			t.Fatalf("stored order %+v, %v; powminer saw %d accepted", o, err, res.Accepted)
		}
	}
}
