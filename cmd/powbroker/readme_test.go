package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeSections are the README sections whose first sh block TestReadmeFlows types.
var readmeSections = []string{"## Running the daemon", "## Paying for a transaction with `powminer`", "## Mining with any Stratum v1 miner"}

// TestReadmeFlows runs the README's daemon, payment and Stratum flows as a user types
// them, line by line in one working directory holding ./powbroker and ./powminer (built
// by the test; the go build lines are skipped), with ID and TOKEN taken from the last
// tx submit --json. Three changes, each for the test's sake: the README's ports become
// free ones, serve lines get --private-bits 1e00ffff (2^24 hashes per block instead of
// 2^26, still about twenty order prices, so that the first start's initial blocks do not
// take minutes on a loaded CI machine), and each step has a time limit.
func TestReadmeFlows(t *testing.T) {
	pb, pm := binaries(t)
	dir := t.TempDir()
	for _, b := range []string{pb, pm} {
		if err := os.Symlink(b, filepath.Join(dir, filepath.Base(b))); err != nil {
			t.Fatal(err)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	f := &flow{t: t, dir: dir, env: map[string]string{}, ports: map[string]string{
		"127.0.0.1:8390": freeAddr(t), "127.0.0.1:3333": freeAddr(t),
	}}
	defer f.stopDaemon()
	for _, sec := range readmeSections {
		lines := shBlock(t, string(readme), sec)
		for _, line := range lines {
			f.step(line)
		}
	}
	if f.mined < 2 {
		t.Fatalf("%d flows reached mined, want 2 (payment and Stratum)", f.mined)
	}
}

// flow is the state of a user's shell: variables, the running daemon, the last order.
type flow struct {
	t         *testing.T
	dir       string
	env       map[string]string
	ports     map[string]string
	id, token string
	daemon    *exec.Cmd
	daemonOut *strings.Builder
	mined     int
}

var (
	assignRe  = regexp.MustCompile(`^([A-Z_]+)=\$\((.*)\)$`)
	commentRe = regexp.MustCompile(`\s+#\s.*$`)
)

func (f *flow) step(line string) {
	t := f.t
	line = strings.TrimSpace(commentRe.ReplaceAllString(line, ""))
	if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "go build ") {
		return
	}
	for from, to := range f.ports {
		line = strings.ReplaceAll(line, from, to)
	}
	line = regexp.MustCompile(`\bID\b`).ReplaceAllString(line, f.id)
	line = regexp.MustCompile(`\bTOKEN\b`).ReplaceAllString(line, f.token)
	t.Logf("$ %s", line)
	switch {
	case strings.HasPrefix(line, "export "):
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		f.env[k] = v
	case strings.HasPrefix(line, "./powbroker serve "):
		f.startDaemon(line + " --private-bits 1e00ffff")
	case assignRe.MatchString(line):
		m := assignRe.FindStringSubmatch(line)
		f.env[m[1]] = strings.TrimSpace(f.run(m[2], time.Minute))
	default:
		out := f.run(line, 3*time.Minute)
		if strings.Contains(line, "tx submit") && strings.Contains(line, "--json") {
			var sub struct{ ID, Token string }
			if err := json.Unmarshal([]byte(out), &sub); err != nil || sub.ID == "" {
				t.Fatalf("tx submit --json: %q (%v)", out, err)
			}
			f.id, f.token = sub.ID, sub.Token
		}
		if strings.Contains(line, "tx wait") && strings.Contains(line, "--until mined") {
			if !strings.Contains(out, "order "+f.id+": mined") && !strings.Contains(out, "order "+f.id+": confirmed") || !strings.Contains(out, "\nblock ") {
				t.Fatalf("tx wait --until mined printed %q", out)
			}
			if strings.Count(out, "\n") < 3 {
				t.Fatalf("tx wait printed no progress lines: %q", out)
			}
			f.mined++
		}
	}
}

// run runs a line in bash with the flow's variables and returns its stdout; any exit
// but 0 fails the test.
func (f *flow) run(line string, limit time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	cmd.Dir = f.dir
	cmd.Env = f.environ()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		f.t.Fatalf("%s: %v\nstdout: %s\nstderr: %s\ndaemon: %s", line, err, out.String(), errb.String(), f.daemonLog())
	}
	f.t.Logf("%s", strings.TrimSpace(out.String()))
	return out.String()
}

func (f *flow) environ() []string {
	env := os.Environ()
	for k, v := range f.env {
		env = append(env, k+"="+v)
	}
	return env
}

// startDaemon stops the running daemon as Ctrl-C would, starts the serve line and
// waits for its ready line.
func (f *flow) startDaemon(line string) {
	t := f.t
	f.stopDaemon()
	cmd := exec.Command("bash", "-c", "exec "+line)
	cmd.Dir, cmd.Env = f.dir, f.environ()
	f.daemonOut = &strings.Builder{}
	cmd.Stderr = f.daemonOut
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.daemon = cmd
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			ready <- sc.Text()
		}
		close(ready)
	}()
	select {
	case l := <-ready:
		if !strings.Contains(l, `"ready":true`) {
			t.Fatalf("ready line %q; stderr %s", l, f.daemonLog())
		}
		t.Logf("%s", l)
	case <-time.After(3 * time.Minute):
		t.Fatalf("no ready line; stderr %s", f.daemonLog())
	}
}

func (f *flow) stopDaemon() {
	if f.daemon == nil {
		return
	}
	_ = f.daemon.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- f.daemon.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			f.t.Errorf("serve after Ctrl-C: %v; stderr %s", err, f.daemonLog())
		}
	case <-time.After(30 * time.Second):
		_ = f.daemon.Process.Kill()
		f.t.Errorf("serve did not stop on SIGINT")
	}
	f.daemon = nil
}

func (f *flow) daemonLog() string {
	if f.daemonOut == nil {
		return ""
	}
	s := f.daemonOut.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// shBlock returns the lines of the first sh block after the heading.
func shBlock(t *testing.T, readme, heading string) []string {
	t.Helper()
	i := strings.Index(readme, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no section %q", heading)
	}
	rest := readme[i+len(heading)+2:]
	if next := strings.Index(rest, "\n## "); next >= 0 {
		rest = rest[:next]
	}
	start := strings.Index(rest, "```sh\n")
	if start < 0 {
		t.Fatalf("section %q has no sh block", heading)
	}
	body := rest[start+len("```sh\n"):]
	end := strings.Index(body, "\n```")
	if end < 0 {
		t.Fatalf("section %q: unterminated block", heading)
	}
	return strings.Split(body[:end], "\n")
}

// freeAddr is a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr())
}
