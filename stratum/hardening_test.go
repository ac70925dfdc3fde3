package stratum_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofow/powbroker/stratum"
)

// TestBanList: a source that keeps sending garbage, or shares that are not shares, is
// banned: its sessions are told and closed, its new connections refused, other
// sources are not touched, and the ban expires.
func TestBanList(t *testing.T) {
	tests := []struct {
		name    string
		offend  func(c *conn, token string)
		strikes int
	}{
		{"garbage lines", func(c *conn, token string) { c.write("this is not json\n") }, 3},
		{"low-difficulty shares", func(c *conn, token string) { c.submit(token, c.findLow(c.last()), false) }, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testStratumConfig()
			cfg.BanThreshold, cfg.BanWindow, cfg.BanDuration = tc.strikes, time.Minute, 1500*time.Millisecond
			e := newEnv(t, envOpts{stratum: cfg})
			o := e.newOrder(0)
			other := dialAddr(t, e.addr, "127.0.0.2")
			other.handshake(o.token)
			bystander := e.dial() // same IP, behaves
			bystander.handshake(o.token)
			bad := e.dial()
			bad.handshake(o.token)
			for range tc.strikes {
				tc.offend(bad, o.token)
			}
			if !bad.waitClosed(5 * time.Second) {
				t.Fatal("the offending session stays open")
			}
			if m := bystander.waitMethod("client.show_message"); !strings.Contains(string(m.Params[0]), "banned") {
				t.Fatalf("the other session of the banned IP was told %s", m.raw)
			}
			if !bystander.waitClosed(5 * time.Second) {
				t.Fatal("the banned IP's other session stays open")
			}
			again := e.dial()
			if !again.waitClosed(2 * time.Second) {
				t.Fatal("a new connection of the banned IP was admitted")
			}
			healthy(t, other, o.token) // another source is not touched
			st := e.srv.Stats()
			if st.Banned != 1 || st.Bans != 1 || st.RefusedBanned < 1 {
				t.Fatalf("stats after the ban: %+v", st)
			}
			time.Sleep(cfg.BanDuration)
			back := e.dial()
			back.handshake(o.token)
			healthy(t, back, o.token)
			deadline := time.Now().Add(5 * time.Second)
			for e.srv.Stats().Banned != 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if st := e.srv.Stats(); st.Banned != 0 || st.Bans != 1 {
				t.Fatalf("stats after the ban expired: %+v", st)
			}
		})
	}
}

// jobFeed is a fuzzPool whose jobs the test publishes.
type jobFeed struct {
	*fuzzPool
	jobs chan *stratum.Job
}

func (p *jobFeed) Jobs() (<-chan *stratum.Job, func()) { return p.jobs, func() {} }

func newJobFeed() *jobFeed {
	p := &jobFeed{fuzzPool: &fuzzPool{}, jobs: make(chan *stratum.Job, 1)}
	p.jobs <- p.job(0)
	return p
}

// job returns the n-th job: a branch of 12 hashes makes each notify about 1 KiB.
func (p *jobFeed) job(n int) *stratum.Job {
	j := &stratum.Job{ID: fmt.Sprint("j", n), Coinb1: []byte{1, 2, 3}, Coinb2: []byte{4, 5},
		Version: 0x20000000, Bits: 0x1d00ffff, NTime: 0x5f000000 + uint32(n), Extranonce2Size: 4, NetDifficulty: 1}
	for i := range 12 {
		j.Branch = append(j.Branch, [32]byte{byte(i), byte(n)})
	}
	return j
}

// smallSendBuffers gives accepted connections an 8 KiB send buffer, as a real path
// to a miner has (on loopback the kernel would otherwise take megabytes).
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// serveFeed runs a server over the feed on a loopback port.
func serveFeed(t *testing.T, p stratum.Pool, cfg stratum.Config) (*stratum.Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := smallSendBuffers{l}
	srv := stratum.NewServer(p, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv, ln.Addr().String()
}

// rawMiner subscribes and authorizes worker over a plain connection and waits for
// the authorize answer; readBuf sets the socket's receive buffer (0: default).
func rawMiner(t *testing.T, addr, worker string, readBuf int) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if readBuf > 0 {
		_ = c.(*net.TCPConn).SetReadBuffer(readBuf)
	}
	fmt.Fprintf(c, "{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n{\"id\":2,\"method\":\"mining.authorize\",\"params\":[%q,\"x\"]}\n", worker)
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("handshake of %s: %v", worker, err)
		}
		if strings.HasPrefix(line, `{"id":2,`) {
			if !strings.Contains(line, `"result":true`) {
				t.Fatalf("authorize of %s: %s", worker, line)
			}
			return c, r
		}
	}
}

// TestMinerThatStopsReading: a miner that stops reading is disconnected once what
// waits for it passes MaxQueuedBytes; a miner that reads keeps its session.
func TestMinerThatStopsReading(t *testing.T) {
	feed := newJobFeed()
	cfg := stratum.DefaultConfig()
	cfg.OutboxSize, cfg.WriteTimeout = 100_000, time.Minute // only the byte bound acts
	cfg.Logger = quiet()
	srv, addr := serveFeed(t, feed, cfg)
	_, _ = rawMiner(t, addr, "good", 4<<10) // then never reads again
	reader, rr := rawMiner(t, addr, "good", 0)
	go func() {
		_ = reader.SetReadDeadline(time.Time{})
		for {
			if _, err := rr.ReadString('\n'); err != nil {
				return
			}
		}
	}()
	// Up to 5 MiB of notifies for each session, one a millisecond: far more than
	// the socket buffers and MaxQueuedBytes hold.
	for n := 1; n <= 5000 && srv.Stats().Dropped == 0; n++ {
		feed.jobs <- feed.job(n)
		time.Sleep(time.Millisecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().Dropped == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := srv.Stats(); st.Dropped != 1 || st.Sessions != 1 {
		t.Fatalf("after the jobs to a miner that does not read: %+v (want it alone dropped)", st)
	}
	fmt.Fprintf(reader, "{\"id\":9,\"method\":\"mining.extranonce.subscribe\",\"params\":[]}\n")
	time.Sleep(100 * time.Millisecond)
	if st := srv.Stats(); st.Sessions != 1 {
		t.Fatalf("the reading miner lost its session: %+v", st)
	}
}

// dbPool serializes its calls on one FIFO slot, as a pool backed by one database
// writer: authorize holds it for 3 ms, a submit for a moment. It records how many
// authorizes at most stood in the queue ahead of a submit.
type dbPool struct {
	*jobFeed
	db        chan struct{}
	authQueue atomic.Int64
	maxAhead  atomic.Int64
}

func (p *dbPool) use(d time.Duration) {
	p.db <- struct{}{}
	time.Sleep(d)
	<-p.db
}

func (p *dbPool) Authorize(ctx context.Context, token string) (stratum.Account, error) {
	p.authQueue.Add(1)
	p.db <- struct{}{}
	p.authQueue.Add(-1)
	time.Sleep(3 * time.Millisecond)
	<-p.db
	return p.fuzzPool.Authorize(ctx, token)
}

func (p *dbPool) Submit(ctx context.Context, s stratum.Share) (stratum.Accepted, error) {
	if n := p.authQueue.Load(); n > p.maxAhead.Load() {
		p.maxAhead.Store(n)
	}
	p.use(100 * time.Microsecond)
	return stratum.Accepted{Difficulty: s.Difficulty, Account: stratum.Account{ID: s.Account, Working: true}}, nil
}

// TestReconnectStorm: while 300 miners connect at once (as after a restart), an
// established miner's submits wait behind at most MaxHandshakes of the newcomers'
// pool calls (without the slots, behind nearly all of them: p90 1.6 s here), and
// every newcomer gets in.
func TestReconnectStorm(t *testing.T) {
	pool := &dbPool{jobFeed: newJobFeed(), db: make(chan struct{}, 1)}
	cfg := stratum.DefaultConfig()
	cfg.Logger, cfg.MaxHandshakes = quiet(), 4
	_, addr := serveFeed(t, pool, cfg)
	est, er := rawMiner(t, addr, "good", 0)
	jobID := ""
	for jobID == "" {
		line, err := er.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Method == "mining.notify" {
			_ = json.Unmarshal(m.Params[0], &jobID)
		}
	}

	const storm = 300
	var wg sync.WaitGroup
	admitted := make(chan struct{}, storm)
	for range storm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = rawMiner(t, addr, "good", 0)
			admitted <- struct{}{}
		}()
	}
	var lat []time.Duration
	stormDone := make(chan struct{})
	go func() { wg.Wait(); close(stormDone) }()
	for i := 0; ; i++ {
		select {
		case <-stormDone:
		default:
			start := time.Now()
			fmt.Fprintf(est, "{\"id\":%d,\"method\":\"mining.submit\",\"params\":[\"good\",%q,\"00000000\",\"5f000000\",\"%08x\"]}\n", 100+i, jobID, i*5)
			want := fmt.Sprintf(`{"id":%d,`, 100+i)
			for {
				line, err := er.ReadString('\n')
				if err != nil {
					t.Fatalf("established miner: %v", err)
				}
				if strings.HasPrefix(line, want) {
					break
				}
			}
			lat = append(lat, time.Since(start))
			time.Sleep(5 * time.Millisecond)
			continue
		}
		break
	}
	if len(admitted) != storm {
		t.Fatalf("%d of %d newcomers got in", len(admitted), storm)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p90 := lat[len(lat)*9/10]
	t.Logf("established miner during the storm: %d submits, median %s, p90 %s, max %s; at most %d authorizes queued ahead of one",
		len(lat), lat[len(lat)/2], p90, lat[len(lat)-1], pool.maxAhead.Load())
	if len(lat) < 3 {
		t.Fatalf("only %d submits during the storm", len(lat))
	}
	if n := pool.maxAhead.Load(); n > int64(cfg.MaxHandshakes) {
		t.Fatalf("a submit of the established miner waited behind %d authorizes of newcomers (slots: %d)", n, cfg.MaxHandshakes)
	}
}
