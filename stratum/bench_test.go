package stratum_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/miner"
	"github.com/proofow/powbroker/stratum"
)

// The load generator runs in a child process (this test binary started again with
// loadgenEnv set), so that its CPU time is measured apart from the server's.
const loadgenEnv = "STRATUM_LOADGEN"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(loadgenEnv); cfg != "" {
		if err := runLoadgen(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// loadgenConfig is what the benchmark tells the generator.
type loadgenConfig struct {
	Addr     string   `json:"addr"`
	Tokens   []string `json:"tokens"`
	Sessions int      `json:"sessions"`
	Shares   int64    `json:"shares"`
	Window   int      `json:"window"` // submits in flight per session
	IPs      int      `json:"ips"`    // source addresses 127.0.0.2 ...
}

// loadgenResult is what the generator reports.
type loadgenResult struct {
	Accepted int64   `json:"accepted"`
	Rejected int64   `json:"rejected"`
	Seconds  float64 `json:"seconds"`  // first submit to last reply
	CPU      float64 `json:"cpu"`      // generator CPU seconds in that time
	Connect  float64 `json:"connect"`  // seconds to connect and handshake every session
	Blocks   int64   `json:"skipped"`  // hashes that met the network target (not submitted)
	Errors   string  `json:"errors"`   // first rejection
	Latency  float64 `json:"latency"`  // mean submit-to-reply seconds
	Sessions int     `json:"sessions"` // sessions that completed the handshake
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// genSession is one generator connection: a job to scan, a writer keeping Window
// submits in flight, a reader counting the replies.
type genSession struct {
	c       net.Conn
	r       *bufio.Reader
	token   string
	jobID   string
	prefix  []byte // the submit line up to the nonce
	hdr     miner.Header
	mid     miner.Midstate
	target  miner.Target
	netT    miner.Target
	nonce   uint32
	skipped int64
}

func (g *genSession) handshake(token string) error {
	g.token = token
	w := func(s string) error { _, err := g.c.Write([]byte(s + "\n")); return err }
	if err := w(`{"id":1,"method":"mining.subscribe","params":["loadgen"]}`); err != nil {
		return err
	}
	if err := w(`{"id":2,"method":"mining.authorize","params":["` + token + `","x"]}`); err != nil {
		return err
	}
	var en1 []byte
	diff := 0.0
	var n *stratum.Notify
	for n == nil {
		line, err := g.r.ReadBytes('\n')
		if err != nil {
			return err
		}
		var m struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
			Result json.RawMessage   `json:"result"`
		}
		if err := json.Unmarshal(line, &m); err != nil {
			return err
		}
		switch {
		case string(m.ID) == "1":
			var res []json.RawMessage
			var s string
			if json.Unmarshal(m.Result, &res) != nil || len(res) < 2 || json.Unmarshal(res[1], &s) != nil {
				return fmt.Errorf("subscribe: %s", line)
			}
			en1, _ = hex.DecodeString(s)
		case string(m.ID) == "2":
			if string(m.Result) != "true" {
				return fmt.Errorf("authorize: %s", line)
			}
		case m.Method == "mining.set_difficulty":
			_ = json.Unmarshal(m.Params[0], &diff)
		case m.Method == "mining.notify":
			if n, err = stratum.ParseNotify(m.Params); err != nil {
				return err
			}
		}
	}
	en2 := []byte{0, 0, 0, 0}
	g.jobID = n.JobID
	g.hdr = miner.Header(n.Header(en1, en2, n.Version, n.NTime, 0))
	g.mid = miner.NewMidstate(&g.hdr)
	g.target = miner.TargetFromBig(chain.DifficultyTarget(diff))
	g.netT = miner.TargetFromBig(blockchain.CompactToBig(n.Bits))
	g.prefix = []byte(`","method":"mining.submit","params":["` + token + `","` + n.JobID + `","00000000","` + stratum.Hex32(n.NTime) + `","`)
	return nil
}

// next finds the next share that is not a block.
func (g *genSession) next() uint32 {
	for {
		g.nonce++
		g.hdr.SetNonce(g.nonce)
		sum := g.mid.Sum(&g.hdr)
		if !g.target.Meets(&sum) {
			continue
		}
		if g.netT.Meets(&sum) {
			g.skipped++
			continue
		}
		return g.nonce
	}
}

func runLoadgen(raw string) error {
	var cfg loadgenConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	start := time.Now()
	sessions := make([]*genSession, cfg.Sessions)
	var wg sync.WaitGroup
	errc := make(chan error, cfg.Sessions)
	sem := make(chan struct{}, 64)
	for i := range sessions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%cfg.IPs))}, Timeout: 10 * time.Second}
			c, err := d.Dial("tcp", cfg.Addr)
			if err != nil {
				errc <- err
				return
			}
			g := &genSession{c: c, r: bufio.NewReaderSize(c, 8192)}
			if err := g.handshake(cfg.Tokens[i%len(cfg.Tokens)]); err != nil {
				errc <- err
				return
			}
			sessions[i] = g
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	res := loadgenResult{Connect: time.Since(start).Seconds(), Sessions: len(sessions)}
	fmt.Fprintln(out, "START")
	out.Flush()
	var remaining atomic.Int64
	remaining.Store(cfg.Shares)
	var accepted, rejected, latencyNs atomic.Int64
	var firstErr atomic.Value
	cpu0 := cpuSeconds()
	t0 := time.Now()
	for _, g := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer g.c.Close()
			slots := make(chan struct{}, cfg.Window)
			sent := make(chan time.Time, cfg.Window)
			done := make(chan struct{})
			go func() { // reader
				defer close(done)
				for {
					line, err := g.r.ReadSlice('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(string(line), `{"id":null,"method"`) {
						continue // a notification
					}
					if !strings.HasPrefix(string(line), `{"id":"s`) {
						rejected.Add(1) // not a reply to a submit: garbled
						firstErr.CompareAndSwap(nil, string(line))
					}
					latencyNs.Add(int64(time.Since(<-sent)))
					if strings.Contains(string(line), `"result":true`) {
						accepted.Add(1)
					} else {
						rejected.Add(1)
						firstErr.CompareAndSwap(nil, string(line))
					}
					<-slots
				}
			}()
			w := bufio.NewWriterSize(g.c, 4096)
			buf := make([]byte, 0, 256)
			id := 0
			for remaining.Add(-1) >= 0 {
				select {
				case slots <- struct{}{}:
				default:
					_ = w.Flush()
					select {
					case slots <- struct{}{}:
					case <-done:
						return
					}
				}
				nonce := g.next()
				id++
				buf = append(buf[:0], `{"id":"s`...)
				buf = strconv.AppendInt(buf, int64(id), 10)
				buf = append(buf, g.prefix...)
				buf = append(buf, stratum.Hex32(nonce)...)
				buf = append(buf, "\"]}\n"...)
				sent <- time.Now()
				_, _ = w.Write(buf)
			}
			_ = w.Flush()
			for range cfg.Window { // wait for the replies
				select {
				case slots <- struct{}{}:
				case <-done:
					return
				}
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(t0).Seconds()
	res.CPU = cpuSeconds() - cpu0
	res.Accepted, res.Rejected = accepted.Load(), rejected.Load()
	if n := res.Accepted + res.Rejected; n > 0 {
		res.Latency = time.Duration(latencyNs.Load() / n).Seconds()
	}
	for _, g := range sessions {
		res.Blocks += g.skipped
	}
	if e, ok := firstErr.Load().(string); ok {
		res.Errors = e
	}
	b, _ := json.Marshal(res)
	fmt.Fprintln(out, string(b))
	return nil
}

// BenchmarkStratumShares measures accepted shares per second through the whole
// Stratum path (parse, rebuild, hash, dedupe, durable write, reply) with 1,000
// sessions on loopback, spread over 10 source addresses, each keeping 8 (or 1)
// submits in flight. The generator is a child process; its CPU time is reported next to the
// server's. Every accepted share is durable before its reply (SubmitWork returns
// after the group commit), and the store's share count is checked against the
// accepted count. Run: go test -run '^$' -bench StratumShares -benchtime 200000x ./stratum/
func BenchmarkStratumShares(b *testing.B) {
	for _, window := range []int{8, 1} {
		b.Run(fmt.Sprintf("sessions=1000/window=%d", window), func(b *testing.B) { benchShares(b, window) })
	}
}

func benchShares(b *testing.B, window int) {
	const sessions, ips = 1000, 10
	cfg := testStratumConfig()
	d := 1.0 / (1 << 30) // about 4 hashes per share
	cfg.StartDifficulty, cfg.MinDifficulty, cfg.MaxDifficulty = d, d, d
	cfg.RequestsPerSecond, cfg.RequestBurst = 1e6, 1e6
	cfg.MaxInFlight, cfg.OutboxSize = window, 4*window
	cfg.MaxConnsPerIP = 2 * sessions
	bcfg := testBrokerConfig()
	bcfg.Pricing = broker.Pricing{MinWork: 1e12}
	e := newEnv(b, envOpts{bits: 0x1e00ffff, broker: bcfg, stratum: cfg})
	var tokens []string
	for range 10 {
		tokens = append(tokens, e.newOrder(0).token)
	}
	ctx := context.Background()
	before, err := e.store.ShareStats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	lc, _ := json.Marshal(loadgenConfig{Addr: e.addr, Tokens: tokens, Sessions: sessions, Shares: int64(b.N), Window: window, IPs: ips})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), loadgenEnv+"="+string(lc))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	b.ResetTimer()
	var res loadgenResult
	var srvCPU, wall float64
	for sc.Scan() {
		line := sc.Text()
		if line == "START" {
			b.ResetTimer()
			srvCPU = cpuSeconds()
			wall = float64(time.Now().UnixNano()) / 1e9
			continue
		}
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			b.Fatalf("generator said %q", line)
		}
	}
	b.StopTimer()
	srvCPU = cpuSeconds() - srvCPU
	wall = float64(time.Now().UnixNano())/1e9 - wall
	if err := cmd.Wait(); err != nil {
		b.Fatalf("generator: %v", err)
	}
	after, err := e.store.ShareStats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if res.Rejected != 0 || res.Accepted != int64(b.N) || after-before != res.Accepted {
		b.Fatalf("accepted %d, rejected %d (first: %s), stored %d, want %d of each", res.Accepted, res.Rejected, res.Errors, after-before, b.N)
	}
	b.ReportMetric(float64(res.Accepted)/res.Seconds, "shares/s")
	b.ReportMetric(srvCPU/wall, "server-cores")
	b.ReportMetric(res.CPU/res.Seconds, "gen-cores")
	b.ReportMetric(res.Latency*1e3, "ms/reply")
	b.ReportMetric(float64(res.Sessions), "sessions")
	b.Logf("N=%d: %.0f shares/s in %.2f s; server %.2f cores, generator %.2f cores; mean reply %.1f ms; connect %.2f s; stored %d; store %+v",
		b.N, float64(res.Accepted)/res.Seconds, res.Seconds, srvCPU/wall, res.CPU/res.Seconds, res.Latency*1e3, res.Connect, after-before, e.store.Stats())
}
