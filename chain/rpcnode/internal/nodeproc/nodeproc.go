package nodeproc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
)

// FreePort returns a loopback host:port that was free a moment ago.
func FreePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Proc is a running node process.
type Proc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool
}

// Start runs bin with args in dir, output to logFile, with extra environment entries.
func Start(bin string, args []string, dir, logFile string, env ...string) (*Proc, error) {
	out, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, err
	}
	p := &Proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited tells whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the process: SIGCONT (in case it is paused), SIGTERM, and SIGKILL after
// grace. It is safe to call more than once and on a nil Proc.
func (p *Proc) Stop(tb testing.TB, grace time.Duration) {
	if p == nil || p.stopped {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		tb.Logf("nodeproc: %s did not stop on SIGTERM within %s; killing it", filepath.Base(p.cmd.Path), grace)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	p.stopped = true
}

// Kill ends the process with SIGKILL.
func (p *Proc) Kill() {
	if p == nil || p.stopped {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.stopped = true
}

// Pause stops the process with SIGSTOP and waits until every thread is stopped: its
// sockets still accept connections but nothing answers.
func (p *Proc) Pause(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		tb.Fatal(err)
	}
	p.waitStopped(tb, true)
}

// Resume continues a paused process with SIGCONT.
func (p *Proc) Resume(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		tb.Fatal(err)
	}
	p.waitStopped(tb, false)
}

// waitStopped waits until the state of every thread in /proc is (or is no longer)
// "T" (stopped): a signal is delivered asynchronously.
func (p *Proc) waitStopped(tb testing.TB, want bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if threadsStopped(p.PID()) == want {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	tb.Fatalf("nodeproc: process stopped=%v not reached within 5 s", want)
}

func threadsStopped(pid int) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			return false
		}
		// pid (comm) STATE ...; comm may contain spaces, so read after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}

// RPCError is an error answer of a node.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// Caller makes JSON-RPC calls with basic authentication.
type Caller struct {
	User, Pass string
	Version    string // "1.0" or "2.0"
	HTTP       *http.Client
	id         atomic.Uint64
}

// Call calls method at url and returns its raw result; an error answer is an *RPCError.
func (c *Caller) Call(url, method string, params ...any) (json.RawMessage, error) {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": c.Version, "id": c.id.Add(1), "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.User, c.Pass)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d: %w: %.200s", method, resp.StatusCode, err, data)
	}
	if r.Error != nil {
		return nil, r.Error
	}
	return r.Result, nil
}

// Decode fails tb when err is set and decodes raw into out (if not nil).
func Decode(tb testing.TB, raw json.RawMessage, err error, out any, what string) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.Fatalf("%s: decode %.300s: %v", what, raw, err)
		}
	}
}

// WaitSame polls best() of every node until they agree, and returns the tip's string.
func WaitSame(tb testing.TB, timeout time.Duration, best ...func() string) string {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		want := best[0]()
		same := true
		for _, b := range best[1:] {
			if b() != want {
				same = false
			}
		}
		if same {
			return want
		}
		if time.Now().After(deadline) {
			tb.Fatalf("nodes did not agree on the tip %s within %s", want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// DecodeBlock parses a serialized block in hex (getblock HASH 0) and fails tb otherwise.
func DecodeBlock(tb testing.TB, raw string) *wire.MsgBlock {
	tb.Helper()
	b, err := hex.DecodeString(raw)
	if err != nil {
		tb.Fatal(err)
	}
	blk := new(wire.MsgBlock)
	if err := blk.Deserialize(bytes.NewReader(b)); err != nil {
		tb.Fatal(err)
	}
	return blk
}
