package stratum

import (
	"sort"
	"strings"
	"time"
)

// WorkerInfo describes one authorized worker of a connected session, for status pages.
// It never carries the token: only the order (account) and the worker name's suffix.
type WorkerInfo struct {
	Session        uint64    // session number, unique while the server runs
	Account        string    // the account (order) id
	Suffix         string    // the worker name after its first '.', "" without one
	Difficulty     float64   // the session's current share difficulty
	Hashrate       float64   // hashes per second over the recent accepted shares
	Accepted       int64     // accepted shares
	LastShare      time.Time // zero before the first accepted share
	Rejected       map[string]int64
	ConnectedSince time.Time
}

// workerStats are the counters of one worker name on a session.
type workerStats struct {
	accepted int64
	last     time.Time
	recent   [32]recentShare // ring of the last accepted shares
	n        int
	rejected map[string]int64
}

type recentShare struct {
	at   time.Time
	diff float64
}

// rejectReason names a Stratum error code for the status page.
func rejectReason(code int) string {
	switch code {
	case CodeStale:
		return "stale"
	case CodeDuplicate:
		return "duplicate"
	case CodeLowDifficulty:
		return "low-difficulty"
	case CodeUnauthorized:
		return "unauthorized"
	case CodeNotSubscribed:
		return "not-subscribed"
	default:
		return "other"
	}
}

// recordLocked counts an accepted share (code 0) or a rejected one for a worker name.
func (ss *session) recordLocked(worker string, diff float64, code int) {
	if ss.stats == nil {
		ss.stats = make(map[string]*workerStats)
	}
	w := ss.stats[worker]
	if w == nil {
		if len(ss.stats) >= maxWorkers {
			return
		}
		w = &workerStats{rejected: make(map[string]int64)}
		ss.stats[worker] = w
	}
	now := time.Now()
	if code != 0 {
		w.rejected[rejectReason(code)]++
		return
	}
	w.accepted++
	w.last = now
	w.recent[w.n%len(w.recent)] = recentShare{at: now, diff: diff}
	w.n++
}

func (ss *session) record(worker string, diff float64, code int) {
	ss.mu.Lock()
	ss.recordLocked(worker, diff, code)
	ss.mu.Unlock()
}

// hashrate estimates hashes per second from the recent shares: their work over the
// time from the oldest of them (or the connection) to now, within the last 10 minutes.
func (w *workerStats) hashrate(now, since time.Time) float64 {
	from := now.Add(-10 * time.Minute)
	if since.After(from) {
		from = since
	}
	work, oldest := 0.0, now
	for i := range min(w.n, len(w.recent)) {
		s := w.recent[i]
		if s.at.Before(from) {
			continue
		}
		work += s.diff
		if s.at.Before(oldest) {
			oldest = s.at
		}
	}
	if w.n > len(w.recent) && oldest.After(from) {
		from = oldest // older shares fell out of the ring: measure over what it holds
	}
	span := now.Sub(from).Seconds()
	if span < 1 {
		span = 1
	}
	return work * 4294967296 / span
}

// Workers lists the authorized workers of the connected sessions.
func (s *Server) Workers() []WorkerInfo {
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	now := time.Now()
	var out []WorkerInfo
	for _, ss := range sessions {
		ss.mu.Lock()
		for name, acc := range ss.workers {
			wi := WorkerInfo{Session: ss.id, Account: acc, Difficulty: ss.lastDiff, ConnectedSince: ss.since, Rejected: map[string]int64{}}
			if _, suffix, ok := strings.Cut(name, "."); ok {
				wi.Suffix = suffix
			}
			if w := ss.stats[name]; w != nil {
				wi.Accepted, wi.LastShare, wi.Hashrate = w.accepted, w.last, w.hashrate(now, ss.since)
				for k, v := range w.rejected {
					wi.Rejected[k] = v
				}
			}
			out = append(out, wi)
		}
		ss.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Session != out[j].Session {
			return out[i].Session < out[j].Session
		}
		return out[i].Suffix < out[j].Suffix
	})
	return out
}
