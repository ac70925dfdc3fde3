package stratum

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// sentJobs is how many of its latest jobs a session accepts shares for.
const sentJobs = 32

// maxWorkers bounds the workers authorized on one connection.
const maxWorkers = 64

// sentJob is a job as one session received it: the difficulty and extranonce1 in
// force when it was sent judge its shares.
type sentJob struct {
	seq  uint64
	job  *preparedJob
	diff float64
	en1  []byte
}

type accountState struct {
	token string
	acc   Account
}

// session is one miner connection. The reader goroutine handles requests in order;
// submits are checked concurrently (up to MaxInFlight); a writer goroutine sends
// whatever is queued. Everything queued under mu keeps its order.
type session struct {
	srv  *Server
	conn net.Conn
	ip   string
	out  chan []byte
	done chan struct{}
	sem  chan struct{}
	// queued is the bytes waiting in out (bounded by MaxQueuedBytes).
	queued atomic.Int64

	mu            sync.Mutex
	dead          bool
	flushOnClose  bool
	subscribed    bool
	en1           []byte
	en2size       int
	rolling       bool
	requestedMask uint32
	mask          uint32 // negotiated version-rolling mask (0 without configure)
	extranonceSub bool
	workers       map[string]string // worker name -> account id
	accounts      map[string]*accountState
	vd            *vardiff
	minerMin      float64
	active        bool // receiving jobs
	seq           uint64
	sent          [sentJobs]sentJob
	lastDiff      float64
	lastNotify    time.Time
	// lastNTime is the ntime of the last job sent: every job a session (or the session
	// resuming its extranonce1) gets carries a later ntime, so a miner that restarts
	// extranonce2 at 0 for each job id never rebuilds a header it already hashed, even
	// when the same pool job is sent again (difficulty change, refresh, resume).
	lastNTime uint32
	id        uint64
	since     time.Time
	stats     map[string]*workerStats // by worker name (status page)
}

func newSession(s *Server, conn net.Conn, ip string) *session {
	c := s.cfg
	return &session{
		srv: s, conn: conn, ip: ip, id: s.sessionSeq.Add(1), since: time.Now(),
		out:      make(chan []byte, c.OutboxSize),
		done:     make(chan struct{}),
		sem:      make(chan struct{}, c.MaxInFlight),
		workers:  make(map[string]string),
		accounts: make(map[string]*accountState),
		vd:       newVardiff(c.TargetShareInterval, c.RetargetInterval, c.MinDifficulty, c.MaxDifficulty, c.StartDifficulty, time.Now()),
	}
}

func (ss *session) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ss.writeLoop()
	}()
	ss.readLoop(ctx)
	ss.finish(true)
	for range cap(ss.sem) { // wait for submits being checked
		ss.sem <- struct{}{}
	}
	wg.Wait()
	ss.mu.Lock()
	en1, ntime := ss.en1, ss.lastNTime
	ss.mu.Unlock()
	ss.srv.removeSession(ss, en1, ntime)
	ss.mu.Lock()
	ids := make([]string, 0, len(ss.accounts))
	for id := range ss.accounts {
		ids = append(ids, id)
	}
	ss.mu.Unlock()
	for _, id := range ids {
		ss.srv.unwatch(ss, id)
	}
}

// finish ends the session: with flush, what is queued is written first.
func (ss *session) finish(flush bool) {
	ss.mu.Lock()
	ss.closeLocked(flush)
	ss.mu.Unlock()
}

func (ss *session) closeLocked(flush bool) {
	if !ss.dead {
		ss.dead = true
		ss.flushOnClose = flush
		close(ss.done)
	}
	if !flush {
		_ = ss.conn.Close()
	}
}

// enqueueLocked queues a line; a miner too slow to take its messages is dropped.
func (ss *session) enqueueLocked(b []byte) {
	if ss.dead {
		return
	}
	if ss.queued.Load()+int64(len(b)) <= int64(ss.srv.cfg.MaxQueuedBytes) {
		select {
		case ss.out <- b:
			ss.queued.Add(int64(len(b)))
			return
		default:
		}
	}
	ss.srv.log.Debug("stratum miner too slow, dropped", "remote", ss.conn.RemoteAddr(), "queued_bytes", ss.queued.Load())
	ss.srv.counts.dropped.Add(1)
	ss.closeLocked(false)
}

// established tells whether the session is subscribed and has an authorized worker.
func (ss *session) established() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.subscribed && len(ss.workers) > 0
}

func (ss *session) sendLine(b []byte) {
	ss.mu.Lock()
	ss.enqueueLocked(b)
	ss.mu.Unlock()
}

func (ss *session) writeLoop() {
	defer ss.conn.Close()
	w := bufio.NewWriterSize(ss.conn, 4096)
	write := func(b []byte) bool {
		_ = ss.conn.SetWriteDeadline(time.Now().Add(ss.srv.cfg.WriteTimeout))
		_, _ = w.Write(b)
		ss.queued.Add(-int64(len(b)))
		for n := len(ss.out); n > 0; n-- {
			m := <-ss.out
			_, _ = w.Write(m)
			ss.queued.Add(-int64(len(m)))
		}
		return w.Flush() == nil
	}
	for {
		select {
		case b := <-ss.out:
			if !write(b) {
				ss.finish(false)
				return
			}
		case <-ss.done:
			if ss.flushOnClose {
				for {
					select {
					case b := <-ss.out:
						if !write(b) {
							return
						}
						continue
					default:
					}
					break
				}
			}
			return
		}
	}
}

func (ss *session) readTimeout() time.Duration {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.subscribed && len(ss.workers) > 0 {
		return ss.srv.cfg.IdleTimeout
	}
	return ss.srv.cfg.HandshakeTimeout
}

// readLoop reads request lines until the connection ends or breaks a limit.
func (ss *session) readLoop(ctx context.Context) {
	cfg := ss.srv.cfg
	r := bufio.NewReaderSize(ss.conn, 4096)
	var long []byte
	bad, over := 0, 0
	limit := rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), cfg.RequestBurst)
	timeout := ss.readTimeout()
	for {
		_ = ss.conn.SetReadDeadline(time.Now().Add(timeout))
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			if len(long) > cfg.MaxLineBytes {
				ss.srv.log.Debug("stratum line too long, closing", "remote", ss.conn.RemoteAddr())
				ss.sendLine(appendError(nil, nil, Errorf(CodeOther, "line longer than %d bytes", cfg.MaxLineBytes)))
				return
			}
			continue
		}
		if err != nil {
			return // EOF, timeout or reset; a partial line is dropped
		}
		if long != nil {
			line = append(long, line...)
			long = nil
			if len(line) > cfg.MaxLineBytes+1 {
				ss.sendLine(appendError(nil, nil, Errorf(CodeOther, "line longer than %d bytes", cfg.MaxLineBytes)))
				return
			}
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		req, perr := ParseRequest(line)
		if !limit.Allow() {
			over++
			if req != nil && req.HasID() {
				ss.sendLine(appendError(nil, req.ID, Errorf(CodeOther, "too many requests: at most %g per second", cfg.RequestsPerSecond)))
			}
			if over > cfg.RequestBurst {
				return
			}
			continue
		}
		over = 0
		if perr != nil {
			bad++
			ss.srv.strike(ss)
			var id json.RawMessage
			if req != nil {
				id = req.ID
			}
			ss.sendLine(appendError(nil, id, Errorf(CodeOther, "%v", perr)))
			if bad >= cfg.MaxBadLines {
				return
			}
			continue
		}
		bad = 0
		ss.handle(ctx, req)
		timeout = ss.readTimeout()
	}
}

func (ss *session) reply(req *Request, result any) {
	if req.HasID() {
		ss.sendLine(appendResult(nil, req.ID, result))
	}
}

func (ss *session) replyErr(req *Request, e *Error) {
	if req.HasID() {
		ss.sendLine(appendError(nil, req.ID, e))
	}
}

func (ss *session) handle(ctx context.Context, req *Request) {
	switch req.Method {
	case "mining.submit":
		ss.handleSubmit(ctx, req)
	case "mining.subscribe":
		ss.handleSubscribe(ctx, req)
	case "mining.authorize":
		ss.handleAuthorize(ctx, req)
	case "mining.configure":
		ss.handleConfigure(req)
	case "mining.suggest_difficulty":
		ss.handleSuggest(req)
	case "mining.extranonce.subscribe":
		ss.mu.Lock()
		ss.extranonceSub = true
		ss.mu.Unlock()
		ss.reply(req, true)
	default:
		ss.replyErr(req, Errorf(CodeOther, "unknown method %q", req.Method))
	}
}

func (ss *session) handleSubscribe(ctx context.Context, req *Request) {
	ss.mu.Lock()
	if ss.subscribed {
		res := ss.subscribeResultLocked()
		if req.HasID() {
			ss.enqueueLocked(appendResult(nil, req.ID, res))
		}
		ss.mu.Unlock()
		return
	}
	ss.mu.Unlock()
	sid := ""
	if len(req.Params) >= 2 {
		sid, _ = paramString(req.Params[1])
	}
	var (
		en1   []byte
		ntime uint32
		err   error
	)
	ss.srv.handshake(ctx, ss, func() { en1, ntime, err = ss.srv.extranonce1For(ctx, ss, sid) })
	if err != nil {
		ss.srv.log.Error("stratum extranonce1", "err", err)
		ss.replyErr(req, Errorf(CodeOther, "no extranonce available, try again"))
		return
	}
	en2 := 4
	if j := ss.srv.currentJob(); j != nil && j.Extranonce2Size > 0 {
		en2 = j.Extranonce2Size
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.en1, ss.en2size, ss.subscribed = en1, en2, true
	ss.lastNTime = max(ss.lastNTime, ntime)
	if req.HasID() {
		ss.enqueueLocked(appendResult(nil, req.ID, ss.subscribeResultLocked()))
	}
	ss.srv.log.Debug("stratum subscribed", "remote", ss.conn.RemoteAddr(), "extranonce1", hex.EncodeToString(en1), "resumed", ntime != 0)
	ss.activateLocked()
}

func (ss *session) subscribeResultLocked() []any {
	sid := hex.EncodeToString(ss.en1)
	return []any{
		[][]string{{"mining.set_difficulty", sid}, {"mining.notify", sid}},
		sid, ss.en2size,
	}
}

// parseSuggested reads d=<difficulty> from an authorize password like "x,d=0.5".
func parseSuggested(pass string) float64 {
	for _, part := range strings.FieldsFunc(pass, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		if v, ok := strings.CutPrefix(part, "d="); ok {
			if d, err := strconv.ParseFloat(v, 64); err == nil && d > 0 && !math.IsInf(d, 0) {
				return d
			}
		}
	}
	return 0
}

func (ss *session) handleAuthorize(ctx context.Context, req *Request) {
	if len(req.Params) < 1 {
		ss.refuseAuthorize(req, Errorf(CodeOther, "mining.authorize needs a worker name"))
		return
	}
	name, ok := paramString(req.Params[0])
	if !ok || name == "" || len(name) > 256 {
		ss.refuseAuthorize(req, Errorf(CodeOther, "the worker name must be a non-empty string"))
		return
	}
	pass := ""
	if len(req.Params) >= 2 {
		pass, _ = paramString(req.Params[1])
	}
	ss.mu.Lock()
	_, known := ss.workers[name]
	full := len(ss.workers) >= maxWorkers
	ss.mu.Unlock()
	if full && !known {
		ss.refuseAuthorize(req, Errorf(CodeOther, "at most %d workers on one connection", maxWorkers))
		return
	}
	token := workerToken(name)
	var (
		acc Account
		err error
	)
	ss.srv.handshake(ctx, ss, func() { acc, err = ss.srv.pool.Authorize(ctx, token) })
	if err != nil {
		var se *Error
		if errors.As(err, &se) {
			ss.refuseAuthorize(req, se)
			return
		}
		ss.srv.log.Error("stratum authorize", "err", err)
		ss.refuseAuthorize(req, Errorf(CodeOther, "authorization failed: internal error, try again"))
		return
	}
	if !acc.Working {
		ss.refuseAuthorize(req, &Error{Code: CodeUnauthorized, Message: acc.Message})
		return
	}
	ss.mu.Lock()
	ss.workers[name] = acc.ID
	ss.accounts[acc.ID] = &accountState{token: token, acc: acc}
	if d := parseSuggested(pass); d > 0 {
		ss.vd.set(d, time.Now())
	}
	if req.HasID() {
		ss.enqueueLocked(appendResult(nil, req.ID, true))
	}
	ss.activateLocked()
	ss.mu.Unlock()
	ss.srv.watch(ss, acc, token)
}

// refuseAuthorize answers mining.authorize with an error and counts it.
func (ss *session) refuseAuthorize(req *Request, e *Error) {
	ss.srv.counts.authFailed.Add(1)
	ss.srv.log.Debug("stratum authorize refused", "remote", ss.conn.RemoteAddr(), "code", e.Code, "message", e.Message)
	ss.replyErr(req, e)
}

func (ss *session) hasWorkingLocked() bool {
	for _, a := range ss.accounts {
		if a.acc.Working {
			return true
		}
	}
	return false
}

// activateLocked starts sending jobs once the session is subscribed and authorized.
func (ss *session) activateLocked() {
	if ss.active || !ss.subscribed || !ss.hasWorkingLocked() {
		return
	}
	j := ss.srv.currentJob()
	if j == nil {
		return
	}
	ss.active = true
	ss.sendJobLocked(j, true)
}

// sendJobLocked sends set_difficulty (when it changed, and always before the first
// notify) and the job under a new session job id.
func (ss *session) sendJobLocked(j *preparedJob, clean bool) {
	cfg := ss.srv.cfg
	maxD := cfg.MaxDifficulty
	if j.NetDifficulty > 0 {
		maxD = math.Min(maxD, j.NetDifficulty)
	}
	minD := math.Min(math.Max(cfg.MinDifficulty, ss.minerMin), maxD)
	d := ss.vd.setLimits(minD, maxD)
	if d != ss.lastDiff {
		ss.enqueueLocked(appendNotification(nil, "mining.set_difficulty", []any{d}))
		ss.lastDiff = d
	}
	ss.seq++
	ss.sent[ss.seq%sentJobs] = sentJob{seq: ss.seq, job: j, diff: d, en1: ss.en1}
	b := make([]byte, 0, 64+len(j.tail))
	b = append(b, `{"id":null,"method":"mining.notify","params":["`...)
	b = strconv.AppendUint(b, ss.seq, 16)
	b = append(b, '"')
	b = append(b, j.tail...)
	ntime := j.NTime
	if ss.lastNTime >= ntime {
		ntime = ss.lastNTime + 1
	}
	ss.lastNTime = ntime
	b = append(b, '"')
	b = append(b, Hex32(ntime)...)
	b = append(b, `",`...)
	b = strconv.AppendBool(b, clean)
	b = append(b, "]}\n"...)
	ss.enqueueLocked(b)
	ss.lastNotify = time.Now()
}

func (ss *session) lookupLocked(id string) *sentJob {
	seq, err := strconv.ParseUint(id, 16, 64)
	if err != nil {
		return nil
	}
	e := &ss.sent[seq%sentJobs]
	if e.job == nil || e.seq != seq {
		return nil
	}
	return e
}

func (ss *session) newJob(j *preparedJob) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch {
	case ss.dead:
	case ss.active:
		ss.sendJobLocked(j, j.Clean)
	default:
		ss.activateLocked() // a miner that was ready before the pool had a job
	}
}

func (ss *session) tick(now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.active || ss.dead {
		return
	}
	_, changed := ss.vd.tick(now)
	if changed {
		ss.srv.counts.retargets.Add(1)
	}
	if changed || now.Sub(ss.lastNotify) >= ss.srv.cfg.JobRefresh {
		if j := ss.srv.currentJob(); j != nil {
			ss.sendJobLocked(j, false)
		}
	}
}

func (ss *session) extranonce1() []byte {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.en1
}

func (ss *session) handleSubmit(ctx context.Context, req *Request) {
	ss.mu.Lock()
	authorized, subscribed := len(ss.workers) > 0, ss.subscribed
	ss.mu.Unlock()
	if !authorized {
		ss.rejectSubmit(req, Errorf(CodeUnauthorized, "unauthorized: send mining.authorize with your order token first"), false)
		ss.srv.strike(ss)
		return
	}
	if !subscribed {
		ss.rejectSubmit(req, Errorf(CodeNotSubscribed, "not subscribed: send mining.subscribe first"), false)
		ss.srv.strike(ss)
		return
	}
	sub, err := ParseSubmit(req.Params)
	if err != nil {
		ss.rejectSubmit(req, err.(*Error), false)
		ss.srv.strike(ss)
		return
	}
	share, serr, done := ss.shareFor(sub)
	if serr != nil {
		ss.record(sub.Worker, 0, serr.Code)
		ss.rejectSubmit(req, serr, done)
		if serr.Code == CodeOther {
			// A wrong extranonce2 or version bits is an offence; a stale job or an
			// account that just stopped working is normal.
			ss.srv.strike(ss)
		}
		return
	}
	ss.sem <- struct{}{}
	go func() {
		defer func() { <-ss.sem }()
		ss.check(ctx, req, share)
	}()
}

// rejectSubmit answers a submit with an error and counts it; orderDone marks a
// submit for an account that no longer takes shares.
func (ss *session) rejectSubmit(req *Request, e *Error, orderDone bool) {
	ss.srv.counts.reject(e.Code, orderDone)
	ss.srv.log.Debug("stratum submit rejected", "remote", ss.conn.RemoteAddr(), "code", e.Code, "message", e.Message)
	ss.replyErr(req, e)
}

// shareFor turns a parsed submit into a pool share, judged by what the session sent;
// orderDone reports a submit for an account that takes no more shares.
func (ss *session) shareFor(sub *Submit) (share Share, e *Error, orderDone bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	id, ok := ss.workers[sub.Worker]
	if !ok {
		return Share{}, Errorf(CodeUnauthorized, "worker %q is not authorized on this connection", sub.Worker), false
	}
	if st := ss.accounts[id]; !st.acc.Working {
		return Share{}, &Error{Code: CodeUnauthorized, Message: st.acc.Message}, true
	}
	sj := ss.lookupLocked(sub.JobID)
	if sj == nil {
		return Share{}, Errorf(CodeStale, "job %q not found (stale)", sub.JobID), false
	}
	if len(sub.Extranonce2) != sj.job.Extranonce2Size {
		return Share{}, Errorf(CodeOther, "extranonce2 must be %d bytes, got %d", sj.job.Extranonce2Size, len(sub.Extranonce2)), false
	}
	version := sj.job.Version
	if sub.HasVersion {
		if sub.VersionBits&^ss.mask != 0 {
			return Share{}, Errorf(CodeOther, "version bits %08x outside the negotiated mask %08x", sub.VersionBits, ss.mask), false
		}
		version = RollVersion(version, sub.VersionBits, ss.mask)
	}
	return Share{
		Account: id, Worker: sub.Worker, JobID: sj.job.ID, Extranonce1: sj.en1, Extranonce2: sub.Extranonce2,
		NTime: sub.NTime, Nonce: sub.Nonce, Version: version, Difficulty: sj.diff,
	}, nil, false
}

// check hands a share to the pool, answers, and runs vardiff on accepted shares.
func (ss *session) check(ctx context.Context, req *Request, share Share) {
	res, err := ss.srv.pool.Submit(ctx, share)
	if err != nil {
		var se *Error
		if !errors.As(err, &se) {
			ss.srv.log.Error("stratum submit", "err", err)
			se = Errorf(CodeOther, "share not checked: internal error")
		}
		ss.record(share.Worker, 0, se.Code)
		ss.rejectSubmit(req, se, se.Code == CodeUnauthorized)
		switch se.Code {
		case CodeUnauthorized:
			ss.accountDone(Account{ID: share.Account, Message: se.Message})
		case CodeDuplicate, CodeLowDifficulty:
			ss.srv.strike(ss) // the pool's own failures (code 20) are no offence of the miner
		}
		return
	}
	ss.srv.counts.accepted.Add(1)
	ss.mu.Lock()
	ss.recordLocked(share.Worker, share.Difficulty, 0)
	if req.HasID() {
		ss.enqueueLocked(appendResult(nil, req.ID, true))
	}
	_, changed := ss.vd.share(time.Now())
	if changed {
		ss.srv.counts.retargets.Add(1)
	}
	if changed && ss.active {
		if j := ss.srv.currentJob(); j != nil {
			ss.sendJobLocked(j, false)
		}
	}
	ss.mu.Unlock()
	if !res.Account.Working && res.Account.ID != "" {
		ss.accountDone(res.Account)
	}
}

// accountDone tells the miner that an account stopped working; with no working
// account left the session gets no more jobs.
func (ss *session) accountDone(acc Account) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st := ss.accounts[acc.ID]
	if st == nil || !st.acc.Working {
		return
	}
	acc.Working = false
	st.acc = acc
	ss.enqueueLocked(appendNotification(nil, "client.show_message", []any{acc.Message}))
	if !ss.hasWorkingLocked() {
		ss.active = false
	}
}

func (ss *session) handleConfigure(req *Request) {
	if len(req.Params) < 1 {
		ss.replyErr(req, Errorf(CodeOther, "mining.configure needs a list of extensions"))
		return
	}
	var exts []string
	if err := json.Unmarshal(req.Params[0], &exts); err != nil {
		ss.replyErr(req, Errorf(CodeOther, "mining.configure: extensions must be a list of strings"))
		return
	}
	opts := map[string]json.RawMessage{}
	if len(req.Params) >= 2 && string(req.Params[1]) != "null" {
		if err := json.Unmarshal(req.Params[1], &opts); err != nil {
			ss.replyErr(req, Errorf(CodeOther, "mining.configure: extension parameters must be an object"))
			return
		}
	}
	serverMask := ss.srv.versionMask()
	res := map[string]any{}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, ext := range exts {
		switch ext {
		case "version-rolling":
			mask := uint32(0xffffffff)
			if raw, ok := opts["version-rolling.mask"]; ok {
				s, sok := paramString(raw)
				v, err := ParseHex32(s)
				if !sok || err != nil {
					res[ext] = "version-rolling.mask must be 8 hex digits"
					continue
				}
				mask = v
			}
			ss.rolling, ss.requestedMask, ss.mask = true, mask, mask&serverMask
			res[ext] = true
			res["version-rolling.mask"] = Hex32(ss.mask)
		case "minimum-difficulty":
			v, ok := paramNumber(opts["minimum-difficulty.value"])
			if !ok || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				res[ext] = "minimum-difficulty.value must be a number >= 0"
				continue
			}
			ss.minerMin = v
			res[ext] = true
		case "subscribe-extranonce":
			ss.extranonceSub = true
			res[ext] = true
		default:
			res[ext] = false
		}
	}
	if req.HasID() {
		ss.enqueueLocked(appendResult(nil, req.ID, res))
	}
}

func (ss *session) handleSuggest(req *Request) {
	if len(req.Params) < 1 {
		ss.replyErr(req, Errorf(CodeOther, "mining.suggest_difficulty needs a difficulty"))
		return
	}
	d, ok := paramNumber(req.Params[0])
	if !ok || !(d > 0) || math.IsInf(d, 0) {
		ss.replyErr(req, Errorf(CodeOther, "the suggested difficulty must be a positive number"))
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.vd.set(d, time.Now())
	if req.HasID() {
		ss.enqueueLocked(appendResult(nil, req.ID, true))
	}
	if ss.active {
		if j := ss.srv.currentJob(); j != nil {
			ss.sendJobLocked(j, false)
		}
	}
}

func (ss *session) updateMask(serverMask uint32) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.rolling {
		return
	}
	ss.mask = ss.requestedMask & serverMask
	ss.enqueueLocked(appendNotification(nil, "mining.set_version_mask", []any{Hex32(ss.mask)}))
}

func (ss *session) renewExtranonce(ctx context.Context) (bool, error) {
	ss.mu.Lock()
	ok := ss.extranonceSub && ss.subscribed && !ss.dead
	old := ss.en1
	ss.mu.Unlock()
	if !ok {
		return false, nil
	}
	en1, err := ss.srv.pool.Extranonce1(ctx)
	if err != nil {
		return false, err
	}
	ss.srv.swapExtranonce(ss, old, en1)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.en1 = en1
	ss.enqueueLocked(appendNotification(nil, "mining.set_extranonce", []any{hex.EncodeToString(en1), ss.en2size}))
	if ss.active {
		if j := ss.srv.currentJob(); j != nil {
			ss.sendJobLocked(j, true)
		}
	}
	return true, nil
}
