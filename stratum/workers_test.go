package stratum_test

import (
	"strings"
	"testing"
)

// TestWorkers: the status page's view of sessions: suffix (never the token), accepted
// shares and rejects by reason.
func TestWorkers(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	c := e.dial()
	c.handshake(o.token + ".rig7")
	ss := c.find(c.last(), 3, false, 0, 0)
	for _, s := range ss {
		if r := c.submit(o.token+".rig7", s, false); string(r.Result) != "true" {
			t.Fatalf("share: %s", r.raw)
		}
	}
	if r := c.submit(o.token+".rig7", ss[0], false); r.code() != 22 {
		t.Fatalf("duplicate: %s", r.raw)
	}
	if r := c.submit(o.token+".rig7", c.findLow(c.last()), false); r.code() != 23 {
		t.Fatalf("low: %s", r.raw)
	}
	ws := e.srv.Workers()
	if len(ws) != 1 {
		t.Fatalf("workers %+v", ws)
	}
	w := ws[0]
	if w.Account != o.id || w.Suffix != "rig7" || w.Accepted != 3 || w.Rejected["duplicate"] != 1 ||
		w.Rejected["low-difficulty"] != 1 || w.LastShare.IsZero() || w.ConnectedSince.IsZero() || !(w.Hashrate > 0) || !(w.Difficulty > 0) {
		t.Fatalf("worker %+v", w)
	}
	if strings.Contains(w.Suffix+w.Account, o.token) {
		t.Fatal("the token shows in the worker list")
	}
}
