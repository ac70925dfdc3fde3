package stratum

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Config tunes the server. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// MaxLineBytes is the longest accepted request line (16 KiB).
	MaxLineBytes int
	// MaxConns bounds connections in total, MaxConnsPerIP per remote IP address.
	MaxConns      int
	MaxConnsPerIP int
	// IdleTimeout closes a connection that sends nothing for that long; before it is
	// subscribed and authorized, HandshakeTimeout applies instead.
	IdleTimeout      time.Duration
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one write to a miner.
	WriteTimeout time.Duration
	// RequestsPerSecond and RequestBurst cap the requests of one connection (a token
	// bucket); requests over the cap get error 20, and a connection that keeps going
	// past a second burst is closed.
	RequestsPerSecond float64
	RequestBurst      int
	// MaxBadLines consecutive unparsable lines close the connection.
	MaxBadLines int
	// OutboxSize is how many messages, and MaxQueuedBytes how many bytes, may wait
	// for a slow miner before it is dropped: a miner that stops reading costs the
	// server at most that much memory, then its connection.
	OutboxSize     int
	MaxQueuedBytes int
	// MaxInFlight is how many submits of one connection are checked at once.
	MaxInFlight int
	// Difficulty: the start, the bounds (also capped at the network difficulty), the
	// share interval vardiff aims at and how often it retargets.
	StartDifficulty     float64
	MinDifficulty       float64
	MaxDifficulty       float64
	TargetShareInterval time.Duration
	RetargetInterval    time.Duration
	// JobRefresh: a session that saw no new job for that long gets the current job
	// again under a new id (miners stop after about 120 s without one).
	JobRefresh time.Duration
	// VersionMask is the server's BIP 310 version-rolling mask.
	VersionMask uint32
	// ResumeTTL is how long a disconnected session's extranonce1 stays resumable.
	ResumeTTL time.Duration
	// BanThreshold strikes (an invalid or duplicate share, an unparsable line, a
	// submit before the handshake; not stale shares, not the pool's own failures)
	// from one remote IP within BanWindow ban that IP for BanDuration: its
	// connections are closed and new ones refused. Negative: no bans.
	BanThreshold int
	BanWindow    time.Duration
	BanDuration  time.Duration
	// AcceptRate and AcceptBurst bound how fast connections are admitted (the rest
	// of a reconnect storm waits in the listen backlog); MaxHandshakes bounds the
	// pool calls (subscribe, authorize) of sessions not yet established that run at
	// once, so that the pool's capacity stays with the established sessions.
	AcceptRate    float64
	AcceptBurst   int
	MaxHandshakes int
	Logger        *slog.Logger
	// ObserveTipNotify, when set, sees for each clean job the time from the pool
	// learning of its tip to mining.notify queued to every session (metrics).
	ObserveTipNotify func(time.Duration)
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MaxLineBytes:        16 << 10,
		MaxConns:            10000,
		MaxConnsPerIP:       1000,
		IdleTimeout:         10 * time.Minute,
		HandshakeTimeout:    60 * time.Second,
		WriteTimeout:        10 * time.Second,
		RequestsPerSecond:   100,
		RequestBurst:        200,
		MaxBadLines:         5,
		OutboxSize:          256,
		MaxQueuedBytes:      256 << 10,
		MaxInFlight:         8,
		StartDifficulty:     1.0 / (1 << 15),
		MinDifficulty:       1e-9,
		MaxDifficulty:       1e15,
		TargetShareInterval: 10 * time.Second,
		RetargetInterval:    30 * time.Second,
		JobRefresh:          55 * time.Second,
		VersionMask:         DefaultVersionMask,
		ResumeTTL:           10 * time.Minute,
		BanThreshold:        100,
		BanWindow:           time.Minute,
		BanDuration:         10 * time.Minute,
		AcceptRate:          500,
		AcceptBurst:         1000,
		MaxHandshakes:       16,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setI := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setF := func(v *float64, def float64) {
		if !(*v > 0) {
			*v = def
		}
	}
	setI(&c.MaxLineBytes, d.MaxLineBytes)
	setI(&c.MaxConns, d.MaxConns)
	setI(&c.MaxConnsPerIP, d.MaxConnsPerIP)
	setD(&c.IdleTimeout, d.IdleTimeout)
	setD(&c.HandshakeTimeout, d.HandshakeTimeout)
	setD(&c.WriteTimeout, d.WriteTimeout)
	setF(&c.RequestsPerSecond, d.RequestsPerSecond)
	setI(&c.RequestBurst, d.RequestBurst)
	setI(&c.MaxBadLines, d.MaxBadLines)
	setI(&c.OutboxSize, d.OutboxSize)
	setI(&c.MaxQueuedBytes, d.MaxQueuedBytes)
	if c.BanThreshold == 0 {
		c.BanThreshold = d.BanThreshold
	}
	setD(&c.BanWindow, d.BanWindow)
	setD(&c.BanDuration, d.BanDuration)
	setF(&c.AcceptRate, d.AcceptRate)
	setI(&c.AcceptBurst, d.AcceptBurst)
	setI(&c.MaxHandshakes, d.MaxHandshakes)
	setI(&c.MaxInFlight, d.MaxInFlight)
	setF(&c.StartDifficulty, d.StartDifficulty)
	setF(&c.MinDifficulty, d.MinDifficulty)
	setF(&c.MaxDifficulty, d.MaxDifficulty)
	setD(&c.TargetShareInterval, d.TargetShareInterval)
	setD(&c.RetargetInterval, d.RetargetInterval)
	setD(&c.JobRefresh, d.JobRefresh)
	setD(&c.ResumeTTL, d.ResumeTTL)
	if c.VersionMask == 0 {
		c.VersionMask = d.VersionMask
	}
	if c.MaxDifficulty < c.MinDifficulty {
		c.MaxDifficulty = c.MinDifficulty
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// preparedJob is a pool job with the shared part of its notify line rendered once.
type preparedJob struct {
	*Job
	tail []byte // `,"prevhash","coinb1","coinb2",[...],"ver","bits",`: ntime and clean follow per session
}

func prepare(j *Job) *preparedJob {
	n := Notify{PrevHash: j.PrevHash, Coinb1: j.Coinb1, Coinb2: j.Coinb2, Branch: j.Branch,
		Version: j.Version, Bits: j.Bits, NTime: j.NTime}
	p := n.Params()
	b, _ := json.Marshal(p[1:7])
	// b is `[...6 values...]`: keep the inside, framed by commas.
	tail := make([]byte, 0, len(b)+2)
	tail = append(tail, ',')
	tail = append(tail, b[1:len(b)-1]...)
	tail = append(tail, ',')
	return &preparedJob{Job: j, tail: tail}
}

// resumable is a disconnected session's extranonce1: until when it may be resumed,
// and the last ntime its jobs carried (a resumed session continues from there, so
// that no header it is sent repeats an earlier one).
type resumable struct {
	until time.Time
	ntime uint32
}

// Server is a Stratum v1 server. Create it with NewServer and run it with Serve.
type Server struct {
	cfg  Config
	pool Pool
	log  *slog.Logger

	mu       sync.Mutex
	sessions map[*session]struct{}
	perIP    map[string]int
	en1Owner map[string]*session
	resume   map[string]resumable // by extranonce1
	current  *preparedJob
	mask     uint32
	watches  map[string]*accountWatch
	ctx      context.Context
	wg       sync.WaitGroup

	counts  counters
	summary rejectSummary

	bans       *banList
	acceptRate *rate.Limiter
	handshakes chan struct{} // a slot per pool call of a session not yet established
	sessionSeq atomic.Uint64
}

// NewServer returns a server for the pool.
func NewServer(pool Pool, cfg Config) *Server {
	cfg = cfg.withDefaults()
	return &Server{
		cfg: cfg, pool: pool, log: cfg.Logger,
		sessions: make(map[*session]struct{}), perIP: make(map[string]int),
		en1Owner: make(map[string]*session), resume: make(map[string]resumable),
		watches: make(map[string]*accountWatch), mask: cfg.VersionMask,
		bans:       newBanList(cfg.BanThreshold, cfg.BanWindow, cfg.BanDuration),
		acceptRate: rate.NewLimiter(rate.Limit(cfg.AcceptRate), cfg.AcceptBurst),
		handshakes: make(chan struct{}, cfg.MaxHandshakes),
	}
}

// Config returns the effective configuration.
func (s *Server) Config() Config { return s.cfg }

// Stats reports the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	all := s.sessionsLocked()
	s.mu.Unlock()
	st := Stats{Sessions: len(all)}
	s.counts.fill(&st)
	st.Banned, st.Bans = s.bans.counts()
	var diffs []float64
	for _, ss := range all {
		ss.mu.Lock()
		st.Workers += len(ss.workers)
		if ss.subscribed {
			diffs = append(diffs, ss.vd.diff)
		}
		ss.mu.Unlock()
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		st.DifficultyMin, st.DifficultyMax, st.DifficultyMedian = diffs[0], diffs[len(diffs)-1], diffs[len(diffs)/2]
	}
	return st
}

// Serve accepts miners on ln until ctx ends, then tells every miner to reconnect,
// closes the connections and returns once every session has ended.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	jobs, cancel := s.pool.Jobs()
	defer cancel()
	// The first job, if the pool has one, before any miner can connect.
	select {
	case j := <-jobs:
		if j != nil {
			s.setJob(j)
		}
	case <-time.After(100 * time.Millisecond):
	}
	bg, stopBG := context.WithCancel(ctx)
	var bgwg sync.WaitGroup
	bgwg.Add(2)
	go func() {
		defer bgwg.Done()
		for {
			select {
			case <-bg.Done():
				return
			case j := <-jobs:
				if j != nil {
					s.setJob(j)
				}
			}
		}
	}()
	go func() {
		defer bgwg.Done()
		s.housekeeping(bg)
	}()
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	var err error
	for {
		if s.acceptRate.Wait(ctx) != nil {
			break // ctx ended
		}
		conn, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				var ne net.Error
				if errors.As(aerr, &ne) && ne.Timeout() {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if !errors.Is(aerr, net.ErrClosed) {
					err = fmt.Errorf("stratum accept: %w", aerr)
				}
			}
			break
		}
		s.admit(ctx, conn)
	}
	// Shutdown: ask miners to come back later, then close.
	s.mu.Lock()
	all := s.sessionsLocked()
	s.mu.Unlock()
	for _, ss := range all {
		ss.sendLine(appendNotification(nil, "client.reconnect", []any{}))
		ss.finish(true)
	}
	s.wg.Wait()
	stopBG()
	bgwg.Wait()
	return err
}

// admit applies the connection limits and starts a session.
func (s *Server) admit(ctx context.Context, conn net.Conn) {
	ip := remoteIP(conn)
	if s.bans.isBanned(ip, time.Now()) {
		s.counts.refusedBanned.Add(1)
		_ = conn.Close()
		return
	}
	s.mu.Lock()
	if len(s.sessions) >= s.cfg.MaxConns || s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		total, per := len(s.sessions), s.perIP[ip]
		s.mu.Unlock()
		s.counts.connsRefused.Add(1)
		s.log.Debug("stratum connection refused", "remote", conn.RemoteAddr(), "total", total, "from_ip", per)
		_ = conn.Close()
		return
	}
	ss := newSession(s, conn, ip)
	s.counts.connsAccepted.Add(1)
	s.sessions[ss] = struct{}{}
	s.perIP[ip]++
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		ss.run(ctx)
	}()
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// removeSession forgets a closed session and makes its extranonce1 resumable. The
// caller passes the session's extranonce1 (the server's lock is never held while a
// session's lock is taken).
func (s *Server) removeSession(ss *session, en1 []byte, ntime uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[ss]; !ok {
		return
	}
	delete(s.sessions, ss)
	if s.perIP[ss.ip]--; s.perIP[ss.ip] <= 0 {
		delete(s.perIP, ss.ip)
	}
	if en1 != nil {
		k := string(en1)
		if s.en1Owner[k] == ss {
			delete(s.en1Owner, k)
			s.resume[k] = resumable{until: time.Now().Add(s.cfg.ResumeTTL), ntime: ntime}
		}
	}
}

// swapExtranonce moves a session from one extranonce1 to another.
func (s *Server) swapExtranonce(ss *session, old, en1 []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.en1Owner[string(old)] == ss {
		delete(s.en1Owner, string(old))
	}
	s.en1Owner[string(en1)] = ss
}

// extranonce1For returns the extranonce1 of a resumed session when the id names one
// this server issued and no live session holds, else a fresh one from the pool.
func (s *Server) extranonce1For(ctx context.Context, ss *session, sessionID string) ([]byte, uint32, error) {
	if b, err := hex.DecodeString(sessionID); err == nil && len(b) == 4 {
		k := string(b)
		s.mu.Lock()
		r, ok := s.resume[k]
		if ok && time.Now().Before(r.until) && s.en1Owner[k] == nil {
			delete(s.resume, k)
			s.en1Owner[k] = ss
			s.mu.Unlock()
			return b, r.ntime, nil
		}
		s.mu.Unlock()
	}
	en1, err := s.pool.Extranonce1(ctx)
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	s.en1Owner[string(en1)] = ss
	delete(s.resume, string(en1))
	s.mu.Unlock()
	return en1, 0, nil
}

func (s *Server) setJob(j *Job) {
	pj := prepare(j)
	s.forSessions(func() { s.current = pj }, func(ss *session) { ss.newJob(pj) })
	if j.Clean && !j.TipSeen.IsZero() && s.cfg.ObserveTipNotify != nil {
		s.cfg.ObserveTipNotify(time.Since(j.TipSeen))
	}
}

func (s *Server) currentJob() *preparedJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

func (s *Server) versionMask() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mask
}

// housekeeping lowers the difficulty of quiet sessions, resends jobs to sessions that
// saw none for JobRefresh, and forgets old resumable extranonces.
func (s *Server) housekeeping(ctx context.Context) {
	every := min(time.Second, s.cfg.TargetShareInterval, s.cfg.JobRefresh/4)
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.mu.Lock()
			all := s.sessionsLocked()
			for k, r := range s.resume {
				if now.After(r.until) {
					delete(s.resume, k)
				}
			}
			s.mu.Unlock()
			s.bans.expire(now)
			for _, ss := range all {
				ss.tick(now)
			}
			s.summarize(now)
		}
	}
}

// SetVersionMask changes the server's version-rolling mask; every session that
// negotiated rolling gets mining.set_version_mask with its new mask at once.
func (s *Server) SetVersionMask(mask uint32) {
	s.forSessions(func() { s.mask = mask }, func(ss *session) { ss.updateMask(mask) })
}

// RenewExtranonces gives every session that sent mining.extranonce.subscribe a fresh
// extranonce1 (mining.set_extranonce followed by a clean job) and returns how many
// sessions got one. Sessions that did not subscribe keep theirs.
func (s *Server) RenewExtranonces(ctx context.Context) (int, error) {
	s.mu.Lock()
	all := s.sessionsLocked()
	s.mu.Unlock()
	n := 0
	for _, ss := range all {
		ok, err := ss.renewExtranonce(ctx)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// accountWatch follows one account for the sessions working for it.
type accountWatch struct {
	id, token string
	sessions  map[*session]struct{}
}

// watch registers the session's interest in an account; the first interest starts a
// goroutine that waits for the account's changes and tells the sessions when it
// stops working.
func (s *Server) watch(ss *session, acc Account, token string) {
	s.mu.Lock()
	w, ok := s.watches[acc.ID]
	if !ok {
		w = &accountWatch{id: acc.ID, token: token, sessions: make(map[*session]struct{})}
		s.watches[acc.ID] = w
	}
	w.sessions[ss] = struct{}{}
	ctx := s.ctx
	s.mu.Unlock()
	if !ok && ctx != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.follow(ctx, w)
		}()
	}
}

func (s *Server) unwatch(ss *session, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.watches[id]; ok {
		delete(w.sessions, ss)
	}
}

// follow checks the account after each change, at most once a second (every share
// changes it, and the share path itself reports a paid order at once), until it
// stops working or no session works for it any more.
func (s *Server) follow(ctx context.Context, w *accountWatch) {
	defer func() {
		s.mu.Lock()
		if s.watches[w.id] == w {
			delete(s.watches, w.id)
		}
		s.mu.Unlock()
	}()
	idle := time.NewTicker(5 * time.Second)
	defer idle.Stop()
	first := true
	for {
		ch := s.pool.AccountChanged(w.id)
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-ch:
			case <-idle.C:
				s.mu.Lock()
				n := len(w.sessions)
				s.mu.Unlock()
				if n == 0 {
					return
				}
				continue
			}
		}
		first = false
		acc, err := s.pool.Authorize(ctx, w.token)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				continue // a passing store error: check again at the next change
			}
			acc = Account{ID: w.id, State: "unknown", Message: se.Message}
		}
		if !acc.Working {
			s.mu.Lock()
			all := make([]*session, 0, len(w.sessions))
			for ss := range w.sessions {
				all = append(all, ss)
			}
			s.mu.Unlock()
			for _, ss := range all {
				ss.accountDone(acc)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// strike counts an offence of the session's remote IP; when that bans the IP, every
// session from it is told why and closed. The caller holds no session lock.
func (s *Server) strike(ss *session) {
	if !s.bans.strike(ss.ip, time.Now()) {
		return
	}
	s.log.Info("stratum source banned", "ip", ss.ip, "for", s.cfg.BanDuration,
		"threshold", s.cfg.BanThreshold, "window", s.cfg.BanWindow)
	s.mu.Lock()
	var from []*session
	for o := range s.sessions {
		if o.ip == ss.ip {
			from = append(from, o)
		}
	}
	s.mu.Unlock()
	msg := appendNotification(nil, "client.show_message", []any{"banned for " + s.cfg.BanDuration.String() +
		": too many invalid shares or malformed requests"})
	for _, o := range from {
		o.sendLine(msg)
		o.finish(true)
	}
}

// handshake runs a pool call of a session that is not yet established within one of
// the MaxHandshakes slots (established sessions call the pool directly).
func (s *Server) handshake(ctx context.Context, ss *session, call func()) {
	if ss.established() {
		call()
		return
	}
	select {
	case s.handshakes <- struct{}{}:
	case <-ctx.Done():
		call() // shutting down: the call fails fast on the same context
		return
	}
	defer func() { <-s.handshakes }()
	call()
}

// workerToken strips an optional ".rigname" from a worker name.
func workerToken(name string) string {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return name[:i]
	}
	return name
}

// summarize logs at info, at most once a minute, the submits and authorizations
// refused since the last summary; each is logged at debug where it happens.
func (s *Server) summarize(now time.Time) {
	if now.Sub(s.summary.last) < time.Minute {
		return
	}
	var st Stats
	s.counts.fill(&st)
	if st.Rejected != s.summary.prevR || st.AuthorizeFailed != s.summary.prevA {
		s.log.Info("stratum refusals", "rejected_submits", st.Rejected-s.summary.prevR,
			"authorize_failures", st.AuthorizeFailed-s.summary.prevA, "rejected_total", st.Rejected, "by_code", formatCounts(st.RejectedBy))
	}
	s.summary = rejectSummary{last: now, prevR: st.Rejected, prevA: st.AuthorizeFailed}
}

// formatCounts renders counts as "21=3 24=20", sorted by key.
func formatCounts(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

// forSessions runs update under s.mu, then do for every session outside the lock.
func (s *Server) forSessions(update func(), do func(*session)) {
	s.mu.Lock()
	update()
	all := s.sessionsLocked()
	s.mu.Unlock()
	for _, ss := range all {
		do(ss)
	}
}

// sessionsLocked lists the sessions; s.mu must be held.
func (s *Server) sessionsLocked() []*session {
	all := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		all = append(all, ss)
	}
	return all
}
