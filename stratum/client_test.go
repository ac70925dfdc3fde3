package stratum_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/miner"
	"github.com/proofow/powbroker/stratum"
)

// orderStop ends mining on the broker's "order <id> is <state>" messages.
func orderStop(msg string) (bool, error) {
	f := strings.Fields(msg)
	if len(f) < 4 || f[0] != "order" || f[2] != "is" {
		return false, nil
	}
	switch strings.TrimRight(f[3], ":;,.") {
	case "paid", "mined", "confirmed":
		return true, nil
	case "working":
		return false, nil
	}
	return true, errors.New(msg)
}

// proxy forwards TCP connections to addr; cut drops every connection it carries.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, addr string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
			go func() { _, _ = io.Copy(c, s); _ = c.Close() }()
		}
	}()
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// slowKernel throttles a real kernel so that a test miner finds shares often and
// blocks rarely.
type slowKernel struct {
	k     miner.Kernel
	chunk uint64
	pause time.Duration
}

func (s slowKernel) Name() string { return "slow-" + s.k.Name() }

func (s slowKernel) Scan(ctx context.Context, h *miner.Header, start uint32, count uint64, t *miner.Target, emit func(miner.Found)) (uint64, error) {
	var done uint64
	for done < count {
		n := min(s.chunk, count-done)
		m, err := s.k.Scan(ctx, h, start+uint32(done), n, t, emit)
		done += m
		if err != nil {
			return done, err
		}
		select {
		case <-ctx.Done():
			return done, ctx.Err()
		case <-time.After(s.pause):
		}
	}
	return done, nil
}

// TestMine runs the powminer Stratum client against the real server: it mines,
// survives a dropped connection by resuming its session, follows a set_extranonce,
// and stops when the broker says the order is complete.
func TestMine(t *testing.T) {
	const shareDiff = 1.0 / (1 << 18) // 2^14 hashes; blocks need 2^24
	cfg := testStratumConfig()
	cfg.StartDifficulty, cfg.MaxDifficulty = shareDiff, shareDiff
	bcfg := testBrokerConfig()
	bcfg.Pricing = broker.Pricing{MinWork: 60 * shareDiff}
	e := newEnv(t, envOpts{bits: 0x1e00ffff, broker: bcfg, stratum: cfg})
	// A lucky block can mine the order before the test's steps are done: then try
	// again with a new order.
	for attempt := 1; ; attempt++ {
		if mineOnce(t, e, shareDiff) {
			return
		}
		if attempt == 3 {
			t.Fatal("three orders were mined by a block before the test's steps")
		}
	}
}

func mineOnce(t *testing.T, e *env, shareDiff float64) bool {
	o := e.newOrder(0)
	px := newProxy(t, e.addr)
	var accepted, afterRenew atomic.Int64
	var renewed atomic.Bool
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type result struct {
		st  stratum.MinerStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := stratum.Mine(ctx, stratum.MinerOptions{
			URL: "stratum+tcp://" + px.ln.Addr().String(), User: o.token + ".rig", Password: "x",
			Kernel:  slowKernel{k: miner.Best(), chunk: 1 << 12, pause: 10 * time.Millisecond},
			Threads: 1, MaxBackoff: time.Second, Logger: quiet(), Stop: orderStop,
			OnShare: func(r stratum.ShareResult) {
				if r.Code == 0 {
					accepted.Add(1)
					if renewed.Load() {
						afterRenew.Add(1)
					}
				}
			},
		})
		done <- result{st, err}
	}()
	var r result
	early := false
	waitFor := func(what string, cond func() bool) bool {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			select {
			case r = <-done:
				early = true
				return false
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return true
	}
	if waitFor("a first share", func() bool { return accepted.Load() >= 1 }) {
		px.cut()
		before := accepted.Load()
		if waitFor("the reconnect", func() bool { return e.srv.Stats().Sessions == 1 && accepted.Load() >= before+2 }) {
			renewed.Store(true)
			if n, err := e.srv.RenewExtranonces(e.ctx()); err != nil || n != 1 {
				t.Fatalf("renewed %d sessions: %v", n, err)
			}
		}
	}
	if !early {
		select {
		case r = <-done:
		case <-ctx.Done():
			t.Fatal("the miner did not stop")
		}
	}
	if r.err != nil {
		t.Fatalf("Mine: %v", r.err)
	}
	st := r.st
	so := e.orderState(o)
	if so.State != broker.StatePaid && so.State != broker.StateMined {
		t.Fatalf("miner stopped with the order %s", so.State)
	}
	if early {
		if so.State != broker.StateMined {
			t.Fatalf("miner stopped early with the order %s", so.State)
		}
		t.Logf("a block mined order %s before the test's steps", o.id)
		return false
	}
	if st.Sessions < 2 || len(st.Extranonce) < 3 || st.Extranonce[0] != st.Extranonce[1] || st.Extranonce[2] == st.Extranonce[1] {
		t.Fatalf("sessions %d, extranonces %v: want a resumed session, then a new extranonce", st.Sessions, st.Extranonce)
	}
	if afterRenew.Load() == 0 && so.State == broker.StatePaid {
		t.Fatal("no share accepted after set_extranonce")
	}
	for code, n := range st.Rejected {
		if code != stratum.CodeStale && code != stratum.CodeUnauthorized { // stale after a block, or in flight when the order was paid
			t.Fatalf("%d shares rejected with code %d (%v)", n, code, st.Rejected)
		}
	}
	if st.Accepted == 0 || st.Hashes == 0 || st.Difficulty != shareDiff {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("accepted %d, rejected %v, %d hashes, extranonces %v, order %s", st.Accepted, st.Rejected, st.Hashes, st.Extranonce, so.State)
	return true
}
