package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/proofow/powbroker/broker/api"
)

var execLookPath = exec.LookPath

// soak is one run.
type soak struct {
	opt                   options
	log                   *slog.Logger
	rng                   *rand.Rand
	dir                   string // working directory
	datadir               string
	cfgPath               string
	httpAddr, stratumAddr string
	client                *api.Client

	daemon     *exec.Cmd
	daemonDone chan struct{}
	daemonLog  *os.File

	mu       sync.Mutex
	orders   []*soakOrder
	stopping bool // no new orders
	nextLog  int
	final    bool // the last check: every order must be mined

	sum *summary
}

// soakOrder is an order of the soak and its miners' share logs.
type soakOrder struct {
	id, token, txid string
	logs            []*shareLogFile
	acked           int64 // acknowledged shares checked so far
	complete        bool  // a miner ended because the broker said it needs no more work
}

// shareLogFile is a share log and how far it was read.
type shareLogFile struct {
	path string
	off  int64
}

func run(ctx context.Context, opt options) (*summary, error) {
	s := &soak{opt: opt, rng: rand.New(rand.NewPCG(opt.seed, opt.seed^0x9e3779b97f4a7c15)), sum: newSummary(opt)}
	level := slog.LevelWarn
	if opt.verbose {
		level = slog.LevelInfo
	}
	s.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := s.setup(); err != nil {
		return nil, err
	}
	defer s.teardown()
	begin := time.Now()
	if err := s.startDaemon(ctx); err != nil {
		return s.sum, err
	}
	start := time.Now()
	loadCtx, stopLoad := context.WithCancel(ctx)
	var sessions sync.WaitGroup
	for i := 0; i < opt.stratumSessions+opt.apiSessions; i++ {
		kind := "stratum"
		if i >= opt.stratumSessions {
			kind = "api"
		}
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			s.session(loadCtx, kind)
		}()
	}
	err := s.cycles(ctx)
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	loaded := time.Since(start)
	if err == nil {
		err = s.finish(ctx, &sessions)
	}
	stopLoad()
	sessions.Wait()
	s.sum.LoadSeconds = loaded.Seconds()
	s.sum.Seconds = time.Since(begin).Seconds()
	if err == nil {
		err = s.finalCheck(ctx)
	}
	s.sum.done()
	return s.sum, err
}

// setup makes the working directory, picks the ports and writes the daemon's config.
func (s *soak) setup() error {
	s.dir = s.opt.dir
	if s.dir == "" {
		d, err := os.MkdirTemp("", "powsoak-*")
		if err != nil {
			return err
		}
		s.dir = d
	} else if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	s.datadir = filepath.Join(s.dir, "data")
	var err error
	if s.httpAddr, err = freePort(); err != nil {
		return err
	}
	if s.stratumAddr, err = freePort(); err != nil {
		return err
	}
	if s.client, err = api.NewClient("http://" + s.httpAddr); err != nil {
		return err
	}
	if s.daemonLog, err = os.OpenFile(filepath.Join(s.dir, "daemon.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		return err
	}
	d := s.opt.shareDiff
	cfg := map[string]any{
		"net": "private", "private_bits": s.opt.bits, "log_level": "warn",
		"stratum_tuning": map[string]any{
			"max_conns": 4096, "max_conns_per_ip": 4096, "requests_per_second": 1e6,
			"start_difficulty": d, "min_difficulty": d, "max_difficulty": d,
		},
		"broker": map[string]any{
			"pricing":          map[string]any{"min_work": float64(s.opt.orderShares) * d, "work_per_vbyte": 1e-15, "work_per_sat": 1e-18},
			"share_difficulty": d, "order_ttl": "24h0m0s", "confirmations": 1, "refresh_interval": "1s",
		},
	}
	raw, _ := json.MarshalIndent(cfg, "", "  ")
	s.cfgPath = filepath.Join(s.dir, "powbroker.json")
	return os.WriteFile(s.cfgPath, raw, 0o644)
}

// teardown stops a daemon still running and removes a temporary directory when all is
// well.
func (s *soak) teardown() {
	if s.daemon != nil {
		_ = s.daemon.Process.Kill()
		<-s.daemonDone
	}
	if s.daemonLog != nil {
		_ = s.daemonLog.Close()
	}
	if s.opt.dir == "" && len(s.sum.Problems) == 0 {
		_ = os.RemoveAll(s.dir)
	} else {
		s.sum.Dir = s.dir
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startDaemon runs powbroker serve and waits for its ready line.
func (s *soak) startDaemon(ctx context.Context) error {
	t0 := time.Now()
	cmd := exec.Command(s.opt.powbroker, "serve", "--config", s.cfgPath, "--datadir", s.datadir,
		"--http", s.httpAddr, "--stratum", s.stratumAddr)
	cmd.Stderr = s.daemonLog
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	// Binding the same ports again right after a kill may fail while the old sockets
	// close; try a few times.
	for attempt := 0; ; attempt++ {
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start powbroker: %w", err)
		}
		line, rerr := bufio.NewReader(stdout).ReadString('\n')
		var ready struct{ Ready bool }
		if rerr == nil && json.Unmarshal([]byte(line), &ready) == nil && ready.Ready {
			break
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if attempt >= 20 || ctx.Err() != nil {
			return fmt.Errorf("powbroker serve gave no ready line (see %s)", s.daemonLog.Name())
		}
		time.Sleep(250 * time.Millisecond)
		cmd = exec.Command(cmd.Path, cmd.Args[1:]...)
		cmd.Stderr = s.daemonLog
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return err
		}
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(done)
	}()
	first := s.daemonDone == nil
	s.daemon, s.daemonDone = cmd, done
	if !first {
		s.sum.addRestart(time.Since(t0))
	}
	return nil
}

// kill9 kills the daemon with SIGKILL and waits until it is gone.
func (s *soak) kill9() {
	_ = s.daemon.Process.Signal(syscall.SIGKILL)
	<-s.daemonDone
	s.daemon = nil
}

// cycles runs the daemon for random times, kills it, keeps a copy of the chain as the
// kill left it, restarts the daemon and checks.
func (s *soak) cycles(ctx context.Context) error {
	for cycle := 1; cycle <= s.opt.cycles; cycle++ {
		up := s.opt.minUp + time.Duration(s.rng.Int64N(int64(s.opt.maxUp-s.opt.minUp)+1))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(up):
		}
		killedAt := time.Now()
		s.kill9()
		snap := filepath.Join(s.dir, "chain-at-kill")
		if err := copyChain(s.datadir, snap); err != nil {
			return err
		}
		if err := s.startDaemon(ctx); err != nil {
			return err
		}
		c, err := s.check(ctx, snap, killedAt)
		if err != nil {
			return err
		}
		_ = os.RemoveAll(snap)
		c.Cycle, c.UpSeconds = cycle, up.Seconds()
		s.sum.addCycle(c)
		if !s.opt.json {
			fmt.Println(c.line())
		}
	}
	return nil
}

// session keeps one miner of kind busy: an order, a powminer on it until the broker says
// it needs no more work, then the next order; a miner that failed (the daemon was down
// too long) is started again on the same order.
func (s *soak) session(ctx context.Context, kind string) {
	var o *soakOrder
	for ctx.Err() == nil {
		s.mu.Lock()
		stopping := s.stopping
		s.mu.Unlock()
		if o == nil || o.complete {
			if stopping {
				return
			}
			var err error
			if o, err = s.newOrder(ctx); err != nil {
				if ctx.Err() == nil {
					s.log.Info("new order", "err", err) // the daemon is down
					sleep(ctx, 500*time.Millisecond)
				}
				continue
			}
		}
		if err := s.mine(ctx, kind, o); err != nil && ctx.Err() == nil {
			s.log.Info("miner ended", "kind", kind, "order", o.id, "err", err)
			sleep(ctx, 200*time.Millisecond)
		}
	}
}

// newOrder asks the faucet for a zero-fee transaction and orders it (the idempotency
// key makes a retried order the same order).
func (s *soak) newOrder(ctx context.Context) (*soakOrder, error) {
	var f *api.FaucetResponse
	if err := s.call(ctx, func() (err error) { f, err = s.client.Faucet(ctx, 100_000, 0); return err }); err != nil {
		return nil, fmt.Errorf("faucet: %w", err)
	}
	var r *api.CreateResponse
	if err := s.call(ctx, func() (err error) { r, err = s.client.CreateOrder(ctx, f.Tx, "soak-"+f.Txid); return err }); err != nil {
		return nil, fmt.Errorf("order: %w", err)
	}
	o := &soakOrder{id: r.ID, token: r.Token, txid: f.Txid}
	s.mu.Lock()
	s.orders = append(s.orders, o)
	s.sum.OrdersCreated++
	s.mu.Unlock()
	return o, nil
}

// call runs an HTTP request again while the daemon is down (a transport error, for
// 20 s at most) or asks to slow down.
func (s *soak) call(ctx context.Context, req func() error) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := req()
		var p *api.Problem
		wait := 250 * time.Millisecond
		switch {
		case err == nil:
			return nil
		case errors.As(err, &p) && p.Type == "slow-down":
			wait = max(wait, time.Duration(p.RetryAfter)*time.Second)
		case errors.As(err, &p) && p.Type != "not-ready":
			return err
		}
		if time.Now().After(deadline) || !sleep(ctx, wait) {
			return err
		}
	}
}

// mine runs one powminer on o until it exits.
func (s *soak) mine(ctx context.Context, kind string, o *soakOrder) error {
	s.mu.Lock()
	s.nextLog++
	lf := &shareLogFile{path: filepath.Join(s.dir, fmt.Sprintf("shares-%05d-%s.log", s.nextLog, kind))}
	o.logs = append(o.logs, lf)
	s.mu.Unlock()
	var args []string
	if kind == "stratum" {
		args = []string{"stratum", "--url", "stratum+tcp://" + s.stratumAddr, "--user", o.token, "--threads", "1", "--json"}
	} else {
		args = []string{"api", "--api", "http://" + s.httpAddr, "--order", o.id, "--token", o.token, "--threads", "1", "--json", "--quiet"}
	}
	cmd := exec.CommandContext(ctx, s.opt.powminer, append(args, "--share-log", lf.path)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if _, err := cmd.Output(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return err
	}
	// Exit 0: the broker said the order is paid or mined.
	s.mu.Lock()
	o.complete = true
	s.mu.Unlock()
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
