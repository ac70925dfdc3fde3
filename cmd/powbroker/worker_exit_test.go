package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestWorkerExits: powminer api says what fails and what it retries, stops at once on a
// URL that is not a powbroker, says what Ctrl-C leaves behind (exit 130), and powminer
// api and powminer stratum end a canceled order with the same code and message.
func TestWorkerExits(t *testing.T) {
	pb, pm := binaries(t)
	t.Run("broker down, then Ctrl-C", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		ln.Close()
		cmd := exec.Command(pm, "api", "--api", dead, "--order", "ord_x", "--token", "pow_x", "--threads", "1")
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		var lines []string
		for len(lines) < 3 && sc.Scan() {
			lines = append(lines, sc.Text())
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("exit %v, stderr %q; want 130", err, lines)
		}
		for _, l := range lines[:3] {
			if !strings.Contains(l, "cannot reach the broker at "+dead+": connection refused") || !strings.Contains(l, "retrying in") || strings.Count(l, dead) != 1 {
				t.Fatalf("retry line %q", l)
			}
		}
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "powminer: interrupted: order ord_x keeps") {
			t.Fatalf("last line %q", last)
		}
	})
	t.Run("not a powbroker", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		r := run(t, "", pm, "api", "--api", srv.URL, "--order", "ord_x", "--token", "pow_x")
		if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "answers HTTP 404") {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("canceled order", func(t *testing.T) {
		dir := t.TempDir()
		line, _, errb := serveLine(t, pb, "--datadir", dir, "--net", "private", "--private-bits", "1f00ffff",
			"--http", "127.0.0.1:0", "--stratum", "127.0.0.1:0", "--log-level", "warn")
		var ready struct{ HTTP, Stratum string }
		if err := json.Unmarshal([]byte(line), &ready); err != nil {
			t.Fatalf("ready %q: %v %s", line, err, errb)
		}
		url := "http://" + ready.HTTP
		f := run(t, "", pb, "faucet", "--api", url, "--fee", "0")
		s := run(t, strings.TrimSpace(f.stdout)+"\n", pb, "tx", "submit", "--api", url, "--json", "-")
		var sub struct{ ID, Token string }
		if err := json.Unmarshal([]byte(s.stdout), &sub); err != nil {
			t.Fatalf("submit %+v", s)
		}
		if c := run(t, "", pb, "tx", "cancel", sub.ID, "--api", url, "--token", sub.Token); c.code != 0 {
			t.Fatalf("cancel %+v", c)
		}
		want := "order " + sub.ID + " is canceled"
		for _, args := range [][]string{
			{"api", "--api", url, "--order", sub.ID, "--token", sub.Token, "--threads", "1"},
			{"stratum", "--url", "stratum+tcp://" + ready.Stratum, "--token", sub.Token, "--threads", "1"},
		} {
			r := run(t, "", pm, args...)
			if r.code != 3 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, want) != 1 {
				t.Errorf("powminer %s on a canceled order: %+v; want exit 3 and %q once", args[0], r, want)
			}
		}
	})
}
