package api_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker/api"
)

// smallBuffers gives accepted connections a 64 KiB receive buffer: on loopback a
// whole multi-MiB body otherwise fits into the kernel's buffers, which hides what a
// real network path shows (the client is still sending when the server closes).
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(64 << 10)
	}
	return c, err
}

// serveWith serves e's broker over a second HTTP server with the given options on a
// loopback port and returns its address.
func serveWith(t *testing.T, e *env, opt api.ServerOptions) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := smallBuffers{l}
	opt.Logger = quiet()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = api.Serve(ctx, ln, api.NewServer(e.broker, opt), nil)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String()
}

// rawResponse reads one HTTP response from c and returns its status and body.
func rawResponse(t *testing.T, c net.Conn) (int, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func problemTypeOf(t *testing.T, body string) string {
	t.Helper()
	var p api.Problem
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("not a problem: %q", body)
	}
	return p.Type
}

// closedWithin reports whether the server closes c (EOF or reset) within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// TestOversizedBodySentBeforeReading: a client that writes a whole 3 MiB body before
// it reads anything gets the 413 problem, not a reset (the server reads and discards
// the rest of the body before it closes).
func TestOversizedBodySentBeforeReading(t *testing.T) {
	e := newEnv(t, testConfig())
	addr := serveWith(t, e, api.ServerOptions{})
	for _, path := range []string{"/v1/orders", "/v1/quotes", "/v1/orders/x/shares"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).SetWriteBuffer(64 << 10)
		body := `{"tx":"` + strings.Repeat("ab", 3<<19) + `"}`
		_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer pow_x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			path, len(body), body); err != nil {
			t.Fatalf("%s: sending the body: %v", path, err)
		}
		status, answer := rawResponse(t, c)
		if status != http.StatusRequestEntityTooLarge || problemTypeOf(t, answer) != "body-too-large" {
			t.Fatalf("%s: %d %s", path, status, answer)
		}
		c.Close()
	}
}

// TestSlowClients: headers or a body that do not arrive in time end the request: a
// stalled header closes the connection, a stalled body gets 408 request-timeout; a
// long-poll outlasts the body timeout.
func TestSlowClients(t *testing.T) {
	e := newEnv(t, testConfig())
	lim := api.Limits{ReadHeaderTimeout: 300 * time.Millisecond, BodyTimeout: 300 * time.Millisecond}
	addr := serveWith(t, e, api.ServerOptions{Limits: lim})

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\n")
	if !closedWithin(c, 5*time.Second) {
		t.Fatal("a stalled header kept the connection open")
	}

	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprint(c2, "POST /v1/quotes HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"tx\":\"")
	start := time.Now()
	status, body := rawResponse(t, c2)
	if status != http.StatusRequestTimeout || problemTypeOf(t, body) != "request-timeout" {
		t.Fatalf("stalled body: %d %s", status, body)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("stalled body answered after %s", time.Since(start))
	}

	o := e.newOrder(0)
	client, err := api.NewClient("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := client.WaitOrder(e.ctx(), o.id, o.token, time.Second); err != nil {
		t.Fatalf("a long-poll past the body timeout: %v", err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("the long-poll returned after %s, before its wait", d)
	}
}

// TestHeaderLimit: headers over MaxHeaderBytes get 431.
func TestHeaderLimit(t *testing.T) {
	e := newEnv(t, testConfig())
	addr := serveWith(t, e, api.ServerOptions{Limits: api.Limits{MaxHeaderBytes: 4 << 10}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 16<<10))
	if status, _ := rawResponse(t, c); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %d", status)
	}
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Small: %s\r\n\r\n", strings.Repeat("a", 1<<10))
	if status, _ := rawResponse(t, c2); status != http.StatusOK {
		t.Fatalf("headers within the limit: %d", status)
	}
}

// TestLongPollCap: a client IP gets at most MaxLongPollsPerIP long-polls at once; the
// next is 429 slow-down until one ends.
func TestLongPollCap(t *testing.T) {
	e := newEnv(t, testConfig())
	addr := serveWith(t, e, api.ServerOptions{MaxLongPollsPerIP: 2})
	o := e.newOrder(0)
	client, err := api.NewClient("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil { // the order's view may change: poll again at once
				_, _ = client.WaitOrder(ctx, o.id, o.token, 30*time.Second)
			}
		}()
	}
	url := fmt.Sprintf("http://%s/v1/orders/%s?wait=30s", addr, o.id)
	third := func() int {
		req, _ := http.NewRequestWithContext(e.ctx(), http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+o.token)
		ctx3, c3 := context.WithTimeout(e.ctx(), 2*time.Second)
		defer c3()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx3))
		if err != nil {
			return 0 // still waiting: admitted
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(10 * time.Second)
	got := 0
	for got != http.StatusTooManyRequests && time.Now().Before(deadline) {
		got = third()
	}
	if got != http.StatusTooManyRequests {
		t.Fatalf("a third long-poll from the same IP: %d, want 429", got)
	}
	cancel()
	wg.Wait()
	deadline = time.Now().Add(10 * time.Second)
	for got == http.StatusTooManyRequests && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		got = third()
	}
	if got != 0 {
		t.Fatalf("after the long-polls ended: %d, want it admitted", got)
	}
}

// clientFrom returns an HTTP client whose connections come from the loopback address ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func statusOf(t *testing.T, c *http.Client, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRateLimits: the per-IP limit holds one client back and not another; the
// per-token limit holds one order's token back from every IP, and not another order.
func TestRateLimits(t *testing.T) {
	e := newEnv(t, testConfig())
	a, b := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	if _, err := b.Get(e.url + "/healthz"); err != nil {
		if os.Getenv("POWBROKER_CI") != "" {
			t.Fatalf("no second loopback address: %v", err)
		}
		t.Skip("TestRateLimits did not run: no second loopback address (127.0.0.2) on this machine")
	}

	addr := serveWith(t, e, api.ServerOptions{RequestsPerSecond: 1})
	status := "http://" + addr + "/v1/status"
	limited := false
	for range 10 {
		if statusOf(t, a, status, "") == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("10 requests at 1/s (burst 4) from one IP were never limited")
	}
	if got := statusOf(t, b, status, ""); got != http.StatusOK {
		t.Fatalf("another IP was limited too: %d", got)
	}

	o1, o2 := e.newOrder(0), e.newOrder(0)
	addr = serveWith(t, e, api.ServerOptions{RequestsPerSecond: 1000, TokenRequestsPerSecond: 1})
	u1, u2 := "http://"+addr+"/v1/orders/"+o1.id, "http://"+addr+"/v1/orders/"+o2.id
	limited = false
	for i := range 10 {
		c := a
		if i%2 == 1 {
			c = b
		}
		if statusOf(t, c, u1, o1.token) == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("10 requests at 1/s (burst 4) with one token from two IPs were never limited")
	}
	if got := statusOf(t, a, u2, o2.token); got != http.StatusOK {
		t.Fatalf("another order's token was limited too: %d", got)
	}
}

// TestStorageFault: while another process holds the database's write lock, a share
// batch gets 503 storage-unavailable (with Retry-After) and nothing is credited; the
// order can still be read; once the lock is gone the same shares are accepted.
func TestStorageFault(t *testing.T) {
	e := newEnv(t, testConfig())
	o := e.newOrder(0)
	batch := shares(o.first, nonces(t, o.first, 2, false))
	db, err := sql.Open("sqlite3", filepath.Join(e.dir, "broker.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO meta(key, value) VALUES('holder', 'x')"); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.SubmitShares(e.ctx(), o.id, o.token, batch)
	var p *api.Problem
	if !errors.As(err, &p) || p.Type != "storage-unavailable" || p.Status != http.StatusServiceUnavailable || p.RetryAfter < 1 {
		t.Fatalf("shares during the lock: %v", err)
	}
	got, err := e.client.Order(e.ctx(), o.id, o.token)
	if err != nil || got.CreditedWork != 0 {
		t.Fatalf("order during the lock: %+v, %v", got, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	res, err := e.client.SubmitShares(e.ctx(), o.id, o.token, batch)
	if err != nil || res.Accepted != len(batch) {
		t.Fatalf("the same shares after the lock: %+v, %v", res, err)
	}
}

// TestCompactionOfEndedOrders: the running broker compacts the shares of an order
// that ended (here canceled) once CompactAfter passed; the order keeps its totals.
func TestCompactionOfEndedOrders(t *testing.T) {
	e := &env{t: t, dir: t.TempDir(), cfg: testConfig(), compactAfter: 200 * time.Millisecond}
	e.start()
	o := e.newOrder(0)
	if res, err := e.client.SubmitShares(e.ctx(), o.id, o.token, shares(o.first, nonces(t, o.first, 2, false))); err != nil || res.Accepted != 2 {
		t.Fatalf("shares: %+v, %v", res, err)
	}
	if _, err := e.client.Cancel(e.ctx(), o.id, o.token); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", filepath.Join(e.dir, "broker.sqlite")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(15 * time.Second)
	n := -1
	for time.Now().Before(deadline) {
		if err := db.QueryRow("SELECT count(*) FROM shares WHERE order_id = ?", o.id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n != 0 {
		t.Fatalf("%d share rows of the canceled order are still stored", n)
	}
	got, err := e.client.Order(e.ctx(), o.id, o.token)
	if err != nil || got.State != "canceled" || got.CreditedWork <= 0 {
		t.Fatalf("the order after compaction: %+v, %v", got, err)
	}
}
