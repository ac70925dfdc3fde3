package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/proofow/powbroker/chain/rpcnode/btcdtest"
)

// serveLine starts `powbroker serve` with args and returns its ready line (empty when
// the process ended without one), a function that waits for the process to end
// (SIGTERM first when stop is set) and returns its exit code, and its stderr.
func serveLine(t *testing.T, bin string, args ...string) (string, func(stop bool) int, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errb := new(bytes.Buffer)
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout) // until the process ends; then Wait
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			done <- ee.ExitCode()
		case err != nil:
			done <- -1
		default:
			done <- 0
		}
	}()
	code := -2
	wait := func(stop bool) int {
		if code != -2 {
			return code
		}
		if stop {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case code = <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			code = <-done
			t.Errorf("serve did not end within 20 s")
		}
		return code
	}
	t.Cleanup(func() { wait(true) })
	select {
	case line := <-lines:
		return line, wait, errb
	case <-time.After(60 * time.Second):
		wait(true)
		t.Fatalf("no ready line within 60 s; stderr: %s", errb)
	}
	return "", wait, errb
}

func getJSON(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode
}

// btcdForTests builds btcd once into the test binaries' directory (removed by
// TestMain) and points btcdtest at it.
func btcdForTests(t *testing.T) {
	t.Helper()
	binaries(t)
	btcdOnce.Do(func() { btcdBin, btcdErr = btcdtest.Build(context.Background(), binDir) })
	if btcdErr != nil {
		t.Fatal(btcdErr)
	}
	t.Setenv(btcdtest.EnvBinary, btcdBin)
}

var (
	btcdOnce sync.Once
	btcdBin  string
	btcdErr  error
)

// TestServeRPC runs `powbroker serve --chain rpc` against a real btcd on regtest: no
// ready line without a node; with one, a zero-fee transaction submitted with `tx
// submit` is mined by `powminer api` through the broker into the node's chain, with the
// coinbase paying the payout address, and is confirmed as the node mines on.
func TestServeRPC(t *testing.T) {
	pb, pm := binaries(t)
	btcdForTests(t)
	miner, err := btcdtest.NewKey("miner")
	if err != nil {
		t.Fatal(err)
	}
	payout, err := btcdtest.NewKey("payout")
	if err != nil {
		t.Fatal(err)
	}
	node := btcdtest.Start(t, btcdtest.Options{MiningAddr: miner.Addr.EncodeAddress()})
	const segwitHeight = 440 // btcd's regtest activates segwit at 432; the coins are P2WPKH
	node.Generate(segwitHeight)

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "powbroker.json")
	if err := os.WriteFile(cfgFile, []byte(`{"broker":{"confirmations":2}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	args := func(url string) []string {
		return []string{"--config", cfgFile, "--chain", "rpc", "--rpc-url", url, "--rpc-user", node.User,
			"--rpc-pass", node.Pass, "--rpc-kind", "btcd", "--payout-address", payout.Addr.EncodeAddress(),
			"--net", "regtest", "--datadir", filepath.Join(dir, "data"), "--http", "127.0.0.1:0", "--log-level", "warn"}
	}

	// Nothing listens on this port: no ready line, a failure naming the node.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + l.Addr().String()
	l.Close()
	line, wait, errb := serveLine(t, pb, args(deadURL)...)
	if code := wait(false); line != "" || code != 1 || !strings.Contains(errb.String(), deadURL) || !strings.Contains(errb.String(), "unavailable") {
		t.Fatalf("serve without a node: line %q, exit %d, stderr %q", line, code, errb)
	}

	line, wait, errb = serveLine(t, pb, args(node.URL())...)
	var ready struct {
		Ready bool   `json:"ready"`
		HTTP  string `json:"http"`
	}
	if err := json.Unmarshal([]byte(line), &ready); err != nil || !ready.Ready {
		t.Fatalf("ready line %q: %v; stderr %s", line, err, errb)
	}
	url := "http://" + ready.HTTP
	// Ready means the node answered and the first template passed its proposal: a
	// job exists on the node's tip at once.
	var st struct {
		Ready     bool   `json:"ready"`
		Network   string `json:"network"`
		TipHash   string `json:"tip_hash"`
		TipHeight int32  `json:"tip_height"`
		JobID     string `json:"job_id"`
	}
	if code := getJSON(t, url+"/v1/status", &st); code != http.StatusOK || !st.Ready || st.JobID == "" ||
		st.TipHeight != segwitHeight || st.TipHash != node.BestHash().String() || st.Network != "regtest" {
		t.Fatalf("status right after the ready line: %d %+v", code, st)
	}
	var rz map[string]any
	if code := getJSON(t, url+"/readyz", &rz); code != http.StatusOK {
		t.Fatalf("readyz right after the ready line: %d %v", code, rz)
	}
	// Node requests are timed per method.
	if resp, err := http.Get(url + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `powbroker_node_rpc_seconds_count{method="getblocktemplate",outcome="ok"}`) {
			t.Fatalf("metrics lack the node RPC histogram:\n%s", body)
		}
	}

	tx, err := miner.Spend(0, nil, node.CoinbaseAt(1))
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	if err := tx.Serialize(&raw); err != nil {
		t.Fatal(err)
	}
	txHex := hex.EncodeToString(raw.Bytes())
	q := run(t, "", pb, "tx", "quote", "--api", url, "--json", txHex)
	if q.code != 0 || !strings.Contains(q.stdout, `"fee":0`) || !strings.Contains(q.stdout, tx.TxHash().String()) {
		t.Fatalf("quote: %+v", q)
	}
	s := run(t, txHex+"\n", pb, "tx", "submit", "--api", url, "--json", "-")
	var sub struct {
		ID, Token, State string
	}
	if s.code != 0 || json.Unmarshal([]byte(s.stdout), &sub) != nil || sub.State != "working" {
		t.Fatalf("submit: %+v", s)
	}

	m := run(t, "", pm, "api", "--api", url, "--order", sub.ID, "--token", sub.Token, "--threads", "1", "--quiet")
	if m.code != 0 || !strings.Contains(m.stdout, "order "+sub.ID) {
		t.Fatalf("powminer api: %+v", m)
	}
	var o struct {
		State         string `json:"state"`
		Txid          string `json:"txid"`
		BlockHash     string `json:"block_hash"`
		Height        int32  `json:"height"`
		Confirmations int32  `json:"confirmations"`
	}
	w := run(t, "", pb, "tx", "wait", sub.ID, "--api", url, "--token", sub.Token, "--until", "mined", "--json", "--timeout", "30s")
	if w.code != 0 || json.Unmarshal([]byte(w.stdout), &o) != nil || o.State != "mined" || o.Height != segwitHeight+1 {
		t.Fatalf("wait --until mined: %+v", w)
	}

	// The node has the block: the order's transaction, and our coinbase paying the
	// payout address the whole subsidy (the transaction pays no fee).
	var nb struct {
		Height int32    `json:"height"`
		Tx     []string `json:"tx"`
	}
	node.Call(&nb, "getblock", o.BlockHash, 1)
	if nb.Height != o.Height || !slices.Contains(nb.Tx, tx.TxHash().String()) || o.Txid != tx.TxHash().String() {
		t.Fatalf("node block %s: %+v; order %+v", o.BlockHash, nb, o)
	}
	cb := node.CoinbaseAt(o.Height)
	var paid int64
	for _, out := range cb.TxOut {
		if bytes.Equal(out.PkScript, payout.PkScript) {
			paid += out.Value
		}
	}
	if want := blockchain.CalcBlockSubsidy(o.Height, &chaincfg.RegressionNetParams); paid != want {
		t.Fatalf("coinbase pays the payout address %d, want the subsidy %d", paid, want)
	}
	var blocks []struct {
		Hash     string `json:"hash"`
		Accepted bool   `json:"accepted"`
	}
	if getJSON(t, url+"/v1/blocks", &blocks); len(blocks) != 1 || blocks[0].Hash != o.BlockHash || !blocks[0].Accepted {
		t.Fatalf("blocks %+v", blocks)
	}

	// The node mines on: two confirmations make it confirmed.
	node.Generate(1)
	w = run(t, "", pb, "tx", "wait", sub.ID, "--api", url, "--token", sub.Token, "--until", "confirmed", "--json", "--timeout", "30s")
	if w.code != 0 || json.Unmarshal([]byte(w.stdout), &o) != nil || o.State != "confirmed" || o.Confirmations != 2 {
		t.Fatalf("wait --until confirmed: %+v", w)
	}
	if code := wait(true); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM; stderr %s", code, errb)
	}
}

// TestServeRPCStratumOutage: `serve --chain rpc --stratum` with btcd paused (SIGSTOP).
// powminer stratum connects, gets work and its shares are answered during the outage
// (each is a block on regtest; none reaches the node, none counts as found), /readyz
// says node-unavailable, the order stays working; after SIGCONT the next block reaches
// the node and mines the order, and powminer stops.
func TestServeRPCStratumOutage(t *testing.T) {
	pb, pm := binaries(t)
	btcdForTests(t)
	miner, err := btcdtest.NewKey("miner")
	if err != nil {
		t.Fatal(err)
	}
	node := btcdtest.Start(t, btcdtest.Options{MiningAddr: miner.Addr.EncodeAddress()})
	const segwitHeight = 440
	node.Generate(segwitHeight)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "powbroker.json")
	// A price far above what the outage's shares earn: the order cannot become paid.
	if err := os.WriteFile(cfgFile, []byte(`{"broker":{"pricing":{"min_work":1}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	line, wait, errb := serveLine(t, pb, "--config", cfgFile, "--chain", "rpc", "--rpc-url", node.URL(),
		"--rpc-user", node.User, "--rpc-pass", node.Pass, "--payout-address", miner.Addr.EncodeAddress(),
		"--net", "regtest", "--datadir", filepath.Join(dir, "data"), "--http", "127.0.0.1:0",
		"--stratum", "127.0.0.1:0", "--log-level", "warn")
	var ready struct {
		HTTP    string `json:"http"`
		Stratum string `json:"stratum"`
	}
	if err := json.Unmarshal([]byte(line), &ready); err != nil || ready.Stratum == "" {
		t.Fatalf("ready line %q: %v; stderr %s", line, err, errb)
	}
	url := "http://" + ready.HTTP
	tx, err := miner.Spend(0, nil, node.CoinbaseAt(1))
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	_ = tx.Serialize(&raw)
	s := run(t, hex.EncodeToString(raw.Bytes())+"\n", pb, "tx", "submit", "--api", url, "--json", "-")
	var sub struct{ ID, Token string }
	if s.code != 0 || json.Unmarshal([]byte(s.stdout), &sub) != nil {
		t.Fatalf("submit: %+v", s)
	}

	node.Pause()
	paused := true
	defer func() {
		if paused {
			node.Resume()
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var p struct{ Type string }
		code := getJSON(t, url+"/readyz", &p)
		if code == http.StatusServiceUnavailable && p.Type == "node-unavailable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz during the outage: %d %+v", code, p)
		}
		time.Sleep(100 * time.Millisecond)
	}

	mcmd := exec.Command(pm, "stratum", "--url", "stratum+tcp://"+ready.Stratum, "--user", sub.Token+".rig", "--threads", "1", "--json")
	var mout, merr bytes.Buffer
	mcmd.Stdout, mcmd.Stderr = &mout, &merr
	if err := mcmd.Start(); err != nil {
		t.Fatal(err)
	}
	mdone := make(chan error, 1)
	go func() { mdone <- mcmd.Wait() }()
	t.Cleanup(func() {
		_ = mcmd.Process.Kill()
		<-mdone
	})

	type status struct {
		SharesAccepted int64          `json:"shares_accepted"`
		BlocksFound    int64          `json:"blocks_found"`
		Orders         map[string]int `json:"orders"`
	}
	var st status
	for deadline = time.Now().Add(30 * time.Second); ; {
		getJSON(t, url+"/v1/status", &st)
		if st.SharesAccepted >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Stratum shares answered during the outage: %+v; powminer: %s", st, merr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var blocks []struct {
		Accepted bool   `json:"accepted"`
		Reason   string `json:"reason"`
	}
	getJSON(t, url+"/v1/blocks", &blocks)
	if st.BlocksFound != 0 || st.Orders["working"] != 1 || len(blocks) == 0 || blocks[0].Accepted || !strings.Contains(blocks[0].Reason, "not submitted") {
		t.Fatalf("during the outage: status %+v, blocks %+v", st, blocks)
	}

	node.Resume()
	paused = false
	select {
	case err := <-mdone:
		mdone <- err
		var res struct{ Order, State string }
		if err != nil || json.Unmarshal(mout.Bytes(), &res) != nil || res.Order != sub.ID || res.State != "mined" {
			t.Fatalf("powminer stratum after the outage: %v %s %s", err, mout.String(), merr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("powminer stratum did not finish after the outage; stderr %s", merr.String())
	}
	w := run(t, "", pb, "tx", "wait", sub.ID, "--api", url, "--token", sub.Token, "--until", "mined", "--json", "--timeout", "30s")
	var o struct {
		State     string `json:"state"`
		BlockHash string `json:"block_hash"`
	}
	if w.code != 0 || json.Unmarshal([]byte(w.stdout), &o) != nil || o.State != "mined" {
		t.Fatalf("wait --until mined: %+v", w)
	}
	var nb struct {
		Tx []string `json:"tx"`
	}
	node.Call(&nb, "getblock", o.BlockHash, 1)
	if !slices.Contains(nb.Tx, tx.TxHash().String()) {
		t.Fatalf("node block %s lacks %s", o.BlockHash, tx.TxHash())
	}
	if code := wait(true); code != 0 {
		t.Fatalf("serve exited %d; stderr %s", code, errb)
	}
}
