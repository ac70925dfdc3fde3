// Package natstest runs real nats-server processes for tests: the server is built once
// per test binary from the module (github.com/nats-io/nats-server/v2, a tool of this
// module) or taken from POWBROKER_NATS_SERVER, and each Start runs one as its own
// process on a free loopback port, stopped by t.Cleanup (and killed with the test
// binary). Without a Go toolchain able to build it, tests skip with one line, or fail
// under POWBROKER_CI=1.
package natstest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Builder builds the nats-server binary once; declare one per test package.
type Builder struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary returns the path of a nats-server binary, building it on first use.
func (b *Builder) Binary() (string, error) {
	b.once.Do(func() {
		if p := os.Getenv("POWBROKER_NATS_SERVER"); p != "" {
			b.path = p
			if _, err := os.Stat(p); err != nil {
				b.err = fmt.Errorf("natstest: POWBROKER_NATS_SERVER: %w", err)
			}
			return
		}
		b.dir, b.err = os.MkdirTemp("", "powbroker-natstest-")
		if b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", b.path, "github.com/nats-io/nats-server/v2")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("natstest: build nats-server: %w\n%s", err, out)
		}
	})
	return b.path, b.err
}

// Cleanup removes the built binary; call it from TestMain after m.Run.
func (b *Builder) Cleanup() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// Server is one running nats-server process.
type Server struct {
	Addr string // 127.0.0.1:port
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// URL is the server's nats:// URL.
func (s *Server) URL() string { return "nats://" + s.Addr }

// Start runs a nats-server on a free loopback port and stops it when t ends. Extra
// arguments go to the server.
func (b *Builder) Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := b.Binary()
	if err != nil {
		if os.Getenv("POWBROKER_CI") == "1" {
			t.Fatalf("nats-server: %v", err)
		}
		t.Skipf("skipping %s: it needs nats-server (%v)", t.Name(), err)
	}
	s, err := StartBinary(bin, t.TempDir(), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartBinary runs the nats-server at bin with its log in dir.
func StartBinary(bin, dir string, args ...string) (*Server, error) {
	var lastErr error
	for try := 0; try < 3; try++ {
		s, err := launch(bin, dir, args)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func launch(bin, dir string, args []string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("natstest: free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logPath := filepath.Join(dir, fmt.Sprintf("nats-%d.log", port))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("natstest: start nats-server: %w", err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := probe(s.Addr); err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("natstest: nats-server exited: %s", out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("natstest: nats-server did not answer within 20s")
		}
	}
}

// probe connects and reads the server's INFO line.
func probe(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("natstest: unexpected greeting %q", line)
	}
	return nil
}

// Stop ends the server (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Log returns what the server printed so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}
