package stratum_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/stratumpool"
	"github.com/proofow/powbroker/stratum"
)

// TestHandshake: configure, subscribe (reply is the very next line), authorize, then
// set_difficulty before the first notify, whose nine params match the broker's job.
func TestHandshake(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	c := e.dial()
	r := c.call("mining.configure", []string{"version-rolling", "info"}, map[string]any{"version-rolling.mask": "ffffffff", "version-rolling.min-bit-count": 2})
	var conf map[string]any
	if err := json.Unmarshal(r.Result, &conf); err != nil || conf["version-rolling"] != true || conf["version-rolling.mask"] != "1fffe000" || conf["info"] != false {
		t.Fatalf("configure: %s", r.raw)
	}
	id := c.send("mining.subscribe", "cpuminer/2.5.1")
	first := c.mustNext()
	if first.Method != "" || string(first.ID) != fmt.Sprint(id) {
		t.Fatalf("the line after subscribe is not its reply: %s", first.raw)
	}
	c.readSubscribe(first)
	if len(c.en1) != 4 || c.en2 != 4 || c.sid != hex.EncodeToString(c.en1) {
		t.Fatalf("subscribe result %s", first.raw)
	}
	if !strings.Contains(first.raw, `"mining.notify"`) || !strings.Contains(first.raw, `"mining.set_difficulty"`) {
		t.Fatalf("subscriptions missing: %s", first.raw)
	}
	id = c.send("mining.authorize", o.token+".rig1", "x")
	if m := c.mustNext(); string(m.ID) != fmt.Sprint(id) || string(m.Result) != "true" || string(m.Error) != "null" {
		t.Fatalf("authorize reply %s", m.raw)
	}
	sd := c.mustNext()
	if sd.Method != "mining.set_difficulty" || c.diff != testShareDiff || string(sd.ID) != "null" {
		t.Fatalf("want set_difficulty %g first, got %s", testShareDiff, sd.raw)
	}
	n := c.mustNext()
	if n.Method != "mining.notify" || len(n.Params) != 9 {
		t.Fatalf("want notify, got %s", n.raw)
	}
	var p [8]string
	for i := range 8 {
		if i != 4 {
			_ = json.Unmarshal(n.Params[i], &p[i])
		}
	}
	bj := e.broker.CurrentJob()
	want := stratum.SwapWords(bj.PrevHash)
	var clean bool
	_ = json.Unmarshal(n.Params[8], &clean)
	checks := []struct {
		name      string
		got, want string
	}{
		{"prevhash", p[1], hex.EncodeToString(want[:])},
		{"coinb1", p[2], hex.EncodeToString(bj.Assembly.Coinb1)},
		{"coinb2", p[3], hex.EncodeToString(bj.Assembly.Coinb2)},
		{"version", p[5], fmt.Sprintf("%08x", uint32(bj.Version)&^0x1fffe000)},
		{"nbits", p[6], fmt.Sprintf("%08x", bj.Bits)},
		{"ntime", p[7], fmt.Sprintf("%08x", bj.NTime)},
		{"clean", fmt.Sprint(clean), "true"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %s, want %s", ck.name, ck.got, ck.want)
		}
	}
	// The word-swapped prevhash is the display hash with its words reversed.
	disp := bj.PrevHash.String()
	var words []string
	for i := 56; i >= 0; i -= 8 {
		words = append(words, disp[i:i+8])
	}
	if p[1] != strings.Join(words, "") {
		t.Errorf("prevhash %s is not the display hash %s with its words reversed", p[1], disp)
	}
	var branch []string
	_ = json.Unmarshal(n.Params[4], &branch)
	if len(branch) != len(bj.Assembly.Branch) {
		t.Fatalf("branch has %d hashes, want %d", len(branch), len(bj.Assembly.Branch))
	}
	for i, b := range branch {
		if b != hex.EncodeToString(bj.Assembly.Branch[i][:]) {
			t.Errorf("branch %d = %s", i, b)
		}
	}
	// A share rebuilt from these fields by the independent header code is accepted.
	s := c.find(c.last(), 1, false, 0, 0)[0]
	if r := c.submit(o.token+".rig1", s, false); string(r.Result) != "true" || r.code() != 0 {
		t.Fatalf("share: %s", r.raw)
	}
}

// TestErrorCodes: every error code, for the reason the issue names.
func TestErrorCodes(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	c := e.dial()
	c.handshake(o.token)
	j := c.last()
	good := c.find(j, 2, false, 0, 0)
	hexNonce := stratum.Hex32(good[0].nonce)
	en2 := hex.EncodeToString(good[0].en2)
	ntime := stratum.Hex32(j.n.NTime)
	low := c.findLow(j)
	if r := c.submit(o.token, good[0], false); r.code() != 0 {
		t.Fatalf("first share: %s", r.raw)
	}
	future := stratum.Hex32(uint32(time.Now().Add(3 * time.Hour).Unix()))
	tests := []struct {
		name   string
		params []any
		code   int
		text   string
	}{
		{"nonce of 7 hex digits", []any{o.token, j.n.JobID, en2, ntime, hexNonce[1:]}, 20, "nonce"},
		{"nonce not hex", []any{o.token, j.n.JobID, en2, ntime, "zzzzzzzz"}, 20, "nonce"},
		{"extranonce2 of 3 bytes", []any{o.token, j.n.JobID, en2[:6], ntime, hexNonce}, 20, "extranonce2"},
		{"extranonce2 of 5 bytes", []any{o.token, j.n.JobID, en2 + "00", ntime, hexNonce}, 20, "extranonce2"},
		{"ntime 3 h ahead", []any{o.token, j.n.JobID, en2, future, hexNonce}, 20, "future"},
		{"ntime before the job's minimum", []any{o.token, j.n.JobID, en2, "00000001", hexNonce}, 20, "minimum"},
		{"four params", []any{o.token, j.n.JobID, en2, ntime}, 20, "5 or 6"},
		{"job not found", []any{o.token, "ffffff", en2, ntime, hexNonce}, 21, "not found"},
		{"duplicate", []any{o.token, j.n.JobID, en2, ntime, hexNonce}, 22, "already"},
		{"low difficulty", []any{o.token, j.n.JobID, hex.EncodeToString(low.en2), ntime, stratum.Hex32(low.nonce)}, 23, "below"},
		{"worker not authorized here", []any{"pow_other", j.n.JobID, en2, ntime, hexNonce}, 24, "not authorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.call("mining.submit", tc.params...)
			if r.code() != tc.code || string(r.Result) != "null" || !strings.Contains(r.errText(), tc.text) {
				t.Fatalf("got %s, want code %d mentioning %q", r.raw, tc.code, tc.text)
			}
		})
	}
	if r := c.submit(o.token, good[1], false); r.code() != 0 {
		t.Fatalf("a good share after the errors: %s", r.raw)
	}

	t.Run("unknown method", func(t *testing.T) {
		r := c.call("mining.get_transactions", j.n.JobID)
		if r.code() != 20 || !strings.Contains(r.errText(), "unknown method") {
			t.Fatalf("%s", r.raw)
		}
	})
	t.Run("string id echoed", func(t *testing.T) {
		c.write(`{"id":"abc-1","method":"mining.extranonce.subscribe","params":[]}` + "\n")
		m := c.mustNext()
		if string(m.ID) != `"abc-1"` || string(m.Result) != "true" || string(m.Error) != "null" {
			t.Fatalf("%s", m.raw)
		}
	})
	t.Run("null id gets no reply", func(t *testing.T) {
		c.write(`{"id":null,"method":"mining.extranonce.subscribe","params":[]}` + "\n")
		r := c.call("mining.extranonce.subscribe")
		if r.code() != 0 {
			t.Fatalf("%s", r.raw)
		}
	})
	t.Run("malformed JSON", func(t *testing.T) {
		c.write("{\"id\":7,\"method\":\n")
		m := c.mustNext()
		if m.code() != 20 || string(m.ID) != "null" || string(m.Result) != "null" {
			t.Fatalf("%s", m.raw)
		}
	})
	t.Run("submit before authorize", func(t *testing.T) {
		c2 := e.dial()
		if r := c2.call("mining.submit", o.token, j.n.JobID, en2, ntime, hexNonce); r.code() != 24 {
			t.Fatalf("no subscribe: %s", r.raw)
		}
		c2.readSubscribe(c2.call("mining.subscribe"))
		if r := c2.call("mining.submit", o.token, j.n.JobID, en2, ntime, hexNonce); r.code() != 24 {
			t.Fatalf("subscribed: %s", r.raw)
		}
	})
	t.Run("authorized but not subscribed", func(t *testing.T) {
		c3 := e.dial()
		if r := c3.call("mining.authorize", o.token, ""); string(r.Result) != "true" {
			t.Fatalf("authorize: %s", r.raw)
		}
		if r := c3.call("mining.submit", o.token, j.n.JobID, en2, ntime, hexNonce); r.code() != 25 {
			t.Fatalf("%s", r.raw)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		c4 := e.dial()
		if r := c4.call("mining.authorize", "pow_nosuchtoken.rig", "x"); r.code() != 24 || string(r.Result) != "null" {
			t.Fatalf("%s", r.raw)
		}
	})
}

// TestVersionRolling: a 6-param share with rolled bits inside the mask is accepted,
// bits outside it are refused, and a client that negotiated nothing may not roll.
func TestVersionRolling(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	c := e.dial()
	r := c.call("mining.configure", []string{"version-rolling"}, map[string]any{"version-rolling.mask": "ffffffff"})
	if !strings.Contains(string(r.Result), `"1fffe000"`) {
		t.Fatalf("configure %s", r.raw)
	}
	c.handshake(o.token)
	j := c.last()
	if j.n.Version&0x1fffe000 != 0 {
		t.Fatalf("job version %08x carries bits inside the mask", j.n.Version)
	}
	const mask = 0x1fffe000
	rolled := c.find(j, 1, false, 0x00006000, mask)[0]
	if rolled.version != j.n.Version|0x00006000 {
		t.Fatalf("rolled version %08x", rolled.version)
	}
	if r := c.submit(o.token, rolled, true); string(r.Result) != "true" {
		t.Fatalf("rolled share: %s", r.raw)
	}
	// The same nonce with other rolled bits is another header, not a duplicate.
	other := c.find(j, 1, false, 0x10000000, mask)[0]
	if r := c.submit(o.token, other, true); string(r.Result) != "true" {
		t.Fatalf("second rolled share: %s", r.raw)
	}
	outside := rolled
	outside.bits = 0x40000000
	if r := c.submit(o.token, outside, true); r.code() != 20 || !strings.Contains(r.errText(), "mask") {
		t.Fatalf("bits outside the mask: %s", r.raw)
	}
	// Without configure, the mask is empty: any rolled bit is refused, zero is fine.
	c2 := e.dial()
	c2.handshake(o.token)
	j2 := c2.last()
	s := c2.find(j2, 2, false, 0, 0)
	s[0].bits = 0x00002000
	if r := c2.submit(o.token, s[0], true); r.code() != 20 {
		t.Fatalf("rolling without configure: %s", r.raw)
	}
	if r := c2.submit(o.token, s[1], true); string(r.Result) != "true" {
		t.Fatalf("six params with zero bits: %s", r.raw)
	}
	// set_version_mask narrows the mask immediately.
	e.srv.SetVersionMask(0x00006000)
	m := c.waitMethod("mining.set_version_mask")
	if !strings.Contains(m.raw, `"00006000"`) {
		t.Fatalf("set_version_mask %s", m.raw)
	}
	narrow := c.find(j, 1, false, 0x10000000, mask)[0]
	if r := c.submit(o.token, narrow, true); r.code() != 20 {
		t.Fatalf("bit outside the new mask: %s", r.raw)
	}
}

// TestResume: a session id given back on reconnect resumes the extranonce1 when no
// live session holds it.
func TestResume(t *testing.T) {
	e := newEnv(t, envOpts{})
	c1 := e.dial()
	c1.readSubscribe(c1.call("mining.subscribe", "test"))
	sid, en1 := c1.sid, hex.EncodeToString(c1.en1)
	_ = c1.c.Close()
	waitSessions(t, e, 0)
	c2 := e.dial()
	c2.readSubscribe(c2.call("mining.subscribe", "test", sid))
	if hex.EncodeToString(c2.en1) != en1 {
		t.Fatalf("resumed extranonce1 %x, want %s", c2.en1, en1)
	}
	// While c2 holds it, nobody else gets it.
	c3 := e.dial()
	c3.readSubscribe(c3.call("mining.subscribe", "test", sid))
	if hex.EncodeToString(c3.en1) == en1 {
		t.Fatal("a live session's extranonce1 was handed out twice")
	}
	// An id this server never issued gives a fresh one.
	c4 := e.dial()
	c4.readSubscribe(c4.call("mining.subscribe", "test", "deadbeef"))
	if hex.EncodeToString(c4.en1) == "deadbeef" || hex.EncodeToString(c4.en1) == en1 {
		t.Fatalf("unknown session id gave %x", c4.en1)
	}
}

func waitSessions(t *testing.T, e *env, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.Stats().Sessions != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions, want %d", e.srv.Stats().Sessions, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDifficultyChangeMidJob: after a difficulty change, shares for the job sent
// before it are judged at the old difficulty, shares for the new job at the new one.
func TestDifficultyChangeMidJob(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	c := e.dial()
	c.handshake(o.token)
	old := c.last()
	// Shares at the old difficulty that miss 16x the difficulty.
	var easy []share
	for len(easy) < 2 {
		for _, s := range c.find(old, 1, false, 0, 0) {
			if diffOfHash(&s.hash) < 16*testShareDiff {
				easy = append(easy, s)
			}
		}
	}
	if r := c.call("mining.suggest_difficulty", 16*testShareDiff); string(r.Result) != "true" {
		t.Fatalf("suggest: %s", r.raw)
	}
	sd := c.waitMethod("mining.set_difficulty")
	n := c.waitMethod("mining.notify")
	if c.diff != 16*testShareDiff || !strings.HasSuffix(strings.TrimSpace(n.raw), "false]}") {
		t.Fatalf("after suggest: %s then %s", sd.raw, n.raw)
	}
	cur := c.last()
	if cur.n.JobID == old.n.JobID || cur.diff != 16*testShareDiff {
		t.Fatalf("new job %s at %g", cur.n.JobID, cur.diff)
	}
	if r := c.submit(o.token, easy[0], false); string(r.Result) != "true" {
		t.Fatalf("old job's share at its own difficulty: %s", r.raw)
	}
	moved := easy[1]
	moved.j = cur
	if r := c.submit(o.token, moved, false); r.code() != 23 {
		t.Fatalf("the same kind of share for the new job: %s", r.raw)
	}
	hard := c.find(cur, 1, false, 0, 0)[0]
	if r := c.submit(o.token, hard, false); string(r.Result) != "true" {
		t.Fatalf("share at the new difficulty: %s", r.raw)
	}
	// Fractional difficulties both ways: a suggestion below 1 and password d=.
	o2 := e.newOrder(0)
	c2 := e.dial()
	c2.readSubscribe(c2.call("mining.subscribe"))
	if r := c2.call("mining.authorize", o2.token, "x,d=0.00000123"); string(r.Result) != "true" {
		t.Fatalf("authorize with d=: %s", r.raw)
	}
	c2.waitMethod("mining.notify")
	if c2.diff != 0.00000123 {
		t.Fatalf("d= password gave difficulty %g", c2.diff)
	}
	// A suggestion above the network difficulty is capped at it.
	c2.notes = nil
	c2.call("mining.suggest_difficulty", 1000)
	c2.waitMethod("mining.set_difficulty")
	if nd := e.broker.CurrentJob().NetworkDifficulty(); c2.diff != nd {
		t.Fatalf("suggested 1000, got %g, network difficulty %g", c2.diff, nd)
	}
}

// TestStaleAfterNewTip: a new tip sends clean_jobs=true to every session; a share for
// the previous tip's job is stale (21).
func TestStaleAfterNewTip(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	a, b := e.dial(), e.dial()
	a.handshake(o.token)
	b.handshake(o.token)
	s := a.find(a.last(), 1, false, 0, 0)[0]
	if _, err := e.chain.Generate(e.ctx(), 1, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*conn{a, b} {
		for {
			n := c.waitMethod("mining.notify")
			if c.last().n.Clean {
				break
			}
			_ = n
		}
		if c.last().n.PrevHash == s.j.n.PrevHash {
			t.Fatal("clean job on the old tip")
		}
	}
	if r := a.submit(o.token, s, false); r.code() != 21 {
		t.Fatalf("stale share: %s", r.raw)
	}
	fresh := a.find(a.last(), 1, false, 0, 0)[0]
	if r := a.submit(o.token, fresh, false); string(r.Result) != "true" {
		t.Fatalf("share on the new tip: %s", r.raw)
	}
}

// TestBlockOverStratum: a share that meets the network target submits a block whose
// transactions include the order's transaction; the order gets mined.
func TestBlockOverStratum(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(1000)
	c := e.dial()
	c.call("mining.configure", []string{"version-rolling"}, map[string]any{})
	c.handshake(o.token)
	blk := c.find(c.last(), 1, true, 0x00012000, 0x1fffe000)[0]
	if r := c.submit(o.token, blk, true); string(r.Result) != "true" {
		t.Fatalf("block share: %s", r.raw)
	}
	mined := e.waitState(o, broker.StateMined)
	var bh, txid chainhash.Hash
	_ = chainhash.Decode(&bh, mined.BlockHash)
	_ = chainhash.Decode(&txid, o.txid)
	if bh != chainhash.Hash(blk.hash) {
		t.Fatalf("order mined in %s, the share's hash is %s", bh, chainhash.Hash(blk.hash))
	}
	block, _, err := e.chain.Block(e.ctx(), bh)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tx := range block.Transactions {
		found = found || tx.TxHash() == txid
	}
	if !found || uint32(block.Header.Version) != blk.version {
		t.Fatalf("block %s: order tx included %v, version %08x want %08x", bh, found, uint32(block.Header.Version), blk.version)
	}
	// The session gets the next tip's clean job and the mined order's message.
	m := c.waitMethod("client.show_message")
	if !strings.Contains(m.raw, o.id) || !strings.Contains(m.raw, "mined") {
		t.Fatalf("show_message %s", m.raw)
	}
}

// TestOrderPaid: the share that pays the order is followed by client.show_message,
// no more jobs, and error 24 naming the state for later submits and authorizes.
func TestOrderPaid(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	c := e.dial()
	c.handshake(o.token)
	ss := c.find(c.last(), 17, false, 0, 0)
	for i, s := range ss[:16] {
		if r := c.submit(o.token, s, false); string(r.Result) != "true" {
			t.Fatalf("share %d: %s", i, r.raw)
		}
	}
	m := c.waitMethod("client.show_message")
	if !strings.Contains(m.raw, "order "+o.id+" is paid") {
		t.Fatalf("show_message %s", m.raw)
	}
	if st := e.orderState(o); st.State != broker.StatePaid {
		t.Fatalf("order is %s", st.State)
	}
	if r := c.submit(o.token, ss[16], false); r.code() != 24 || !strings.Contains(r.errText(), "is paid") {
		t.Fatalf("share after paid: %s", r.raw)
	}
	// A new tip: the session gets no job.
	jobs := len(c.jobs)
	if _, err := e.chain.Generate(e.ctx(), 1, nil); err != nil {
		t.Fatal(err)
	}
	for m := c.next(700 * time.Millisecond); m != nil; m = c.next(700 * time.Millisecond) {
		if m.Method == "mining.notify" {
			t.Fatalf("a job after the order was paid: %s", m.raw)
		}
	}
	if len(c.jobs) != jobs {
		t.Fatalf("jobs after paid")
	}
	c2 := e.dial()
	c2.readSubscribe(c2.call("mining.subscribe"))
	if r := c2.call("mining.authorize", o.token, "x"); r.code() != 24 || !strings.Contains(r.errText(), "is paid") {
		t.Fatalf("authorize for a paid order: %s", r.raw)
	}
	// The refusals are counted: the submit for the paid order under code 24 and as
	// order-done, the authorize as a failure.
	st := e.srv.Stats()
	if st.Accepted != 16 || st.RejectedBy["24"] != 1 || st.RejectedBy[stratum.ReasonOrderDone] != 1 || st.Rejected != 1 ||
		st.AuthorizeFailed != 1 || st.Sessions != 2 || st.Workers != 1 || st.ConnsAccepted != 2 || st.DifficultyMax <= 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestJobRefreshAndVardiff: a session that saw no new job for JobRefresh gets the
// current job again under a new id with a later ntime; vardiff raises the difficulty
// of a miner that shares too fast and lowers it when shares stop, fractional both ways.
func TestJobRefreshAndVardiff(t *testing.T) {
	cfg := testStratumConfig()
	cfg.JobRefresh = 400 * time.Millisecond
	cfg.TargetShareInterval, cfg.RetargetInterval = time.Second, 2*time.Second
	bcfg := testBrokerConfig()
	bcfg.Pricing.MinWork = 1e6 * testShareDiff
	e := newEnv(t, envOpts{broker: bcfg, stratum: cfg})
	o := e.newOrder(0)
	c := e.dial()
	c.handshake(o.token)
	first := c.last()
	c.waitMethod("mining.notify")
	again := c.last()
	if again.n.JobID == first.n.JobID || again.n.NTime <= first.n.NTime || again.n.PrevHash != first.n.PrevHash {
		t.Fatalf("refresh: job %s ntime %d after job %s ntime %d", again.n.JobID, again.n.NTime, first.n.JobID, first.n.NTime)
	}
	// 16 shares well within a quarter of the retarget time: too fast, difficulty up.
	start := c.diff
	for _, s := range c.find(again, 16, false, 0, 0) {
		if r := c.submit(o.token, s, false); r.code() != 0 && r.code() != 21 {
			t.Fatalf("share: %s", r.raw)
		}
	}
	c.notes = nil
	for deadline := time.Now().Add(10 * time.Second); c.diff == start; {
		if time.Now().After(deadline) {
			t.Fatal("no difficulty change after a burst of shares")
		}
		c.waitMethod("mining.set_difficulty")
	}
	up := c.diff
	if up <= start || up > 16*start {
		t.Fatalf("difficulty after a burst: %g, started at %g", up, start)
	}
	// Silence: after the retarget time and three share intervals, it comes down.
	for deadline := time.Now().Add(10 * time.Second); c.diff == up; {
		if time.Now().After(deadline) {
			t.Fatal("no difficulty change after silence")
		}
		c.waitMethod("mining.set_difficulty")
	}
	if c.diff >= up {
		t.Fatalf("difficulty after silence: %g, was %g", c.diff, up)
	}
	t.Logf("difficulty %g -> %g -> %g", start, up, c.diff)
}

// TestStaleBlock: a share that meets the network target on a job that went stale is
// answered 21, but its block is still submitted to the chain.
func TestStaleBlock(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	c := e.dial()
	c.handshake(o.token)
	blk := c.find(c.last(), 1, true, 0, 0)[0]
	if _, err := e.chain.Generate(e.ctx(), 1, nil); err != nil {
		t.Fatal(err)
	}
	for !c.last().n.Clean || c.last().n.PrevHash == blk.j.n.PrevHash {
		c.waitMethod("mining.notify")
	}
	if r := c.submit(o.token, blk, false); r.code() != 21 {
		t.Fatalf("stale block share: %s", r.raw)
	}
	blocks, err := e.store.Blocks(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	want := chainhash.Hash(blk.hash).String()
	for _, b := range blocks {
		if b.Hash == want {
			if _, _, err := e.chain.Block(e.ctx(), chainhash.Hash(blk.hash)); err != nil {
				t.Fatalf("the chain does not know block %s: %v", want, err)
			}
			return
		}
	}
	t.Fatalf("block %s of the stale share was not submitted (blocks %v)", want, blocks)
}

// TestShutdownReconnect: when the daemon stops, every miner is told client.reconnect
// before its connection closes.
func TestShutdownReconnect(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	a, b := e.dial(), e.dial()
	a.handshake(o.token)
	b.readSubscribe(b.call("mining.subscribe"))
	e.stop()
	for _, c := range []*conn{a, b} {
		if m := c.waitMethod("client.reconnect"); m.Method != "client.reconnect" {
			t.Fatalf("got %s", m.raw)
		}
		if !c.waitClosed(2 * time.Second) {
			t.Fatal("connection kept after shutdown")
		}
	}
}

// TestCpuminerLike behaves like pooler/cpuminer 2.5.1: every submit has id 4, and
// extranonce2 and the nonce start again at 0 for each new job id. When the server
// sends the same pool job again (here after a difficulty change), the miner's
// restarted search must not produce duplicates: the re-sent job carries a later ntime.
func TestCpuminerLike(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	c := e.dial()
	c.readSubscribe(c.call("mining.subscribe", "cpuminer/2.5.1"))
	c.call("mining.authorize", o.token, "x")
	c.waitMethod("mining.notify")
	submit4 := func(s share) *msg {
		c.write(fmt.Sprintf(`{"method": "mining.submit", "params": ["%s", "%s", "%x", "%08x", "%08x"], "id":4}`+"\n",
			o.token, s.j.n.JobID, s.en2, s.j.n.NTime, s.nonce))
		return c.reply(4)
	}
	first := c.last()
	c.nonce = 0
	a := c.find(first, 1, false, 0, 0)[0]
	if r := submit4(a); string(r.Result) != "true" {
		t.Fatalf("first share: %s", r.raw)
	}
	c.call("mining.suggest_difficulty", testShareDiff*1.5)
	for c.last() == first {
		c.waitMethod("mining.notify")
	}
	second := c.last()
	if second.n.NTime <= first.n.NTime || second.n.PrevHash != first.n.PrevHash {
		t.Fatalf("re-sent job ntime %d, first %d", second.n.NTime, first.n.NTime)
	}
	c.nonce = 0
	b := c.find(second, 1, false, 0, 0)[0]
	if r := submit4(b); string(r.Result) != "true" {
		t.Fatalf("share after the restart at extranonce2 0: %s", r.raw)
	}
	if r := submit4(b); r.code() != 22 || string(r.Result) != "null" {
		t.Fatalf("resubmitted share: %s", r.raw)
	}
}

// TestPipelinedSubmits: many submits in one write are checked concurrently; every
// reply echoes its own request's id although the reader's buffer moved on.
func TestPipelinedSubmits(t *testing.T) {
	bcfg := testBrokerConfig()
	bcfg.Pricing.MinWork = 1e6 * testShareDiff
	e := newEnv(t, envOpts{broker: bcfg})
	o := e.newOrder(0)
	c := e.dial()
	c.handshake(o.token)
	ss := c.find(c.last(), 60, false, 0, 0)
	var b strings.Builder
	want := map[string]bool{}
	for i, s := range ss {
		id := fmt.Sprintf(`"share-%d-%s"`, i, strings.Repeat("x", i))
		want[id] = true
		fmt.Fprintf(&b, `{"id":%s,"method":"mining.submit","params":["%s","%s","%x","%08x","%08x"]}`+"\n",
			id, o.token, s.j.n.JobID, s.en2, s.j.n.NTime, s.nonce)
	}
	c.write(b.String())
	for len(want) > 0 {
		m := c.mustNext()
		if m.Method != "" {
			continue
		}
		if !want[string(m.ID)] || string(m.Result) != "true" {
			t.Fatalf("unexpected reply %s", m.raw)
		}
		delete(want, string(m.ID))
	}
}

// gatedPool holds back the broker's jobs until release is closed, as when the node is
// not ready when the daemon starts.
type gatedPool struct {
	stratum.Pool
	release chan struct{}
}

func (g *gatedPool) Jobs() (<-chan *stratum.Job, func()) {
	in, cancel := g.Pool.Jobs()
	out := make(chan *stratum.Job, 1)
	stop := make(chan struct{})
	go func() {
		select {
		case <-g.release:
		case <-stop:
			return
		}
		for {
			select {
			case j := <-in:
				select {
				case out <- j:
				case <-stop:
					return
				}
			case <-stop:
				return
			}
		}
	}()
	var once sync.Once
	return out, func() { once.Do(func() { close(stop); cancel() }) }
}

// TestNoJobYet: a miner that subscribed and authorized before the pool had any job
// gets set_difficulty and its first job as soon as one exists.
func TestNoJobYet(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	g := &gatedPool{Pool: stratumpool.New(e.broker), release: make(chan struct{})}
	srv := stratum.NewServer(g, testStratumConfig())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	c := dialAddr(t, ln.Addr().String(), "")
	c.readSubscribe(c.call("mining.subscribe"))
	if r := c.call("mining.authorize", o.token, "x"); string(r.Result) != "true" {
		t.Fatalf("authorize: %s", r.raw)
	}
	if m := c.next(300 * time.Millisecond); m != nil {
		t.Fatalf("a message before any job exists: %s", m.raw)
	}
	close(g.release)
	if sd := c.mustNext(); sd.Method != "mining.set_difficulty" {
		t.Fatalf("want set_difficulty first, got %s", sd.raw)
	}
	if n := c.mustNext(); n.Method != "mining.notify" {
		t.Fatalf("want the first job, got %s", n.raw)
	}
	s := c.find(c.last(), 1, false, 0, 0)[0]
	if r := c.submit(o.token, s, false); string(r.Result) != "true" {
		t.Fatalf("share: %s", r.raw)
	}
}

// TestWorkerLimit: one connection may authorize at most 64 worker names.
func TestWorkerLimit(t *testing.T) {
	e := newEnv(t, envOpts{})
	o := e.newOrder(0)
	c := e.dial()
	for i := range 64 {
		if r := c.call("mining.authorize", fmt.Sprintf("%s.rig%d", o.token, i), "x"); string(r.Result) != "true" {
			t.Fatalf("worker %d: %s", i, r.raw)
		}
	}
	if r := c.call("mining.authorize", o.token+".rig64", "x"); r.code() != 20 || !strings.Contains(r.errText(), "64 workers") {
		t.Fatalf("65th worker: %s", r.raw)
	}
	if r := c.call("mining.authorize", o.token+".rig3", "x"); string(r.Result) != "true" {
		t.Fatalf("a known worker again: %s", r.raw)
	}
}
