package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/proofow/powbroker/chain/rpcnode/bitcoindtest"
)

// signetOrder is an order of the signet test with its transaction id.
type signetOrder struct{ ID, Token, Txid string }

type orderView struct {
	State         string `json:"state"`
	BlockHash     string `json:"block_hash"`
	Height        int32  `json:"height"`
	Confirmations int32  `json:"confirmations"`
}

// TestServeSignet runs the broker against bitcoind on a custom signet with challenge
// 51, where a block needs about 4.8 million hashes, far more than an order costs:
// zero-fee transactions made by Core's wallet are submitted over HTTP and paid, one by
// powminer over HTTP and one over Stratum, before any block is found; after a restart
// of the broker (the orders kept) with a price no order can reach, powminer mines for
// a third order until the pool finds a block: bitcoind takes it onto its best chain
// with all three transactions, the coinbase pays the payout address, and the next
// block found confirms them. Tips come over ZMQ, the login over Core's cookie file.
func TestServeSignet(t *testing.T) {
	pb, pm := binaries(t)
	zmq := "tcp://" + freeAddr(t)
	b := signetNode(t, signet51, "-zmqpubhashblock="+zmq)
	payout := b.NewAddress(bitcoindtest.DefaultWallet, "bech32")
	dest := b.NewAddress(bitcoindtest.DefaultWallet, "bech32m")
	dir := t.TempDir()
	writeConfig := func(name string, minWork float64) string {
		cfg := map[string]any{"broker": map[string]any{
			"pricing":           map[string]any{"min_work": minWork},
			"share_difficulty":  1.0 / (1 << 22), // 1024 hashes a share
			"assignment_nonces": 1 << 14,
			"confirmations":     2,
		}}
		data, _ := json.Marshal(cfg)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cheap := writeConfig("cheap.json", 1e-6) // about 4300 hashes an order
	dear := writeConfig("dear.json", 1)      // about 880 blocks' worth: never paid before mined
	start := func(config string) (string, string, func(bool) int, *bytes.Buffer) {
		line, wait, errb := serveLine(t, pb, "--config", config, "--chain", "rpc", "--rpc-kind", "bitcoind",
			"--net", "signet", "--signet-challenge", "51", "--rpc-url", b.URL(), "--rpc-cookie", b.CookiePath(),
			"--rpc-zmq", zmq, "--payout-address", payout, "--datadir", filepath.Join(dir, "data"),
			"--http", "127.0.0.1:0", "--stratum", "127.0.0.1:0", "--log-level", "warn")
		var ready struct{ HTTP, Stratum string }
		if err := json.Unmarshal([]byte(line), &ready); err != nil || ready.Stratum == "" {
			t.Fatalf("ready line %q: %v; stderr %s", line, err, errb)
		}
		return "http://" + ready.HTTP, "stratum+tcp://" + ready.Stratum, wait, errb
	}
	submit := func(url string) signetOrder {
		t.Helper()
		tx := b.ZeroFeeTx(dest)
		s := run(t, bitcoindtest.TxHex(tx)+"\n", pb, "tx", "submit", "--api", url, "--json", "-")
		var o signetOrder
		if s.code != 0 || json.Unmarshal([]byte(s.stdout), &o) != nil || o.ID == "" {
			t.Fatalf("submit: %+v", s)
		}
		o.Txid = tx.TxHash().String()
		return o
	}
	state := func(url string, o signetOrder, until string) orderView {
		t.Helper()
		w := run(t, "", pb, "tx", "wait", o.ID, "--api", url, "--token", o.Token, "--until", until, "--json", "--timeout", "60s")
		var v orderView
		if w.code != 0 || json.Unmarshal([]byte(w.stdout), &v) != nil {
			t.Fatalf("tx wait %s --until %s: %+v", o.ID, until, w)
		}
		return v
	}
	stratumMine := func(surl string, o signetOrder) string {
		t.Helper()
		m := run(t, "", pm, "stratum", "--url", surl, "--token", o.Token+".rig", "--threads", "1", "--json")
		var res struct{ Order, State string }
		if m.code != 0 || json.Unmarshal([]byte(m.stdout), &res) != nil || res.Order != o.ID {
			t.Fatalf("powminer stratum for %s: %+v", o.ID, m)
		}
		return res.State
	}

	// Phase 1: two cheap orders paid by shares, one over HTTP, one over Stratum, and
	// no block yet. A share may be a block by luck (about 0.1 % to 5 % of a block's
	// work is hashed per order, Stratum hashing on while the broker answers); then
	// the phase starts again with new orders.
	url, surl, wait, errb := start(cheap)
	var paid []signetOrder
	for attempt := 1; ; attempt++ {
		base := b.Height()
		a := submit(url)
		m := run(t, "", pm, "api", "--api", url, "--order", a.ID, "--token", a.Token, "--threads", "1", "--json", "--quiet")
		var res struct {
			Order struct{ State string } `json:"order"`
		}
		if m.code != 0 || json.Unmarshal([]byte(m.stdout), &res) != nil {
			t.Fatalf("powminer api: %+v", m)
		}
		s := submit(url)
		stratumMine(surl, s)
		if b.Height() == base {
			for _, o := range []signetOrder{a, s} {
				if v := state(url, o, "paid"); v.State != "paid" {
					t.Fatalf("order %s is %s, want paid with no block found", o.ID, v.State)
				}
			}
			paid = []signetOrder{a, s}
			break
		}
		t.Logf("attempt %d: a share was a block (height %d -> %d); again with new orders", attempt, base, b.Height())
		if attempt == 3 {
			t.Fatal("a block was found while paying cheap orders three times running")
		}
	}
	if code := wait(true); code != 0 {
		t.Fatalf("serve exited %d; stderr %s", code, errb)
	}

	// Phase 2: the same datadir, a price no share reaches: powminer mines for the
	// third order until the pool finds a block, which carries all three.
	url, surl, wait, errb = start(dear)
	base := b.Height()
	c := submit(url)
	if st := stratumMine(surl, c); st != "mined" {
		t.Fatalf("powminer stratum for the dear order ended with %s, want mined", st)
	}
	all := append(paid, c)
	var blockHash string
	for _, o := range all {
		v := state(url, o, "mined")
		if blockHash == "" {
			blockHash = v.BlockHash
		}
		// confirmed already when the worker's last shares found the next block too
		if (v.State != "mined" && v.State != "confirmed") || v.BlockHash != blockHash || v.Height != base+1 {
			t.Fatalf("order %s: %+v, want mined in one block at %d", o.ID, v, base+1)
		}
	}
	if b.HashAt(base+1).String() != blockHash {
		t.Fatalf("bitcoind's best chain has %s at %d, not the pool's block %s", b.HashAt(base+1), base+1, blockHash)
	}
	var nb struct {
		Confirmations int32    `json:"confirmations"`
		Tx            []string `json:"tx"`
	}
	b.Call(&nb, "getblock", blockHash, 1)
	for _, o := range all {
		if !slices.Contains(nb.Tx, o.Txid) {
			t.Fatalf("bitcoind's block %s lacks %s: %v", blockHash, o.Txid, nb.Tx)
		}
	}
	cb := b.BlockAt(base + 1).Transactions[0]
	addr, _ := btcutil.DecodeAddress(payout, &chaincfg.SigNetParams)
	script, _ := txscript.PayToAddrScript(addr)
	var got int64
	for _, out := range cb.TxOut {
		if bytes.Equal(out.PkScript, script) {
			got += out.Value
		}
	}
	if want := blockchain.CalcBlockSubsidy(base+1, &chaincfg.SigNetParams); got != want || nb.Confirmations < 1 {
		t.Fatalf("coinbase pays %d to the payout address, want the subsidy %d (confirmations %d)", got, want, nb.Confirmations)
	}

	// One more block found by the pool (unless the worker found it already): the
	// first block has two confirmations.
	if b.Height() == base+1 {
		if st := stratumMine(surl, submit(url)); st != "mined" {
			t.Fatalf("fourth order: %s", st)
		}
	}
	for _, o := range all {
		if v := state(url, o, "confirmed"); v.State != "confirmed" || v.Confirmations < 2 {
			t.Fatalf("order %s: %+v, want confirmed", o.ID, v)
		}
	}
	if code := wait(true); code != 0 {
		t.Fatalf("serve exited %d; stderr %s", code, errb)
	}
}

// TestServeSignetKeyChallenge: a signet whose challenge needs a block signature is mined
// over HTTP only (the signature covers the extranonce and the time, which Stratum miners
// roll) and with its key: serve refuses --stratum and a missing key in one line, exit 2.
func TestServeSignetKeyChallenge(t *testing.T) {
	pb, _ := binaries(t)
	const challenge = "0014" + "89abcdefabbaabbaabbaabbaabbaabbaabbaabba" // P2WPKH
	dir := t.TempDir()
	base := []string{"--chain", "rpc", "--rpc-kind", "bitcoind", "--net", "signet",
		"--signet-challenge", challenge, "--rpc-url", "http://127.0.0.1:1", "--rpc-cookie", "/nonexistent",
		"--payout-address", signetChainAddr, "--datadir", dir, "--http", "127.0.0.1:0"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--stratum", "127.0.0.1:0"}, "Stratum miners could not roll them"},
		{nil, "needs a block signing key (WIF) in --signet-key-file or " + filepath.Join(dir, "rpc-signet-")},
		{[]string{"--signet-key-file", filepath.Join(dir, "none")}, "needs a block signing key"},
	} {
		line, wait, errb := serveLine(t, pb, append(append([]string{}, base...), tc.args...)...)
		msg := strings.TrimSpace(errb.String())
		if code := wait(false); line != "" || code != 2 || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Fatalf("%v: line %q exit %d stderr %q, want %q", tc.args, line, code, msg, tc.want)
		}
	}
}

// TestServeSignetKey: on a custom signet whose challenge is a P2WPKH key, the broker
// signs every coinbase it hands out (chain.Assemble with the key from
// --signet-key-file): a zero-fee order from Core's wallet, priced above a block, is
// mined by powminer over HTTP into a block bitcoind verified (bad-signet-blksig
// otherwise) and took onto its best chain.
func TestServeSignetKey(t *testing.T) {
	pb, pm := binaries(t)
	b := signetNode(t, signetKey)
	challenge, _ := signetKey.challengeHex(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signet.key")
	cfg := filepath.Join(dir, "dear.json")
	if err := os.WriteFile(keyFile, []byte(signetChainWIF+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(`{"broker":{"pricing":{"min_work":1},"share_difficulty":0.0000002384185791015625}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	line, wait, errb := serveLine(t, pb, "--config", cfg, "--chain", "rpc", "--rpc-kind", "bitcoind", "--net", "signet",
		"--signet-challenge", challenge, "--signet-key-file", keyFile, "--rpc-url", b.URL(), "--rpc-cookie", b.CookiePath(),
		"--payout-address", signetChainAddr, "--datadir", filepath.Join(dir, "data"), "--http", "127.0.0.1:0", "--log-level", "warn")
	var ready struct{ HTTP string }
	if err := json.Unmarshal([]byte(line), &ready); err != nil || ready.HTTP == "" {
		t.Fatalf("ready line %q: %v; stderr %s", line, err, errb)
	}
	url := "http://" + ready.HTTP
	tx := b.ZeroFeeTx(b.NewAddress(bitcoindtest.DefaultWallet, "bech32m"))
	s := run(t, bitcoindtest.TxHex(tx)+"\n", pb, "tx", "submit", "--api", url, "--json", "-")
	var o signetOrder
	if s.code != 0 || json.Unmarshal([]byte(s.stdout), &o) != nil {
		t.Fatalf("submit: %+v", s)
	}
	m := run(t, "", pm, "api", "--api", url, "--order", o.ID, "--token", o.Token, "--threads", "1", "--json", "--quiet")
	if m.code != 0 {
		t.Fatalf("powminer api: %+v; serve: %s", m, errb)
	}
	w := run(t, "", pb, "tx", "wait", o.ID, "--api", url, "--token", o.Token, "--until", "mined", "--json", "--timeout", "60s")
	var v orderView
	if w.code != 0 || json.Unmarshal([]byte(w.stdout), &v) != nil || v.Height != signetChainBlocks+1 {
		t.Fatalf("wait --until mined: %+v; serve: %s", w, errb)
	}
	var nb struct {
		Tx []string `json:"tx"`
	}
	b.Call(&nb, "getblock", v.BlockHash, 1)
	if b.HashAt(v.Height).String() != v.BlockHash || !slices.Contains(nb.Tx, tx.TxHash().String()) {
		t.Fatalf("bitcoind's best chain lacks the signed block %s with %s: %v", v.BlockHash, tx.TxHash(), nb.Tx)
	}
	if code := wait(true); code != 0 {
		t.Fatalf("serve exited %d; stderr %s", code, errb)
	}
}
