package stratum

import (
	"sync"
	"time"
)

// maxBanEntries bounds the IPs the ban list tracks (strikes and bans each). Strike
// counts older than the window are forgotten by expire; when the table is full of
// recent ones, a new source is not counted until room comes back.
const maxBanEntries = 100_000

// strikeCount is one IP's strikes in the current window.
type strikeCount struct {
	n     int
	since time.Time
}

// banList bans remote IPs that keep sending invalid shares or garbage: threshold
// strikes within window ban the IP for duration. A threshold below 1 bans nobody.
type banList struct {
	threshold        int
	window, duration time.Duration

	mu      sync.Mutex
	strikes map[string]*strikeCount
	banned  map[string]time.Time // IP -> end of its ban
	total   uint64               // bans since start
}

func newBanList(threshold int, window, duration time.Duration) *banList {
	return &banList{threshold: threshold, window: window, duration: duration,
		strikes: make(map[string]*strikeCount), banned: make(map[string]time.Time)}
}

// strike counts one offence of ip and reports whether it got ip banned now.
func (b *banList) strike(ip string, now time.Time) bool {
	if b.threshold < 1 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	sc := b.strikes[ip]
	if sc == nil {
		if len(b.strikes) >= maxBanEntries {
			return false
		}
		sc = &strikeCount{since: now}
		b.strikes[ip] = sc
	}
	if now.Sub(sc.since) > b.window {
		sc.n, sc.since = 0, now
	}
	sc.n++
	if sc.n < b.threshold {
		return false
	}
	sc.n, sc.since = 0, now
	if _, ok := b.banned[ip]; !ok && len(b.banned) >= maxBanEntries {
		return false // full: the bans in force stay, this source goes unbanned
	}
	b.banned[ip] = now.Add(b.duration)
	b.total++
	return true
}

// isBanned tells whether ip is banned at now.
func (b *banList) isBanned(ip string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.banned[ip]
	if ok && !now.Before(until) {
		delete(b.banned, ip)
		return false
	}
	return ok
}

// expire forgets the bans that ended and the strikes of past windows.
func (b *banList) expire(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ip, until := range b.banned {
		if !now.Before(until) {
			delete(b.banned, ip)
		}
	}
	for ip, sc := range b.strikes {
		if now.Sub(sc.since) > b.window {
			delete(b.strikes, ip)
		}
	}
}

// counts returns the bans in force and the bans since start.
func (b *banList) counts() (int, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.banned), b.total
}
