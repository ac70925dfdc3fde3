package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker/bus/natstest"
	"github.com/proofow/powbroker/store/pgtest"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds powbroker and powminer once per test run.
func binaries(t *testing.T) (broker, miner string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "powbroker-bin-*")
		if buildErr != nil {
			return
		}
		for _, p := range []string{"powbroker", "powminer"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, p), "github.com/proofow/powbroker/cmd/"+p).CombinedOutput()
			if err != nil {
				buildErr = errors.New(string(out))
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return filepath.Join(binDir, "powbroker"), filepath.Join(binDir, "powminer")
}

// pg is the PostgreSQL server of the --store postgres tests, started on first use;
// natsb builds nats-server for the gateway tests.
var (
	pg    pgtest.Shared
	natsb natstest.Builder
)

func TestMain(m *testing.M) {
	code := pg.Main(m)
	natsb.Cleanup()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, stdin string, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return result{out.String(), errb.String(), code}
}

// serve starts the daemon and returns its API URL and a stop function that sends
// SIGTERM and returns the exit code.
func serve(t *testing.T, bin, dir string) (string, func() int) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--datadir", dir, "--net", "private", "--private-bits", "1f00ffff",
		"--http", "127.0.0.1:0", "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("no ready line; stderr: %s", errb.String())
	}
	var ready struct {
		Ready bool   `json:"ready"`
		HTTP  string `json:"http"`
	}
	if err := json.Unmarshal([]byte(line), &ready); err != nil || !ready.Ready || strings.HasSuffix(ready.HTTP, ":0") {
		_ = cmd.Process.Kill()
		t.Fatalf("ready line %q: %v; stderr %s", line, err, errb.String())
	}
	var keys []string
	var raw map[string]any
	_ = json.Unmarshal([]byte(line), &raw)
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "http,ready" {
		t.Fatalf("ready line keys %v", keys)
	}
	stopped := false
	stop := func() int {
		if stopped {
			return 0
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode()
			}
			return 0
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("serve did not stop on SIGTERM")
			return -1
		}
	}
	t.Cleanup(func() { stop() })
	return "http://" + ready.HTTP, stop
}

// TestCommands: serve, faucet, tx quote/submit/status/wait, powminer api, a clean
// shutdown and a restart that keeps the order, all as a user would run them.
func TestCommands(t *testing.T) {
	pb, pm := binaries(t)
	dir := t.TempDir()
	url, stop := serve(t, pb, dir)

	f := run(t, "", pb, "faucet", "--api", url, "--fee", "0", "--amount-sat", "5000000")
	if f.code != 0 || len(strings.TrimSpace(f.stdout)) < 100 {
		t.Fatalf("faucet: %+v", f)
	}
	txHex := strings.TrimSpace(f.stdout)
	q := run(t, "", pb, "tx", "quote", "--api", url, "--json", txHex)
	if q.code != 0 || !strings.Contains(q.stdout, `"required_work"`) || !strings.Contains(q.stdout, `"fee":0`) {
		t.Fatalf("quote: %+v", q)
	}
	s := run(t, txHex+"\n", pb, "tx", "submit", "--api", url, "--json", "-")
	if s.code != 0 {
		t.Fatalf("submit: %+v", s)
	}
	var sub map[string]any
	if err := json.Unmarshal([]byte(s.stdout), &sub); err != nil {
		t.Fatalf("submit json %q: %v", s.stdout, err)
	}
	var keys []string
	for k := range sub {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "id,required_work,state,token" || sub["state"] != "working" {
		t.Fatalf("submit --json %v", sub)
	}
	id, token := sub["id"].(string), sub["token"].(string)

	m := run(t, "", pm, "api", "--api", url, "--order", id, "--token", token, "--threads", "1", "--quiet")
	if m.code != 0 || !strings.Contains(m.stdout, "order "+id) {
		t.Fatalf("powminer api: %+v", m)
	}
	w := run(t, "", pb, "tx", "wait", id, "--api", url, "--token", token, "--until", "mined", "--json", "--timeout", "60s")
	if w.code != 0 {
		t.Fatalf("wait: %+v", w)
	}
	var o struct {
		State     string `json:"state"`
		BlockHash string `json:"block_hash"`
		Height    int    `json:"height"`
	}
	if err := json.Unmarshal([]byte(w.stdout), &o); err != nil || (o.State != "mined" && o.State != "confirmed") || o.BlockHash == "" || o.Height < 3 {
		t.Fatalf("wait --until mined: %q %v", w.stdout, err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM", code)
	}

	// Restart on the same datadir: the order and its token survive.
	url2, _ := serve(t, pb, dir)
	st := run(t, "", pb, "tx", "status", id, "--api", url2, "--token", token, "--json")
	if st.code != 0 || !strings.Contains(st.stdout, o.BlockHash) {
		t.Fatalf("status after restart: %+v", st)
	}
	bad := run(t, "", pb, "tx", "status", id, "--api", url2, "--token", "pow_wrong", "--json")
	if bad.code != 1 || !strings.Contains(bad.stderr, "not-found") || strings.Count(strings.TrimSpace(bad.stderr), "\n") != 0 {
		t.Fatalf("wrong token: %+v", bad)
	}
}

// TestMisuse: every misuse prints one line that says what is wrong and exits 2.
func TestMisuse(t *testing.T) {
	pb, pm := binaries(t)
	cases := []struct {
		bin  string
		args []string
		want string // in the message, when given
	}{
		{pb, []string{"bogus"}, `unknown command "bogus"`},
		{pb, []string{"serv"}, `unknown command "serv" for "powbroker" (did you mean serve?)`},
		{pb, []string{"serve", "--net", "mainnet", "--datadir", t.TempDir()}, "--net must be regtest or private"},
		{pb, []string{"serve", "--net", "private"}, "--datadir is required"},
		{pb, []string{"serve", "--datadir", t.TempDir(), "--http", "nope"}, `--http "nope"`},
		{pb, []string{"serve", "--datadir", t.TempDir(), "--private-bits", "zz"}, "--private-bits"},
		{pb, []string{"serve", "--datadir", t.TempDir(), "--config", "/does/not/exist.json"}, "config /does/not/exist.json"},
		{pb, []string{"serve", "extra"}, `serve takes no arguments, got "extra"`},
		{pb, []string{"tx", "quote"}, "tx quote: missing the transaction (HEX, or - to read it from stdin)"},
		{pb, []string{"tx", "submit"}, "tx submit: missing the transaction"},
		{pb, []string{"tx", "status"}, "tx status: missing the order ID"},
		{pb, []string{"tx", "wait", "a", "b"}, `tx wait: unexpected argument "b"`},
		{pb, []string{"tx", "status", "ord_x"}, "--token is required (or env POWBROKER_TOKEN)"},
		{pb, []string{"tx", "wait", "ord_x", "--token", "t", "--until", "sideways"}, "--until must be paid, mined or confirmed"},
		{pb, []string{"tx", "quote", "--api", "ftp://x", "00"}, "--api"},
		{pb, []string{"faucet", "--amount", "-1"}, "--amount must be a positive number of BTC"},
		{pb, []string{"faucet", "--amount-sat", "0"}, "--amount-sat must be a positive number of satoshi"},
		{pb, []string{"faucet", "--amount", "0.1", "--amount-sat", "5"}, "not both"},
		{pb, []string{"faucet", "--fee", "x"}, "--fee"},
		{pb, []string{"demo", "--net", "mainnet"}, "--net must be private or regtest"},
		{pb, []string{"demo", "--kernel", "gpu"}, `--kernel "gpu": this CPU runs `},
		{pb, []string{"version", "x"}, "version takes no arguments"},
		{pm, []string{"api", "--order", "x"}, "--order and --token are required (or env POWBROKER_TOKEN)"},
		{pm, []string{"api", "--order", "x", "--token", "t", "--threads", "0"}, "--threads must be between 1 and 1024"},
		{pm, []string{"api", "--order", "x", "--token", "t", "--kernel", "gpu"}, `--kernel "gpu": this CPU runs `},
		{pm, []string{"stratum", "--url", "stratum+tcp://127.0.0.1:1"}, "--url and --token are required (or env POWBROKER_TOKEN)"},
		{pm, []string{"stratum", "--url", "stratum+tcp://127.0.0.1:1", "--token", "t", "--threads", "0"}, "--threads must be"},
		{pm, []string{"scan", "--header", "00"}, ""},
		{pm, []string{"apu"}, "(did you mean api?)"},
	}
	for _, c := range cases {
		r := run(t, "", c.bin, c.args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		name := filepath.Base(c.bin)
		if r.code != 2 || len(lines) != 1 || lines[0] == "" || !strings.HasPrefix(lines[0], name+": ") {
			t.Errorf("%s %v: exit %d, stderr %q; want exit 2 and one line", name, c.args, r.code, r.stderr)
			continue
		}
		if !strings.Contains(lines[0], c.want) {
			t.Errorf("%s %v: %q does not say %q", name, c.args, lines[0], c.want)
		}
		// One style: no line breaks folded into "; ", no part said twice.
		parts := strings.Split(strings.TrimPrefix(lines[0], name+": "), ": ")
		for i := 1; i < len(parts); i++ {
			if slices.Contains(parts[:i], parts[i]) || strings.Contains(parts[i], "; ") {
				t.Errorf("%s %v: %q repeats itself or is folded", name, c.args, lines[0])
			}
		}
	}
}
