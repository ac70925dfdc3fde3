package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/cmd/internal/apiworker"
)

// finish lets the miners complete their orders, then mines blocks until every order is
// mined.
func (s *soak) finish(ctx context.Context, sessions *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { sessions.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(3 * time.Minute):
		s.sum.problem("the miners did not complete their orders within 3 minutes of the last cycle")
		return nil
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		waiting, err := s.waitingOrders(ctx)
		if err != nil {
			return err
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			s.sum.problem("%d orders are not mined 3 minutes after the last cycle, e.g. %s", len(waiting), waiting[0])
			return nil
		}
		if err := s.mineBlock(ctx); err != nil {
			s.log.Warn("final block", "err", err)
			sleep(ctx, time.Second)
		}
	}
}

// waitingOrders lists the orders not mined yet, as the daemon tells them.
func (s *soak) waitingOrders(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	orders := append([]*soakOrder(nil), s.orders...)
	s.mu.Unlock()
	var out []string
	for _, o := range orders {
		var got *api.Order
		if err := s.call(ctx, func() (err error) { got, err = s.client.Order(ctx, o.id, o.token); return err }); err != nil {
			return nil, fmt.Errorf("order %s: %w", o.id, err)
		}
		switch got.State {
		case "mined", "confirmed":
		case "working", "paid":
			out = append(out, o.id)
		default:
			return nil, fmt.Errorf("order %s ended %s: %s", o.id, got.State, got.Reason)
		}
	}
	return out, nil
}

// mineBlock orders one more transaction and has a block found for it, which carries
// every order waiting for one.
func (s *soak) mineBlock(ctx context.Context) error {
	o, err := s.newOrder(ctx)
	if err != nil {
		return err
	}
	hash, err := apiworker.MineBlock(ctx, s.client, o.id, o.token)
	if err == nil {
		s.log.Info("final block", "hash", hash)
	}
	return err
}

// finalCheck stops the daemon cleanly and checks everything on the data directory:
// every acknowledged share, every order whole and mined, every block found on the
// main chain.
func (s *soak) finalCheck(ctx context.Context) error {
	_ = s.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.daemonDone:
		if code := s.daemon.ProcessState.ExitCode(); code != 0 {
			s.sum.problem("powbroker serve exited %d after SIGTERM", code)
		}
	case <-time.After(30 * time.Second):
		s.sum.problem("powbroker serve did not stop within 30 s of SIGTERM")
		_ = s.daemon.Process.Kill()
		<-s.daemonDone
	}
	s.daemon = nil
	s.final = true
	c, err := s.check(ctx, s.datadir, time.Now())
	if err != nil {
		return err
	}
	s.sum.addFinal(c)
	return nil
}

// summary is powsoak's result.
type summary struct {
	Cycles             int          `json:"cycles"`
	Seconds            float64      `json:"seconds"`
	LoadSeconds        float64      `json:"load_seconds"`
	StratumSessions    int          `json:"stratum_sessions"`
	APISessions        int          `json:"api_sessions"`
	SharesAcknowledged int64        `json:"shares_acknowledged"`
	SharesLost         int64        `json:"shares_lost"`
	SharesPerSecond    float64      `json:"shares_per_second"`
	OrdersCreated      int          `json:"orders_created"`
	OrdersCompleted    int          `json:"orders_completed"`
	BlocksFound        int          `json:"blocks_found"`
	Restarts           int          `json:"restarts"`
	RestartSecondsMax  float64      `json:"restart_seconds_max"`
	Seed               uint64       `json:"seed"`
	Dir                string       `json:"dir,omitempty"`
	Problems           []string     `json:"problems"`
	PerCycle           []cycleCheck `json:"per_cycle"`

	mu sync.Mutex
}

func newSummary(opt options) *summary {
	return &summary{StratumSessions: opt.stratumSessions, APISessions: opt.apiSessions, Seed: opt.seed, Problems: []string{}}
}

func (m *summary) problem(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Problems = append(m.Problems, fmt.Sprintf(format, args...))
}

func (m *summary) addRestart(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Restarts++
	m.RestartSecondsMax = max(m.RestartSecondsMax, d.Seconds())
}

func (m *summary) addCycle(c *cycleCheck) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Cycles++
	m.SharesAcknowledged += c.Acked
	m.SharesLost += c.Lost
	for _, p := range c.Problems {
		m.Problems = append(m.Problems, fmt.Sprintf("cycle %d: %s", c.Cycle, p))
	}
	m.PerCycle = append(m.PerCycle, *c)
}

func (m *summary) addFinal(c *cycleCheck) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.SharesAcknowledged += c.Acked
	m.SharesLost += c.Lost
	m.OrdersCompleted = c.completed
	m.BlocksFound = c.Blocks
	for _, p := range c.Problems {
		m.Problems = append(m.Problems, "final: "+p)
	}
}

// done computes the rates.
func (m *summary) done() {
	if m.LoadSeconds > 0 {
		m.SharesPerSecond = float64(m.SharesAcknowledged) / m.LoadSeconds
	}
}

func (m *summary) print(w io.Writer, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(m)
		fmt.Fprintln(w, string(b))
		return
	}
	verdict := "PASS"
	if len(m.Problems) > 0 || m.SharesLost > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s: %d cycles in %.1f s; %d shares acknowledged, %d lost (%.0f shares/s over %.1f s of load, %d+%d sessions); %d orders created, %d completed; %d blocks found; restart at most %.2f s; seed %d\n",
		verdict, m.Cycles, m.Seconds, m.SharesAcknowledged, m.SharesLost, m.SharesPerSecond, m.LoadSeconds,
		m.StratumSessions, m.APISessions, m.OrdersCreated, m.OrdersCompleted, m.BlocksFound, m.RestartSecondsMax, m.Seed)
	for _, p := range m.Problems {
		fmt.Fprintln(w, "  problem:", p)
	}
	if m.Dir != "" {
		fmt.Fprintln(w, "  files kept in", m.Dir)
	}
}
