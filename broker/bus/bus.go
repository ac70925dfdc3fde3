package bus

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Subjects.
const (
	SubjectJobs       = "powbroker.jobs"       // broker -> gateways: Job (publish)
	SubjectJobNow     = "powbroker.job.now"    // gateway -> broker: JobNow -> Job
	SubjectAuth       = "powbroker.auth"       // gateway -> broker: AuthRequest -> AuthReply
	SubjectRegister   = "powbroker.register"   // gateway -> broker: Register -> RegisterReply (also the heartbeat)
	SubjectExtranonce = "powbroker.extranonce" // gateway -> broker: ExtranonceRequest -> ExtranonceReply
	SubjectSubmit     = "powbroker.submit"     // gateway -> broker: Share -> SubmitReply
)

// Limits.
const (
	MaxBody  = 256 << 10       // largest message body accepted
	MaxSkew  = 2 * time.Minute // largest difference between a message's time and ours
	MinKey   = 16              // shortest accepted key, bytes
	hdrTime  = "Pb-Ts"
	hdrMAC   = "Pb-Mac"
	queueBrk = "powbroker-broker"
)

// ErrForged is a message that failed authentication or decoding.
var ErrForged = errors.New("bus: message refused")

// Conn is a NATS connection that signs what it sends and checks what it receives.
type Conn struct {
	nc      *nats.Conn
	key     []byte
	log     *slog.Logger
	refused atomic.Int64
}

// Dial connects to the NATS server at url (nats://[user:pass@]host:port, several
// separated by commas) and keeps reconnecting for ever when the connection drops.
func Dial(ctx context.Context, url string, key []byte, name string, log *slog.Logger) (*Conn, error) {
	if len(key) < MinKey {
		return nil, fmt.Errorf("bus: the key must have at least %d bytes, has %d", MinKey, len(key))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []nats.Option{
		nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second), nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("bus: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("bus: reconnected", "server", c.ConnectedUrlRedacted()) }),
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", url, err)
	}
	return &Conn{nc: nc, key: append([]byte(nil), key...), log: log}, nil
}

// Close drains nothing: pending requests fail.
func (c *Conn) Close() { c.nc.Close() }

// Flush waits until the server has processed everything sent so far.
func (c *Conn) Flush(ctx context.Context) error { return c.nc.FlushWithContext(ctx) }

// Refused counts the messages refused (forged, stale, oversized, undecodable).
func (c *Conn) Refused() int64 { return c.refused.Load() }

// NATS is the underlying connection.
func (c *Conn) NATS() *nats.Conn { return c.nc }

func (c *Conn) mac(subject, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(subject))
	m.Write([]byte{0})
	m.Write([]byte(ts))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns a message for subject carrying body, signed.
func (c *Conn) sign(subject string, body []byte) *nats.Msg {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set(hdrTime, ts)
	m.Header.Set(hdrMAC, hex.EncodeToString(c.mac(subject, ts, body)))
	return m
}

// open checks a received message and decodes its body into v.
func (c *Conn) open(m *nats.Msg, v any) error {
	err := c.verify(m, v)
	if err != nil {
		c.refused.Add(1)
		c.log.Warn("bus: refused a message", "subject", m.Subject, "bytes", len(m.Data), "err", err)
	}
	return err
}

func (c *Conn) verify(m *nats.Msg, v any) error {
	if len(m.Data) > MaxBody {
		return fmt.Errorf("%w: body of %d bytes is over %d", ErrForged, len(m.Data), MaxBody)
	}
	ts, sum := m.Header.Get(hdrTime), m.Header.Get(hdrMAC)
	got, err := hex.DecodeString(sum)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: no valid %s header", ErrForged, hdrMAC)
	}
	if !hmac.Equal(got, c.mac(m.Subject, ts, m.Data)) {
		return fmt.Errorf("%w: bad MAC (wrong key or altered message)", ErrForged)
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad %s header", ErrForged, hdrTime)
	}
	if d := time.Since(time.UnixMilli(ms)); d > MaxSkew || d < -MaxSkew {
		return fmt.Errorf("%w: message time is %v away from ours", ErrForged, d.Round(time.Second))
	}
	dec := json.NewDecoder(bytes.NewReader(m.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %v", ErrForged, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the body", ErrForged)
	}
	return nil
}

// Publish sends v to every subscriber of subject.
func (c *Conn) Publish(subject string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("bus: encode %s: %w", subject, err)
	}
	return c.nc.PublishMsg(c.sign(subject, body))
}

// ErrNoBroker is a request nobody answered: no broker subscribes, or it did not answer
// in time.
var ErrNoBroker = errors.New("bus: the broker did not answer")

// Request sends req on subject and decodes the signed reply into resp.
func (c *Conn) Request(ctx context.Context, subject string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("bus: encode %s: %w", subject, err)
	}
	m, err := c.nc.RequestMsgWithContext(ctx, c.sign(subject, body))
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("%w (%s): %v", ErrNoBroker, subject, err)
		}
		return fmt.Errorf("bus: %s: %w", subject, err)
	}
	return c.open(m, resp)
}

// Handler answers one request; its result is sent back signed.
type Handler[Req, Resp any] func(ctx context.Context, req *Req) Resp

// Serve answers requests on subject with h, each in its own goroutine (at most limit
// at once; more wait), as a member of the brokers' queue group so that only one
// broker answers each request. Refused messages get no answer.
func Serve[Req, Resp any](ctx context.Context, c *Conn, subject string, limit int, h Handler[Req, Resp]) (*nats.Subscription, error) {
	sem := make(chan struct{}, limit)
	return c.nc.QueueSubscribe(subject, queueBrk, func(m *nats.Msg) {
		var req Req
		if err := c.open(m, &req); err != nil || m.Reply == "" {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		go func() {
			defer func() { <-sem }()
			resp := h(ctx, &req)
			body, err := json.Marshal(resp)
			if err != nil {
				c.log.Error("bus: encode reply", "subject", subject, "err", err)
				return
			}
			if err := c.nc.PublishMsg(c.sign(m.Reply, body)); err != nil {
				c.log.Warn("bus: reply", "subject", subject, "err", err)
			}
		}()
	})
}

// Subscribe delivers every authentic message on subject to fn, one at a time.
func Subscribe[T any](c *Conn, subject string, fn func(*T)) (*nats.Subscription, error) {
	return c.nc.Subscribe(subject, func(m *nats.Msg) {
		var v T
		if c.open(m, &v) == nil {
			fn(&v)
		}
	})
}
