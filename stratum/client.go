package stratum

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/miner"
)

// MinerOptions configure Mine.
type MinerOptions struct {
	URL       string // stratum+tcp://HOST:PORT, or several comma-separated (failover)
	User      string // worker name (for powbroker: the order token)
	Password  string
	UserAgent string
	Kernel    miner.Kernel // nil = miner.Best()
	Threads   int          // 0 = 1
	// Stop is asked about every client.show_message and every error 24 message; when
	// it says stop, Mine returns its error (nil for a normal end).
	Stop func(message string) (stop bool, err error)
	// OnShare, when set, sees the pool's answer to every submitted share.
	OnShare    func(ShareResult)
	MaxBackoff time.Duration // between reconnects (default 30 s)
	Logger     *slog.Logger
}

// ShareResult is the pool's answer to one submitted share.
type ShareResult struct {
	JobID string
	Hash  [32]byte // of the share's block header, internal byte order
	Code  int      // 0 = accepted, else the Stratum error code
	// Message is the pool's error text ("" when accepted).
	Message string
}

// MinerStats count what Mine did.
type MinerStats struct {
	Hashes     uint64
	Accepted   int
	Rejected   map[int]int // by error code
	Blocks     int
	Jobs       int
	Sessions   int // successful handshakes (1 + reconnects)
	Difficulty float64
	Extranonce []string // extranonce1 values used, in order
}

// ErrUnauthorized is returned when the server refuses the worker for good.
var ErrUnauthorized = errors.New("stratum: worker not authorized")

// errReconnect asks Mine to connect again at once (client.reconnect).
var errReconnect = errors.New("stratum: server asked to reconnect")

// Mine connects to a Stratum server and mines for the worker until ctx ends or Stop
// says so: it configures version rolling, subscribes (resuming its session after a
// reconnect), subscribes to extranonce changes, authorizes, follows set_difficulty,
// notify, set_extranonce and set_version_mask, rolls extranonce2, version bits and
// nonces, submits shares and reconnects with backoff.
func Mine(ctx context.Context, opt MinerOptions) (MinerStats, error) {
	st := MinerStats{Rejected: map[int]int{}}
	if opt.Kernel == nil {
		opt.Kernel = miner.Best()
	}
	opt.Threads = cmp.Or(max(opt.Threads, 0), 1)
	opt.MaxBackoff = cmp.Or(max(opt.MaxBackoff, 0), 30*time.Second)
	opt.UserAgent = cmp.Or(opt.UserAgent, "powminer/1")
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	addrs, err := ParseURLs(opt.URL)
	if err != nil {
		return st, err
	}
	m := &mineRun{opt: opt, addr: addrs[0], st: &st}
	next := 0
	backoff := 200 * time.Millisecond
	for {
		done, err := m.session(ctx)
		if done {
			return st, err
		}
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		if errors.Is(err, ErrUnauthorized) {
			return st, err
		}
		wait := backoff
		if errors.Is(err, errReconnect) {
			wait = 100 * time.Millisecond
		}
		if m.authorized {
			backoff = 200 * time.Millisecond
		} else {
			backoff = min(2*backoff, opt.MaxBackoff)
		}
		if len(addrs) > 1 { // fail over to the next server
			next = (next + 1) % len(addrs)
			m.addr = addrs[next]
		}
		opt.Logger.Warn("stratum connection lost, reconnecting", "err", err, "in", wait, "server", m.addr)
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// ParseURLs reads one or more comma-separated Stratum URLs (ParseURL); a miner fails
// over to the next one whenever its connection is lost.
func ParseURLs(s string) ([]string, error) {
	var out []string
	for _, u := range strings.Split(s, ",") {
		a, err := ParseURL(strings.TrimSpace(u))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// ParseURL reads stratum+tcp://HOST:PORT (or HOST:PORT) and returns HOST:PORT.
func ParseURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "stratum+tcp://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("stratum URL %q: %w", s, err)
	}
	if u.Scheme != "stratum+tcp" && u.Scheme != "tcp" {
		return "", fmt.Errorf("stratum URL %q: scheme must be stratum+tcp", s)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
		return "", fmt.Errorf("stratum URL %q: want stratum+tcp://HOST:PORT", s)
	}
	return u.Host, nil
}

type mineRun struct {
	opt        MinerOptions
	addr       string
	st         *MinerStats
	sessionID  string
	authorized bool
}

type clientMsg struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
	Result json.RawMessage   `json:"result"`
	Error  json.RawMessage   `json:"error"`
}

func (m *clientMsg) errInfo() (int, string) {
	if len(m.Error) == 0 || string(m.Error) == "null" {
		return 0, ""
	}
	var e []json.RawMessage
	if json.Unmarshal(m.Error, &e) != nil || len(e) < 2 {
		return CodeOther, string(m.Error)
	}
	var code int
	var msg string
	_ = json.Unmarshal(e[0], &code)
	_ = json.Unmarshal(e[1], &msg)
	return code, msg
}

// client is one connection: a reader goroutine feeds every line to msgs.
type client struct {
	c      net.Conn
	wmu    sync.Mutex
	msgs   chan *clientMsg
	nextID int
	err    error
}

func dialClient(ctx context.Context, addr string) (*client, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cl := &client{c: c, msgs: make(chan *clientMsg, 256), nextID: 1}
	go func() {
		defer close(cl.msgs)
		r := bufio.NewReaderSize(c, 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				cl.err = err
				return
			}
			m := &clientMsg{}
			if json.Unmarshal(line, m) != nil {
				continue
			}
			cl.msgs <- m
		}
	}()
	return cl, nil
}

func (cl *client) send(method string, params ...any) (int, error) {
	cl.wmu.Lock()
	defer cl.wmu.Unlock()
	id := cl.nextID
	cl.nextID++
	if params == nil {
		params = []any{}
	}
	b, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return 0, err
	}
	_ = cl.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = cl.c.Write(append(b, '\n'))
	return id, err
}

// minerJob is a notify with what was in force when it arrived.
type minerJob struct {
	epoch   int // clean jobs seen before it; a later clean job makes it stale
	n       *Notify
	diff    float64
	en1     []byte
	en2size int
}

type found struct {
	job     *minerJob
	en2     []byte
	version uint32
	bits    uint32
	nonce   uint32
	hash    [32]byte
}

// session runs one connection; done reports that Mine should return err.
func (m *mineRun) session(ctx context.Context) (done bool, err error) {
	cl, err := dialClient(ctx, m.addr)
	if err != nil {
		return false, err
	}
	defer cl.c.Close()
	m.authorized = false
	s := &minerSession{m: m, opt: m.opt, ctx: ctx, cl: cl, diff: 1, // the Stratum default until set_difficulty
		foundc: make(chan found, 1024), scanCancel: func() {}, pending: map[string]found{}}
	if done, err := s.handshake(); done || err != nil {
		return done, err
	}
	defer s.stopScan()
	return s.run()
}

// minerSession is the state of one connection of a Mine run.
type minerSession struct {
	m   *mineRun
	opt MinerOptions
	ctx context.Context
	cl  *client
	// backlog keeps the notifications that arrived while waiting for a reply.
	backlog []*clientMsg

	mask    uint32 // version-rolling mask, 0 without version rolling
	en1     []byte
	en2size int
	diff    float64

	foundc     chan found
	hashes     atomic.Uint64
	scanCancel context.CancelFunc
	scanWG     sync.WaitGroup
	current    *minerJob
	epoch      int              // clean jobs seen
	pending    map[string]found // submitted shares by request id

	// Stopping: the pool said the order needs no more work. Scanning stops at once, but
	// the answers to shares already submitted (one of them may be the block that mined
	// the order) are still read, for a few seconds at most.
	stopping     bool
	stopErr      error
	stopDeadline <-chan time.Time
}

// await waits for the reply to request id, keeping notifications in the backlog.
func (s *minerSession) await(id int) (*clientMsg, error) {
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return nil, s.ctx.Err()
		case <-timer.C:
			return nil, errors.New("stratum: no reply within 30 s")
		case msg, ok := <-s.cl.msgs:
			if !ok {
				return nil, fmt.Errorf("stratum: connection closed: %v", s.cl.err)
			}
			if msg.Method != "" {
				s.backlog = append(s.backlog, msg)
				continue
			}
			if string(msg.ID) == strconv.Itoa(id) {
				return msg, nil
			}
		}
	}
}

// call sends a request and waits for its reply.
func (s *minerSession) call(method string, params ...any) (*clientMsg, error) {
	id, err := s.cl.send(method, params...)
	if err != nil {
		return nil, err
	}
	return s.await(id)
}

// handshake configures version rolling, subscribes (resuming the last session) and
// authorizes; done reports that the pool refused the worker for good (opt.Stop).
func (s *minerSession) handshake() (done bool, err error) {
	m, opt := s.m, s.opt
	r, err := s.call("mining.configure", []string{"version-rolling", "subscribe-extranonce"},
		map[string]any{"version-rolling.mask": Hex32(DefaultVersionMask), "version-rolling.min-bit-count": 2})
	if err != nil {
		return false, err
	}
	var conf map[string]json.RawMessage
	if json.Unmarshal(r.Result, &conf) == nil && string(conf["version-rolling"]) == "true" {
		var v string
		_ = json.Unmarshal(conf["version-rolling.mask"], &v)
		if mask, err := ParseHex32(v); err == nil {
			s.mask = mask
		}
	}
	sub := []any{opt.UserAgent}
	if m.sessionID != "" {
		sub = append(sub, m.sessionID)
	}
	if r, err = s.call("mining.subscribe", sub...); err != nil {
		return false, err
	}
	var res []json.RawMessage
	var en1hex string
	if json.Unmarshal(r.Result, &res) != nil || len(res) < 3 || json.Unmarshal(res[1], &en1hex) != nil || json.Unmarshal(res[2], &s.en2size) != nil {
		return false, fmt.Errorf("stratum: bad subscribe reply %s %s", r.Result, r.Error)
	}
	if s.en1, err = hex.DecodeString(en1hex); err != nil || s.en2size < 1 || s.en2size > 16 {
		return false, fmt.Errorf("stratum: bad extranonce in subscribe reply %s", r.Result)
	}
	m.sessionID = en1hex
	m.st.Extranonce = append(m.st.Extranonce, en1hex)
	if _, err := s.call("mining.extranonce.subscribe"); err != nil {
		return false, err
	}
	if r, err = s.call("mining.authorize", opt.User, opt.Password); err != nil {
		return false, err
	}
	if code, msg := r.errInfo(); code != 0 || string(r.Result) != "true" {
		if opt.Stop != nil {
			if stop, serr := opt.Stop(msg); stop {
				return true, serr
			}
		}
		return false, fmt.Errorf("%w: [%d] %s", ErrUnauthorized, code, msg)
	}
	m.authorized = true
	m.st.Sessions++
	opt.Logger.Info("stratum session", "server", m.addr, "extranonce1", en1hex, "version_mask", Hex32(s.mask))
	return false, nil
}

// run handles what arrived during the handshake, then messages and found shares until
// the session ends.
func (s *minerSession) run() (done bool, err error) {
	for _, msg := range s.backlog {
		if stop, err := s.handle(msg); stop || err != nil {
			return stop, err
		}
	}
	s.backlog = nil
	for {
		if s.stopping && len(s.pending) == 0 {
			return true, s.stopErr
		}
		select {
		case <-s.ctx.Done():
			return false, s.ctx.Err()
		case <-s.stopDeadline:
			return true, s.stopErr
		case msg, ok := <-s.cl.msgs:
			if !ok {
				if s.stopping {
					return true, s.stopErr
				}
				return false, fmt.Errorf("stratum: connection closed: %v", s.cl.err)
			}
			if stop, err := s.handle(msg); stop || err != nil {
				return stop, err
			}
		case f := <-s.foundc:
			if err := s.submit(f); err != nil {
				return false, err
			}
		}
	}
}

// submit sends a found share, unless the session is stopping or a clean job made it
// stale.
func (s *minerSession) submit(f found) error {
	if s.stopping || f.job.epoch != s.epoch {
		return nil
	}
	p := []any{s.opt.User, f.job.n.JobID, hex.EncodeToString(f.en2), Hex32(f.job.n.NTime), Hex32(f.nonce)}
	if s.mask != 0 {
		p = append(p, Hex32(f.bits))
	}
	id, err := s.cl.send("mining.submit", p...)
	if err != nil {
		return err
	}
	s.pending[strconv.Itoa(id)] = f
	return nil
}

// stopScan stops the scan of the current job and counts its hashes.
func (s *minerSession) stopScan() {
	s.scanCancel()
	s.scanWG.Wait()
	s.m.st.Hashes += s.hashes.Swap(0)
}

// requestStop stops scanning and lets the session end once the pending shares are
// answered (or after 3 s).
func (s *minerSession) requestStop(err error) {
	s.stopping, s.stopErr = true, err
	s.stopDeadline = time.After(3 * time.Second)
	s.stopScan()
}

// startJob scans j (again, after a new version mask) instead of the current job.
func (s *minerSession) startJob(j *minerJob) {
	s.stopScan()
	s.current = j
	s.m.st.Jobs++
	sctx, cancel := context.WithCancel(s.ctx)
	s.scanCancel = cancel
	s.scanWG.Add(1)
	mask := s.mask
	go func() {
		defer s.scanWG.Done()
		scanJob(sctx, s.opt, j, mask, s.foundc, &s.hashes)
	}()
}

// handle handles one message from the pool; a true result ends the session.
func (s *minerSession) handle(msg *clientMsg) (bool, error) {
	switch msg.Method {
	case "mining.set_difficulty":
		if len(msg.Params) > 0 {
			var d float64
			if json.Unmarshal(msg.Params[0], &d) == nil && d > 0 {
				s.diff = d
				s.m.st.Difficulty = d
			}
		}
	case "mining.notify":
		s.notify(msg)
	case "mining.set_extranonce":
		s.setExtranonce(msg)
	case "mining.set_version_mask":
		var v string
		if len(msg.Params) > 0 && json.Unmarshal(msg.Params[0], &v) == nil {
			if mask, err := ParseHex32(v); err == nil {
				s.mask = mask
				if s.current != nil {
					s.startJob(s.current)
				}
			}
		}
	case "client.show_message":
		var text string
		if len(msg.Params) > 0 {
			_ = json.Unmarshal(msg.Params[0], &text)
		}
		s.opt.Logger.Info("message from the pool", "message", text)
		s.maybeStop(text)
	case "client.reconnect":
		return false, errReconnect
	case "":
		s.reply(msg)
	}
	return false, nil
}

// notify starts a new job (a clean one makes every earlier share stale).
func (s *minerSession) notify(msg *clientMsg) {
	n, err := ParseNotify(msg.Params)
	if err != nil {
		s.opt.Logger.Warn("stratum: bad notify", "err", err)
		return
	}
	if s.current == nil || n.Clean || n.JobID != s.current.n.JobID {
		if n.Clean {
			s.epoch++
		}
		s.startJob(&minerJob{epoch: s.epoch, n: n, diff: s.diff, en1: s.en1, en2size: s.en2size})
	}
}

// setExtranonce takes a new extranonce1 (and extranonce2 size) for the next jobs.
func (s *minerSession) setExtranonce(msg *clientMsg) {
	var v string
	if len(msg.Params) > 0 && json.Unmarshal(msg.Params[0], &v) == nil {
		if b, err := hex.DecodeString(v); err == nil {
			s.en1 = b
			s.m.sessionID = v
			s.m.st.Extranonce = append(s.m.st.Extranonce, v)
		}
	}
	if len(msg.Params) > 1 {
		_ = json.Unmarshal(msg.Params[1], &s.en2size)
	}
}

// reply counts the answer to a submitted share.
func (s *minerSession) reply(msg *clientMsg) {
	f, ok := s.pending[string(msg.ID)]
	if !ok {
		return
	}
	delete(s.pending, string(msg.ID))
	code, text := msg.errInfo()
	if code == 0 && string(msg.Result) == "true" {
		s.m.st.Accepted++
	} else {
		if code == 0 {
			code = CodeOther
		}
		s.m.st.Rejected[code]++
		s.opt.Logger.Debug("share rejected", "code", code, "message", text, "job", f.job.n.JobID)
	}
	if s.opt.OnShare != nil {
		s.opt.OnShare(ShareResult{JobID: f.job.n.JobID, Hash: f.hash, Code: code, Message: text})
	}
	if code == CodeUnauthorized {
		s.maybeStop(text)
	}
}

// maybeStop asks opt.Stop whether a message from the pool ends the work.
func (s *minerSession) maybeStop(text string) {
	if s.opt.Stop != nil && !s.stopping {
		if stop, err := s.opt.Stop(text); stop {
			s.requestStop(err)
		}
	}
}

// depositBits spreads the low bits of v over the set bits of mask, lowest first.
func depositBits(v, mask uint32) uint32 {
	var out uint32
	for bit := uint32(1); bit != 0 && mask != 0; bit <<= 1 {
		if mask&bit != 0 {
			if v&1 != 0 {
				out |= bit
			}
			v >>= 1
			mask &^= bit
		}
	}
	return out
}

// scanJob scans work units of a job until ctx ends: unit u uses extranonce2 = u/4
// (little-endian, first byte lowest) and, with version rolling, version bits u%4
// spread over the mask; every unit covers all 2^32 nonces.
func scanJob(ctx context.Context, opt MinerOptions, j *minerJob, mask uint32, out chan<- found, hashes *atomic.Uint64) {
	target := miner.TargetFromBig(chain.DifficultyTarget(j.diff))
	rolls := uint64(1)
	if mask != 0 {
		rolls = 4
	}
	for u := uint64(0); ctx.Err() == nil; u++ {
		en2 := make([]byte, j.en2size)
		var buf [8]byte
		binary.LittleEndian.PutUint64(buf[:], u/rolls)
		copy(en2, buf[:])
		bits := depositBits(uint32(u%rolls), mask)
		version := RollVersion(j.n.Version, bits, mask)
		hdr := miner.Header(j.n.Header(j.en1, en2, version, j.n.NTime, 0))
		n, _ := miner.ScanParallel(ctx, opt.Kernel, opt.Threads, &hdr, 0, miner.MaxCount, &target, func(f miner.Found) {
			select {
			case out <- found{job: j, en2: en2, version: version, bits: bits, nonce: f.Nonce, hash: f.Hash}:
			case <-ctx.Done():
			}
		})
		hashes.Add(n)
	}
}
