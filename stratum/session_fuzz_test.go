package stratum_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofow/powbroker/stratum"
)

// fuzzPool is a small in-memory pool behind the real server for FuzzSession: tokens
// "good" and "slow" work, "paid" is refused as a finished account, "err" fails with an
// internal error, anything else is unknown; submits are judged by their nonce.
type fuzzPool struct {
	en1 atomic.Uint32
	job *stratum.Job
}

func (p *fuzzPool) Authorize(ctx context.Context, token string) (stratum.Account, error) {
	switch token {
	case "good", "slow":
		return stratum.Account{ID: token, State: "working", Working: true}, nil
	case "paid":
		return stratum.Account{ID: token, State: "paid", Message: "the order is paid"}, nil
	case "err":
		return stratum.Account{}, errors.New("store unavailable")
	}
	return stratum.Account{}, stratum.Errorf(stratum.CodeUnauthorized, "unknown token")
}

func (p *fuzzPool) Extranonce1(ctx context.Context) ([]byte, error) {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, p.en1.Add(1))
	return b, nil
}

func (p *fuzzPool) Jobs() (<-chan *stratum.Job, func()) {
	ch := make(chan *stratum.Job, 1)
	ch <- p.job
	return ch, func() {}
}

func (p *fuzzPool) Submit(ctx context.Context, s stratum.Share) (stratum.Accepted, error) {
	if s.Account == "slow" {
		time.Sleep(time.Millisecond)
	}
	switch s.Nonce % 5 {
	case 0:
		return stratum.Accepted{Difficulty: s.Difficulty, Account: stratum.Account{ID: s.Account, Working: true}}, nil
	case 1:
		return stratum.Accepted{}, stratum.Errorf(stratum.CodeLowDifficulty, "low difficulty share")
	case 2:
		return stratum.Accepted{}, stratum.Errorf(stratum.CodeDuplicate, "duplicate share")
	case 3:
		return stratum.Accepted{}, errors.New("disk full")
	}
	// The account became paid with this share.
	return stratum.Accepted{Difficulty: s.Difficulty, Account: stratum.Account{ID: s.Account, Message: "paid"}}, nil
}

func (p *fuzzPool) AccountChanged(id string) <-chan struct{} { return make(chan struct{}) }

// pipeListener hands the server in-memory connections.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "fuzz", Net: "pipe"} }

func (l *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

// sessionProgram turns fuzz bytes into request lines. Requests that want an answer
// get ids "q<n>"; the rest are notifications (id null) or garbage.
type sessionProgram struct {
	data  []byte
	lines []string
	ids   map[string]bool
}

func (p *sessionProgram) next() byte {
	if len(p.data) == 0 {
		return 0
	}
	b := p.data[0]
	p.data = p.data[1:]
	return b
}

func (p *sessionProgram) hex4() string {
	return fmt.Sprintf("%02x%02x%02x%02x", p.next(), p.next(), p.next(), p.next())
}

func (p *sessionProgram) request(method string, params ...any) {
	raw, _ := json.Marshal(params)
	id := "null"
	if p.next()%8 != 0 {
		n := "q" + strconv.Itoa(len(p.lines))
		p.ids[n] = true
		id = strconv.Quote(n)
	}
	p.lines = append(p.lines, fmt.Sprintf(`{"id":%s,"method":%q,"params":%s}`, id, method, raw))
}

var fuzzWorkers = []string{"good", "good.rig", "slow", "paid", "err", "nope", "", strings.Repeat("w", 300)}

// build decodes the program: one op per byte, operands from the following bytes.
func (p *sessionProgram) build() {
	for len(p.data) > 0 && len(p.lines) < 300 {
		switch op := p.next() % 10; op {
		case 0:
			exts := []any{}
			for i, e := range []string{"version-rolling", "minimum-difficulty", "subscribe-extranonce", "info"} {
				if p.next()&(1<<i) != 0 {
					exts = append(exts, e)
				}
			}
			opts := map[string]any{"version-rolling.mask": p.hex4(), "minimum-difficulty.value": float64(p.next()) / 16}
			if p.next()%4 == 0 {
				opts["version-rolling.mask"] = 5
			}
			p.request("mining.configure", exts, opts)
		case 1:
			if p.next()%2 == 0 {
				p.request("mining.subscribe", "fuzz/1.0", "0000000"+strconv.Itoa(int(p.next()%4)))
			} else {
				p.request("mining.subscribe")
			}
		case 2:
			p.request("mining.authorize", fuzzWorkers[int(p.next())%len(fuzzWorkers)], "x,d="+strconv.Itoa(int(p.next())))
		case 3, 4:
			w := fuzzWorkers[int(p.next())%4]
			params := []any{w, strconv.FormatUint(uint64(p.next()%6), 16), p.hex4(), p.hex4(), p.hex4()}
			if b := p.next(); b%3 == 0 {
				params = append(params, p.hex4())
			} else if b%7 == 1 {
				params = params[:3]
			}
			p.request("mining.submit", params...)
		case 5:
			p.request("mining.suggest_difficulty", float64(p.next())/8-1)
		case 6:
			p.request("mining.extranonce.subscribe")
		case 7:
			p.request("mining.unknown", p.next())
		default:
			n := int(p.next() % 80)
			var g []byte
			for range n {
				c := p.next()
				if c == '\n' || c == 'q' {
					c = ' '
				}
				g = append(g, c)
			}
			p.lines = append(p.lines, string(g))
		}
	}
}

// FuzzSession drives whole sessions against the real server code over an in-memory
// connection: any order of configure, subscribe, authorize, submit, notifications and
// garbage. Every line the server sends must be one JSON object, every request with an
// id must get exactly one answer carrying that id, and nothing may panic or hang.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"\x01\x00\x02\x00\x05\x03\x00\x01\x00\x00\x00\x00\x5f\x00\x00\x00\x00\x00\x00\x00\x00\x01",
		"\x00\x07\x1f\xff\xe0\x00\x10\x01\x01\x01\x02\x00\x01\x03\x00\x01\x00\x00\x00\x01\x01\x01\x01\x01\x02\x03\x04\x05\x06\x07\x08\x00",
		"\x09\x10{\"id\":1}\x09\x05\x00\x00\x00\x00\x00\x06\x07\x05\x08",
		"\x02\x02\x09\x01\x01\x01\x03\x02\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00",
		"\x03\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\x02\x00\x05\x05\x05",
	} {
		f.Add([]byte(s))
	}
	cfg := stratum.DefaultConfig()
	cfg.RequestsPerSecond, cfg.RequestBurst, cfg.MaxBadLines = 1e9, 1<<30, 1<<30
	cfg.MaxInFlight = 4
	// Every fuzzed session comes from the same pipe "address": the ban list would ban
	// it after enough garbage (and then close new sessions at once, which is right but
	// not what this target checks), and the accept rate would pace the fuzzer.
	cfg.BanThreshold, cfg.AcceptRate = -1, 1e9
	// A program pipelines up to 300 requests (a few messages each) without waiting; on
	// a starved machine the reader can fall behind the 256-message outbox, and the
	// server then rightly drops the slow reader (TestMinerThatStopsReading checks that).
	cfg.OutboxSize, cfg.MaxQueuedBytes = 1<<14, 16<<20
	cfg.StartDifficulty, cfg.MinDifficulty = 1e-6, 1e-9
	cfg.Logger = quiet()
	pool := &fuzzPool{job: &stratum.Job{ID: "j1", Coinb1: []byte{1, 2, 3}, Coinb2: []byte{4, 5},
		Version: 0x20000000, Bits: 0x1d00ffff, NTime: 0x5f000000, Extranonce2Size: 4, Clean: true, NetDifficulty: 1}}
	srv := stratum.NewServer(pool, cfg)
	ln := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ctx, ln)
	}()
	f.Cleanup(func() {
		cancel()
		<-served
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &sessionProgram{data: data, ids: map[string]bool{}}
		p.build()
		runSession(t, ln.dial(), p)
	})
}

// runSession writes the program's lines and checks the answers.
func runSession(t *testing.T, c net.Conn, p *sessionProgram) {
	defer c.Close()
	var mu sync.Mutex
	answers := map[string]int{}
	allIn := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(c, 64<<10)
		signalled := len(p.ids) == 0
		if signalled {
			close(allIn)
		}
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				readErr <- err
				return
			}
			var m struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
			}
			if err := json.Unmarshal(line, &m); err != nil {
				readErr <- fmt.Errorf("the server sent a line that is not JSON: %q", line)
				return
			}
			var id string
			if json.Unmarshal(m.ID, &id) != nil || !strings.HasPrefix(id, "q") {
				continue // a notification, or the answer to a garbage line's own id
			}
			mu.Lock()
			answers[id]++
			n := len(answers)
			mu.Unlock()
			if !p.ids[id] {
				readErr <- fmt.Errorf("an answer for id %q, which was never sent (or sent without wanting one)", id)
				return
			}
			if !signalled && n == len(p.ids) {
				signalled = true
				close(allIn)
			}
		}
	}()
	go func() {
		w := bufio.NewWriter(c)
		for _, l := range p.lines {
			if _, err := w.WriteString(l + "\n"); err != nil {
				return
			}
		}
		_ = w.Flush()
	}()
	select {
	case <-allIn:
	case err := <-readErr:
		t.Fatalf("the session ended before every request was answered: %v\nprogram:\n%s", err, strings.Join(p.lines, "\n"))
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		for id := range p.ids {
			if answers[id] == 0 {
				t.Fatalf("request %s was never answered\nprogram:\n%s", id, strings.Join(p.lines, "\n"))
			}
		}
	}
	// Late duplicates (submits are checked concurrently) get a moment to show.
	time.Sleep(2 * time.Millisecond)
	select {
	case err := <-readErr:
		t.Fatalf("after all answers: %v", err)
	default:
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range answers {
		if n != 1 {
			t.Fatalf("request %s got %d answers\nprogram:\n%s", id, n, strings.Join(p.lines, "\n"))
		}
	}
}
