package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/proofow/powbroker/chain/rpcnode/bitcoindtest"
)

// TestServeBitcoind runs `powbroker serve --chain rpc --rpc-kind bitcoind` against a
// real bitcoind v30 on regtest: two zero-fee transactions built and signed by Core's
// wallet are submitted with `tx submit`, one mined by `powminer api` over HTTP, the
// other by `powminer stratum`, each into a block Core accepted onto its best chain with
// the coinbase paying the payout address; Core mines on and both are confirmed.
func TestServeBitcoind(t *testing.T) {
	pb, pm := binaries(t)
	c := bitcoindtest.Start(t, bitcoindtest.Options{})
	c.Generate(110)
	payout := c.NewAddress(bitcoindtest.DefaultWallet, "bech32")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "powbroker.json")
	if err := os.WriteFile(cfgFile, []byte(`{"broker":{"confirmations":2}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	line, wait, errb := serveLine(t, pb, "--config", cfgFile, "--chain", "rpc", "--rpc-url", c.URL(),
		"--rpc-user", c.User, "--rpc-pass", c.Pass, "--rpc-kind", "bitcoind", "--payout-address", payout,
		"--net", "regtest", "--datadir", filepath.Join(dir, "data"), "--http", "127.0.0.1:0",
		"--stratum", "127.0.0.1:0", "--log-level", "warn")
	var ready struct {
		Ready   bool   `json:"ready"`
		HTTP    string `json:"http"`
		Stratum string `json:"stratum"`
	}
	if err := json.Unmarshal([]byte(line), &ready); err != nil || !ready.Ready || ready.Stratum == "" {
		t.Fatalf("ready line %q: %v; stderr %s", line, err, errb)
	}
	url := "http://" + ready.HTTP
	var st struct {
		Ready     bool   `json:"ready"`
		TipHash   string `json:"tip_hash"`
		TipHeight int32  `json:"tip_height"`
	}
	if getJSON(t, url+"/v1/status", &st); !st.Ready || st.TipHeight != 110 || st.TipHash != c.BestHash().String() {
		t.Fatalf("status %+v", st)
	}

	type orderOut struct {
		State         string `json:"state"`
		Txid          string `json:"txid"`
		BlockHash     string `json:"block_hash"`
		Height        int32  `json:"height"`
		Confirmations int32  `json:"confirmations"`
	}
	submit := func() (id, token, txid string) {
		t.Helper()
		tx := c.ZeroFeeTx(c.NewAddress(bitcoindtest.DefaultWallet, "bech32m"))
		s := run(t, bitcoindtest.TxHex(tx)+"\n", pb, "tx", "submit", "--api", url, "--json", "-")
		var sub struct{ ID, Token, State string }
		if s.code != 0 || json.Unmarshal([]byte(s.stdout), &sub) != nil || sub.State != "working" {
			t.Fatalf("submit: %+v", s)
		}
		return sub.ID, sub.Token, tx.TxHash().String()
	}
	waitUntil := func(id, token, until string) orderOut {
		t.Helper()
		w := run(t, "", pb, "tx", "wait", id, "--api", url, "--token", token, "--until", until, "--json", "--timeout", "30s")
		var o orderOut
		if w.code != 0 || json.Unmarshal([]byte(w.stdout), &o) != nil || o.State != until {
			t.Fatalf("wait --until %s: %+v", until, w)
		}
		return o
	}
	// checkBlock: Core has the block on its best chain, with the transaction, and the
	// coinbase pays the payout address the whole subsidy (the transaction pays no fee).
	checkBlock := func(o orderOut, txid string) {
		t.Helper()
		type coreTx struct {
			Txid string `json:"txid"`
			Vout []struct {
				Value        float64 `json:"value"`
				ScriptPubKey struct {
					Address string `json:"address"`
				} `json:"scriptPubKey"`
			} `json:"vout"`
		}
		var nb struct {
			Height        int32    `json:"height"`
			Confirmations int32    `json:"confirmations"`
			Tx            []coreTx `json:"tx"`
		}
		c.Call(&nb, "getblock", o.BlockHash, 2)
		if nb.Height != o.Height || nb.Confirmations < 1 || !slices.ContainsFunc(nb.Tx, func(x coreTx) bool { return x.Txid == txid }) {
			t.Fatalf("Core's block %s: height %d, %d confirmations, lacks %s", o.BlockHash, nb.Height, nb.Confirmations, txid)
		}
		var paid int64
		for _, out := range nb.Tx[0].Vout {
			if out.ScriptPubKey.Address == payout {
				a, _ := btcutil.NewAmount(out.Value)
				paid += int64(a)
			}
		}
		if want := blockchain.CalcBlockSubsidy(o.Height, &chaincfg.RegressionNetParams); paid != want {
			t.Fatalf("coinbase pays %s %d, want the subsidy %d", payout, paid, want)
		}
	}

	id1, tok1, txid1 := submit()
	m := run(t, "", pm, "api", "--api", url, "--order", id1, "--token", tok1, "--threads", "1", "--quiet")
	if m.code != 0 || !strings.Contains(m.stdout, "order "+id1) {
		t.Fatalf("powminer api: %+v", m)
	}
	o1 := waitUntil(id1, tok1, "mined")
	checkBlock(o1, txid1)

	id2, tok2, txid2 := submit()
	ms := run(t, "", pm, "stratum", "--url", "stratum+tcp://"+ready.Stratum, "--token", tok2+".rig", "--threads", "1", "--json")
	var res struct{ Order, State string }
	if ms.code != 0 || json.Unmarshal([]byte(ms.stdout), &res) != nil || res.Order != id2 {
		t.Fatalf("powminer stratum: %+v", ms)
	}
	o2 := waitUntil(id2, tok2, "mined")
	checkBlock(o2, txid2)
	if o2.Height != o1.Height+1 {
		t.Fatalf("second order at height %d, want %d", o2.Height, o1.Height+1)
	}

	c.Generate(1) // Core mines on: two confirmations for the second, three for the first
	if o := waitUntil(id2, tok2, "confirmed"); o.Confirmations != 2 {
		t.Fatalf("second order confirmed with %d confirmations", o.Confirmations)
	}
	waitUntil(id1, tok1, "confirmed")
	var blocks []struct {
		Hash     string `json:"hash"`
		Height   int32  `json:"height"`
		Accepted bool   `json:"accepted"`
		Reason   string `json:"reason"`
	}
	// On regtest every share is a block: Stratum shares that arrive between the first
	// block and the next job are blocks at the same height that lost the race, which
	// must be recorded as stale, never as rejected.
	getJSON(t, url+"/v1/blocks", &blocks)
	accepted := 0
	for _, b := range blocks {
		switch {
		case b.Accepted:
			accepted++
		case !strings.HasPrefix(b.Reason, "stale: ") || b.Height != o2.Height:
			t.Fatalf("block %s at %d neither accepted nor stale at the second order's height: %q", b.Hash, b.Height, b.Reason)
		}
	}
	if accepted != 2 {
		t.Fatalf("%d blocks accepted, want 2: %+v", accepted, blocks)
	}
	if code := wait(true); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM; stderr %s", code, errb)
	}
}
