package bus

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func testConn(key string) *Conn { return &Conn{key: []byte(key), log: slog.New(slog.DiscardHandler)} }

// TestVerify: a message signed with the key opens; everything else is refused.
func TestVerify(t *testing.T) {
	c := testConn("0123456789abcdef")
	good := func() *nats.Msg {
		return c.sign(SubjectSubmit, []byte(`{"gateway":"gw1","account":"a","nonce":7}`))
	}
	tests := []struct {
		name   string
		msg    func() *nats.Msg
		wantOK bool
	}{
		{"signed", good, true},
		{"other key", func() *nats.Msg {
			return testConn("fedcba9876543210").sign(SubjectSubmit, []byte(`{"gateway":"gw1"}`))
		}, false},
		{"body altered", func() *nats.Msg { m := good(); m.Data = []byte(`{"gateway":"gw2","account":"a","nonce":7}`); return m }, false},
		{"other subject", func() *nats.Msg { m := good(); m.Subject = SubjectAuth; return m }, false},
		{"no mac", func() *nats.Msg { m := good(); m.Header.Del(hdrMAC); return m }, false},
		{"stale", func() *nats.Msg {
			m := nats.NewMsg(SubjectSubmit)
			m.Data = []byte(`{}`)
			ts := strconv.FormatInt(time.Now().Add(-10*time.Minute).UnixMilli(), 10)
			m.Header.Set(hdrTime, ts)
			m.Header.Set(hdrMAC, hexMAC(c, SubjectSubmit, ts, m.Data))
			return m
		}, false},
		{"unknown field", func() *nats.Msg { return c.sign(SubjectSubmit, []byte(`{"gateway":"gw1","credit":1e9}`)) }, false},
		{"trailing data", func() *nats.Msg { return c.sign(SubjectSubmit, []byte(`{"gateway":"gw1"} {}`)) }, false},
		{"oversized", func() *nats.Msg {
			return c.sign(SubjectSubmit, []byte(`{"gateway":"`+strings.Repeat("x", MaxBody)+`"}`))
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s Share
			err := c.open(tc.msg(), &s)
			if (err == nil) != tc.wantOK {
				t.Fatalf("open: %v, want ok=%v", err, tc.wantOK)
			}
			if err != nil && !errors.Is(err, ErrForged) {
				t.Fatalf("error %v does not wrap ErrForged", err)
			}
		})
	}
	if c.Refused() != int64(len(tests)-1) {
		t.Fatalf("refused %d, want %d", c.Refused(), len(tests)-1)
	}
}

func hexMAC(c *Conn, subject, ts string, body []byte) string {
	return hexString(c.mac(subject, ts, body))
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}

// FuzzOpen: arbitrary bodies, times and MACs never panic, and only a body with the
// right MAC opens.
func FuzzOpen(f *testing.F) {
	c := testConn("0123456789abcdef")
	m := c.sign(SubjectSubmit, []byte(`{"gateway":"gw1","nonce":1}`))
	f.Add(m.Data, m.Header.Get(hdrTime), m.Header.Get(hdrMAC))
	f.Add([]byte(`{"gateway":`), "0", "00")
	f.Fuzz(func(t *testing.T, body []byte, ts, mac string) {
		msg := nats.NewMsg(SubjectSubmit)
		msg.Data = body
		msg.Header.Set(hdrTime, ts)
		msg.Header.Set(hdrMAC, mac)
		var s Share
		if err := c.open(msg, &s); err == nil && !strings.EqualFold(mac, hexString(c.mac(SubjectSubmit, ts, body))) {
			t.Fatalf("opened with a wrong MAC %q", mac)
		}
		var j Job
		if c.open(msg, &j) == nil {
			_ = j.Check() // must not panic on any decoded job
		}
	})
}
