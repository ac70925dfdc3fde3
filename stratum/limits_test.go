package stratum_test

import (
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/proofow/powbroker/stratum"
)

// waitClosed reads until the server closes the connection (true) or the timeout
// passes with the connection still open (false).
func (c *conn) waitClosed(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for {
		_ = c.c.SetReadDeadline(deadline)
		_, err := c.r.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		return errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset")
	}
}

// healthy checks that an established miner still gets answers and accepted shares.
func healthy(t *testing.T, c *conn, token string) {
	t.Helper()
	if r := c.call("mining.extranonce.subscribe"); string(r.Result) != "true" {
		t.Fatalf("healthy miner: %s", r.raw)
	}
	s := c.find(c.last(), 1, false, 0, 0)[0]
	if r := c.submit(token, s, false); string(r.Result) != "true" {
		t.Fatalf("healthy miner's share: %s", r.raw)
	}
}

// TestBadInput: each kind of bad input closes or answers only its own connection.
func TestBadInput(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	b := e.dial()
	b.handshake(o.token)
	garbage := make([]byte, 300)
	_, _ = rand.Read(garbage)
	tests := []struct {
		name   string
		do     func(c *conn)
		closed bool
	}{
		{"line over 16 KiB", func(c *conn) {
			c.write(`{"id":1,"method":"mining.subscribe","params":["` + strings.Repeat("a", 17<<10) + "\"]}\n")
		}, true},
		{"line without a newline that never ends", func(c *conn) {
			for range 5 {
				c.write(strings.Repeat("x", 4<<10))
			}
		}, true},
		{"binary garbage", func(c *conn) {
			for range 5 {
				c.write(strings.ReplaceAll(string(garbage), "\n", " ") + "\n")
			}
		}, true},
		{"dropped mid-line", func(c *conn) {
			c.write(`{"id":1,"method":"mining.subscr`)
			_ = c.c.(*net.TCPConn).CloseWrite()
		}, true},
		{"one malformed line is answered", func(c *conn) {
			c.write("{nope}\n")
			m := c.mustNext()
			if m.code() != 20 {
				t.Fatalf("malformed line: %s", m.raw)
			}
			if r := c.call("mining.subscribe"); r.code() != 0 {
				t.Fatalf("subscribe after a malformed line: %s", r.raw)
			}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial()
			tc.do(c)
			if got := c.waitClosed(2 * time.Second); got != tc.closed {
				t.Fatalf("closed = %v, want %v", got, tc.closed)
			}
			healthy(t, b, o.token)
		})
	}
}

// TestConnectionLimits: total and per-IP caps.
func TestConnectionLimits(t *testing.T) {
	cfg := testStratumConfig()
	cfg.MaxConns, cfg.MaxConnsPerIP = 5, 3
	e := newEnv(t, envOpts{stratum: cfg})
	o := e.newOrder(0)
	open := func(ip string) *conn {
		c := dialAddr(t, e.addr, ip)
		return c
	}
	var keep []*conn
	for range 3 {
		c := open("127.0.0.1")
		c.readSubscribe(c.call("mining.subscribe"))
		keep = append(keep, c)
	}
	if c := open("127.0.0.1"); !c.waitClosed(2 * time.Second) {
		t.Fatal("a 4th connection from one IP was kept")
	}
	for range 2 {
		c := open("127.0.0.2")
		c.readSubscribe(c.call("mining.subscribe"))
		keep = append(keep, c)
	}
	if c := open("127.0.0.3"); !c.waitClosed(2 * time.Second) {
		t.Fatal("a 6th connection was kept")
	}
	_ = keep[0].c.Close()
	waitSessions(t, e, 4)
	c := open("127.0.0.3")
	c.handshake(o.token)
	healthy(t, c, o.token)
}

// TestTimeouts: a silent connection is closed after the handshake timeout, an idle
// authorized miner after the idle timeout, an active one is kept.
func TestTimeouts(t *testing.T) {
	cfg := testStratumConfig()
	cfg.HandshakeTimeout, cfg.IdleTimeout = 300*time.Millisecond, 900*time.Millisecond
	e := newEnv(t, envOpts{stratum: cfg})
	o := e.newOrder(0)
	silent := e.dial()
	idle := e.dial()
	idle.handshake(o.token)
	active := e.dial()
	active.handshake(o.token)
	start := time.Now()
	if !silent.waitClosed(2 * time.Second) {
		t.Fatal("silent connection kept")
	}
	if el := time.Since(start); el > 850*time.Millisecond {
		t.Fatalf("silent connection closed after %v, handshake timeout is 300ms", el)
	}
	for time.Since(start) < 1500*time.Millisecond {
		if r := active.call("mining.extranonce.subscribe"); r.code() != 0 {
			t.Fatalf("active miner: %s", r.raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !idle.waitClosed(2 * time.Second) {
		t.Fatal("idle miner kept")
	}
	healthy(t, active, o.token)
}

// TestRateLimit: requests over the per-connection cap get error 20; a connection that
// keeps flooding is closed; others are not affected.
func TestRateLimit(t *testing.T) {
	cfg := testStratumConfig()
	cfg.RequestsPerSecond, cfg.RequestBurst = 5, 5
	e := newEnv(t, envOpts{stratum: cfg})
	o := e.newOrder(0)
	b := e.dial()
	b.handshake(o.token)
	c := e.dial()
	var lines strings.Builder
	for i := range 8 {
		lines.WriteString(`{"id":` + string(rune('1'+i)) + `,"method":"mining.extranonce.subscribe","params":[]}` + "\n")
	}
	c.write(lines.String())
	ok, limited := 0, 0
	for range 8 {
		m := c.mustNext()
		switch {
		case m.code() == 0:
			ok++
		case m.code() == stratum.CodeOther && strings.Contains(m.errText(), "too many"):
			limited++
		default:
			t.Fatalf("unexpected %s", m.raw)
		}
	}
	if ok < 5 || ok > 6 || limited != 8-ok {
		t.Fatalf("%d answered, %d limited; want 5 (or 6) and the rest limited", ok, limited)
	}
	time.Sleep(time.Second)
	if r := c.call("mining.extranonce.subscribe"); r.code() != 0 {
		t.Fatalf("after a pause: %s", r.raw)
	}
	lines.Reset()
	for range 40 {
		lines.WriteString(`{"id":1,"method":"mining.extranonce.subscribe","params":[]}` + "\n")
	}
	c.write(lines.String())
	if !c.waitClosed(3 * time.Second) {
		t.Fatal("a flooding connection was kept")
	}
	time.Sleep(time.Second) // b's bucket refills
	healthy(t, b, o.token)
}
