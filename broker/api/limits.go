package api

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/proofow/powbroker/broker/internal/bounded"
	"golang.org/x/time/rate"
)

// Limits bound what one HTTP client may take of the server. Zero fields take the
// values of DefaultLimits.
type Limits struct {
	// ReadHeaderTimeout bounds the request line and headers, BodyTimeout the body
	// (from the end of the headers); a slow client is cut off after them.
	ReadHeaderTimeout time.Duration
	BodyTimeout       time.Duration
	// MaxHeaderBytes bounds the request line and headers (Go answers 431 above it).
	MaxHeaderBytes int
	// DrainBytes is how much of a body the handler did not read (one too large, or
	// one sent with a refused request) is read and discarded before the connection
	// closes, so that a client that sends its whole body before reading still gets
	// the answer instead of a reset (lingering close). Beyond it the connection closes.
	DrainBytes int64
	// IdleTimeout closes a keep-alive connection that sends no next request.
	IdleTimeout time.Duration
}

// DefaultLimits are the limits of a server whose options leave them zero.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 10 * time.Second,
		BodyTimeout:       30 * time.Second,
		MaxHeaderBytes:    32 << 10,
		DrainBytes:        8 << 20,
		IdleTimeout:       2 * time.Minute,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = d.BodyTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.DrainBytes <= 0 {
		l.DrainBytes = d.DrainBytes
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	return l
}

// maxLimiterKeys bounds the clients a keyedLimiter remembers; when full it forgets
// them all (every client starts again with a full bucket).
const maxLimiterKeys = 100_000

// keyedLimiter is a token bucket (golang.org/x/time/rate) per key: a client IP, or
// the hash of an order token.
type keyedLimiter struct {
	rate  rate.Limit
	burst int
	byKey *bounded.Map[string, *rate.Limiter]
}

func newKeyedLimiter(perSecond float64, burst int) *keyedLimiter {
	return &keyedLimiter{rate: rate.Limit(perSecond), burst: max(burst, 1),
		byKey: bounded.New[string, *rate.Limiter](maxLimiterKeys)}
}

func (l *keyedLimiter) allow(key string) bool {
	return l.byKey.GetOrPut(key, func() *rate.Limiter { return rate.NewLimiter(l.rate, l.burst) }).Allow()
}

// tokenKey is the limiter key of a bearer token: its SHA-256, so that the limiter
// holds no token.
func tokenKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return string(h[:])
}

// pollGate counts the long-polls each client IP has open.
type pollGate struct {
	mu    sync.Mutex
	max   int
	byKey map[string]int
}

func (g *pollGate) enter(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.byKey[key] >= g.max {
		return false
	}
	g.byKey[key]++
	return true
}

func (g *pollGate) leave(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.byKey[key]--; g.byKey[key] <= 0 {
		delete(g.byKey, key)
	}
}

// requestTimeout is the problem of a body that did not arrive within BodyTimeout.
func requestTimeout(d time.Duration) *Problem {
	return &Problem{Type: "request-timeout", Title: "Request Timeout", Status: http.StatusRequestTimeout,
		Detail: fmt.Sprintf("the request body did not arrive within %s", d)}
}

// startBody puts the body deadline on a request that has a body.
func (s *Server) startBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.limits.BodyTimeout))
	}
}

// endBody lifts the body deadline once the body is read, so that the server's
// background read (which notices a client going away) does not end a long request.
func endBody(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
}

// drain reads and discards what the handler left of the body, up to DrainBytes and
// within the body deadline (lingering close).
func (s *Server) drain(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 || r.Body == nil {
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.limits.BodyTimeout))
	_, _ = io.CopyN(io.Discard, r.Body, s.limits.DrainBytes)
}
