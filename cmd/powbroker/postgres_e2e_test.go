package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/proofow/powbroker/store/pgstore"
)

// proc is a powbroker process started by a test, killed at its end.
type proc struct {
	cmd   *exec.Cmd
	ready map[string]any
	errb  *syncBuffer
	done  chan struct{}
	lines chan string // the first stdout line
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the test's reads.
type syncBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.String()
}

// startWaiting runs `powbroker args...`; its first stdout line arrives on p.lines
// (closed without one when the process ends first).
func startWaiting(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), errb: newSyncBuffer(), done: make(chan struct{}), lines: make(chan string, 1)}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.errb
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		for sc.Scan() {
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// startProc runs `powbroker args...` and waits up to timeout for its JSON ready line.
func startProc(t *testing.T, bin string, timeout time.Duration, args ...string) *proc {
	t.Helper()
	p := startWaiting(t, bin, args...)
	select {
	case line, ok := <-p.lines:
		if !ok || json.Unmarshal([]byte(line), &p.ready) != nil || p.ready["ready"] != true {
			t.Fatalf("%v: ready line %q; stderr %s", args, line, p.errb)
		}
	case <-time.After(timeout):
		t.Fatalf("%v: no ready line within %v; stderr %s", args, timeout, p.errb)
	}
	return p
}

func (p *proc) addr(key string) string { s, _ := p.ready[key].(string); return s }

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// submitOrder creates a zero-fee faucet transaction and an order for it over the API.
func submitOrder(t *testing.T, pb, api string) (id, token string) {
	t.Helper()
	f := run(t, "", pb, "faucet", "--api", api, "--fee", "0", "--amount", "0.05")
	s := run(t, strings.TrimSpace(f.stdout)+"\n", pb, "tx", "submit", "--api", api, "--json", "-")
	var sub struct{ ID, Token string }
	if f.code != 0 || s.code != 0 || json.Unmarshal([]byte(s.stdout), &sub) != nil {
		t.Fatalf("faucet %+v; submit %+v", f, s)
	}
	return sub.ID, sub.Token
}

// minerResult is powminer stratum --json's summary.
type minerResult struct {
	Order    string `json:"order"`
	State    string `json:"state"`
	Accepted int64  `json:"accepted"`
}

// TestServePostgres: serve --store postgres://... on a real PostgreSQL pays an order
// mined by powminer stratum; after a kill -9 of the broker every share powminer saw
// accepted is in the database, and a restart on the same database knows the order.
func TestServePostgres(t *testing.T) {
	t.Parallel() // separate processes and databases; the suite stays under go test's 10 min
	pb, pm := binaries(t)
	db := pg.DB(t)
	args := []string{"serve", "--datadir", t.TempDir(), "--net", "private", "--private-bits", "1f00ffff",
		"--http", "127.0.0.1:0", "--stratum", "127.0.0.1:0", "--log-level", "warn", "--store", db}
	b := startProc(t, pb, 60*time.Second, args...)
	id, token := submitOrder(t, pb, "http://"+b.addr("http"))
	m := run(t, "", pm, "stratum", "--url", "stratum+tcp://"+b.addr("stratum"), "--token", token, "--threads", "1", "--json")
	var res minerResult
	if m.code != 0 || json.Unmarshal([]byte(m.stdout), &res) != nil || (res.State != "paid" && res.State != "mined") || res.Accepted < 1 {
		t.Fatalf("powminer stratum: %+v; serve stderr: %s", m, b.errb)
	}
	b.kill()
	ctx := context.Background()
	st, err := pgstore.Open(ctx, db, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := st.Order(ctx, id)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if o.Shares < res.Accepted || (o.State != "paid" && o.State != "mined") {
		t.Fatalf("stored order %s: %d shares, state %s; powminer saw %d accepted", o.ID, o.Shares, o.State, res.Accepted)
	}
	// A restart on the same database (and datadir) has the order.
	args[2] = t.TempDir() // a fresh datadir: the token key comes from the database
	b2 := startProc(t, pb, 60*time.Second, args...)
	st2 := run(t, "", pb, "tx", "status", id, "--api", "http://"+b2.addr("http"), "--token", token, "--json")
	if st2.code != 0 || !strings.Contains(st2.stdout, `"id":"`+id+`"`) {
		t.Fatalf("tx status after restart: %+v; stderr %s", st2, b2.errb)
	}
}
