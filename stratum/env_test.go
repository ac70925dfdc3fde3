package stratum_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/brokertest"
	"github.com/proofow/powbroker/broker/stratumpool"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/embedded"
	"github.com/proofow/powbroker/miner"
	"github.com/proofow/powbroker/store"
	"github.com/proofow/powbroker/stratum"
)

// Test network: blocks need about 2^16 hashes, shares 2^8 (difficulty 2^-24), orders
// 16 shares, so a test mines shares that are not blocks, and blocks when it wants them.
const (
	testBits      = brokertest.Bits
	testShareDiff = brokertest.ShareDiff
	testMinWork   = brokertest.MinWork
)

type env struct {
	t      testing.TB
	chain  *embedded.Chain
	store  *store.Store
	broker *broker.Broker
	srv    *stratum.Server
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

func quiet() *slog.Logger { return brokertest.Quiet() }

func testBrokerConfig() broker.Config { return brokertest.Config() }

// testStratumConfig: fixed share difficulty unless a test changes it (vardiff reacts
// only after 10 minutes), short timeouts.
func testStratumConfig() stratum.Config {
	return stratum.Config{
		StartDifficulty:     testShareDiff,
		MinDifficulty:       1e-12,
		TargetShareInterval: 10 * time.Minute,
		RetargetInterval:    10 * time.Minute,
		RequestsPerSecond:   1000,
		RequestBurst:        1000,
		Logger:              quiet(),
	}
}

type envOpts struct {
	bits    uint32
	broker  broker.Config
	stratum stratum.Config
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	if o.stratum.Logger == nil {
		o.stratum = testStratumConfig()
	}
	e := &env{t: t}
	ctx := context.Background()
	be := brokertest.Open(t, t.TempDir(), brokertest.Options{Bits: o.bits, Config: o.broker, Threads: 2})
	e.chain, e.store, e.broker = be.Chain, be.Store, be.Broker
	if err := e.broker.Start(ctx); err != nil {
		t.Fatalf("broker start: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	e.srv = stratum.NewServer(stratumpool.New(e.broker), o.stratum)
	rctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	e.done = make(chan struct{})
	go func() {
		defer close(e.done)
		go func() { _ = e.broker.Run(rctx) }()
		_ = e.srv.Serve(rctx, ln)
	}()
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	<-e.done
	e.cancel = nil
	_ = e.store.Close()
	_ = e.chain.Close()
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

type order struct {
	id, token, txid string
}

// newOrder creates an order for a fresh faucet transaction and waits until the
// current job carries it.
func (e *env) newOrder(fee int64) order {
	e.t.Helper()
	ctx := e.ctx()
	tx, err := e.chain.Faucet(ctx, 1_000_000, fee)
	if err != nil {
		e.t.Fatalf("faucet: %v", err)
	}
	var buf bytes.Buffer
	_ = tx.Serialize(&buf)
	raw := hex.EncodeToString(buf.Bytes())
	c, err := e.broker.CreateOrder(ctx, raw, "", []byte(raw))
	if err != nil {
		e.t.Fatalf("create order: %v", err)
	}
	o := order{id: c.Order.ID, token: c.Token, txid: c.Order.Txid}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if j := e.broker.CurrentJob(); j != nil && j.HasOrder(o.id) {
			return o
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("no job carries order %s", o.id)
	return o
}

func (e *env) orderState(o order) *broker.Order {
	e.t.Helper()
	so, err := e.store.Order(e.ctx(), o.id)
	if err != nil {
		e.t.Fatal(err)
	}
	return so
}

func (e *env) waitState(o order, state broker.State) *broker.Order {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if so := e.orderState(o); so.State == state {
			return so
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("order %s is %s, want %s", o.id, e.orderState(o).State, state)
	return nil
}

// msg is one line from the server.
type msg struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
	Result json.RawMessage   `json:"result"`
	Error  json.RawMessage   `json:"error"`
	raw    string
	keys   map[string]json.RawMessage
}

// code returns the error code of a reply, 0 for "error": null.
func (m *msg) code() int {
	if len(m.Error) == 0 || string(m.Error) == "null" {
		return 0
	}
	var e []json.RawMessage
	if err := json.Unmarshal(m.Error, &e); err != nil || len(e) != 3 {
		return -1
	}
	var c int
	_ = json.Unmarshal(e[0], &c)
	return c
}

func (m *msg) errText() string {
	var e []json.RawMessage
	_ = json.Unmarshal(m.Error, &e)
	if len(e) < 2 {
		return ""
	}
	var s string
	_ = json.Unmarshal(e[1], &s)
	return s
}

// job is a notify as a test miner keeps it, with the difficulty in force.
type job struct {
	n    *stratum.Notify
	diff float64
	raw  []json.RawMessage
}

// conn is a raw test miner over TCP.
type conn struct {
	t      testing.TB
	c      net.Conn
	r      *bufio.Reader
	nextID int
	diff   float64
	jobs   []*job
	en1    []byte
	en2    int
	sid    string
	notes  []*msg // notifications seen while waiting for replies
	nonce  uint32
}

func (e *env) dial() *conn {
	return dialAddr(e.t, e.addr, "")
}

func dialAddr(t testing.TB, addr, local string) *conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &conn{t: t, c: c, r: bufio.NewReader(c), nextID: 1}
}

func (c *conn) write(s string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes a request and returns its id.
func (c *conn) send(method string, params ...any) int {
	c.t.Helper()
	id := c.nextID
	c.nextID++
	if params == nil {
		params = []any{}
	}
	b, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	c.write(string(b) + "\n")
	return id
}

// next reads the next line within the timeout; nil when the connection ended.
func (c *conn) next(timeout time.Duration) *msg {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(timeout))
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil
	}
	m := &msg{raw: line}
	if err := json.Unmarshal([]byte(line), m); err != nil {
		c.t.Fatalf("server sent invalid JSON %q: %v", line, err)
	}
	_ = json.Unmarshal([]byte(line), &m.keys)
	c.track(m)
	return m
}

func (c *conn) mustNext() *msg {
	c.t.Helper()
	m := c.next(10 * time.Second)
	if m == nil {
		c.t.Fatal("connection ended or timed out")
	}
	return m
}

// track follows set_difficulty, notify and set_extranonce.
func (c *conn) track(m *msg) {
	switch m.Method {
	case "mining.set_difficulty":
		_ = json.Unmarshal(m.Params[0], &c.diff)
	case "mining.notify":
		n, err := stratum.ParseNotify(m.Params)
		if err != nil {
			c.t.Fatalf("notify: %v (%s)", err, m.raw)
		}
		c.jobs = append(c.jobs, &job{n: n, diff: c.diff, raw: m.Params})
	case "mining.set_extranonce":
		var s string
		_ = json.Unmarshal(m.Params[0], &s)
		c.en1, _ = hex.DecodeString(s)
	}
}

// reply waits for the reply to id, keeping notifications.
func (c *conn) reply(id int) *msg {
	c.t.Helper()
	for {
		m := c.mustNext()
		if m.Method != "" {
			c.notes = append(c.notes, m)
			continue
		}
		if string(m.ID) != fmt.Sprint(id) {
			c.t.Fatalf("reply with id %s, want %d: %s", m.ID, id, m.raw)
		}
		if _, ok := m.keys["result"]; !ok || m.keys["error"] == nil {
			c.t.Fatalf("reply lacks result or error: %s", m.raw)
		}
		return m
	}
}

// call sends a request and returns its reply.
func (c *conn) call(method string, params ...any) *msg {
	c.t.Helper()
	return c.reply(c.send(method, params...))
}

// waitMethod reads until a notification with the method arrives (or was seen).
func (c *conn) waitMethod(method string) *msg {
	c.t.Helper()
	for i, m := range c.notes {
		if m.Method == method {
			c.notes = append(c.notes[:i:i], c.notes[i+1:]...)
			return m
		}
	}
	for {
		m := c.mustNext()
		if m.Method == method {
			return m
		}
		if m.Method != "" {
			c.notes = append(c.notes, m)
		}
	}
}

// handshake subscribes and authorizes, and waits for the first job.
func (c *conn) handshake(token string) {
	c.t.Helper()
	r := c.call("mining.subscribe", "test/1.0")
	c.readSubscribe(r)
	if a := c.call("mining.authorize", token, "x"); string(a.Result) != "true" || a.code() != 0 {
		c.t.Fatalf("authorize: %s", a.raw)
	}
	c.waitMethod("mining.notify")
}

func (c *conn) readSubscribe(r *msg) {
	c.t.Helper()
	var res []json.RawMessage
	if err := json.Unmarshal(r.Result, &res); err != nil || len(res) != 3 {
		c.t.Fatalf("subscribe result %s", r.raw)
	}
	var s string
	if err := json.Unmarshal(res[1], &s); err != nil {
		c.t.Fatalf("extranonce1 not a string: %s", r.raw)
	}
	c.en1, _ = hex.DecodeString(s)
	c.sid = s
	if err := json.Unmarshal(res[2], &c.en2); err != nil {
		c.t.Fatalf("extranonce2_size not an integer: %s", r.raw)
	}
}

func (c *conn) last() *job {
	c.t.Helper()
	if len(c.jobs) == 0 {
		c.t.Fatal("no job yet")
	}
	return c.jobs[len(c.jobs)-1]
}

// independentHeader rebuilds a share's header with btcd's types only, not with the
// stratum package: coinbase from the halves, merkle root with HashMerkleBranches,
// wire.BlockHeader serialization.
func independentHeader(t testing.TB, params []json.RawMessage, en1, en2 []byte, version, ntime, nonce uint32) [80]byte {
	t.Helper()
	var s [9]string
	for i := 0; i < 8; i++ {
		if i == 4 {
			continue
		}
		if err := json.Unmarshal(params[i], &s[i]); err != nil {
			t.Fatal(err)
		}
	}
	var branch []string
	_ = json.Unmarshal(params[4], &branch)
	unhex := func(h string) []byte {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cb := append(append(append(unhex(s[2]), en1...), en2...), unhex(s[3])...)
	root := chainhash.DoubleHashH(cb)
	for _, b := range branch {
		var h chainhash.Hash
		copy(h[:], unhex(b))
		root = blockchain.HashMerkleBranches(&root, &h)
	}
	// prevhash: display hash with the order of its eight words reversed.
	ph := unhex(s[1])
	var prev chainhash.Hash
	for w := 0; w < 8; w++ {
		for k := 0; k < 4; k++ {
			prev[4*w+k] = ph[4*w+3-k]
		}
	}
	bits := binary.BigEndian.Uint32(unhex(s[6]))
	hdr := wire.BlockHeader{Version: int32(version), PrevBlock: prev, MerkleRoot: root,
		Timestamp: time.Unix(int64(ntime), 0), Bits: bits, Nonce: nonce}
	var buf bytes.Buffer
	_ = hdr.Serialize(&buf)
	return [80]byte(buf.Bytes())
}

// share is a found nonce for a job.
type share struct {
	j       *job
	en2     []byte
	nonce   uint32
	version uint32 // full header version
	bits    uint32 // version bits sent (6-param submits)
	hash    chainhash.Hash
}

// find scans a job for shares at the job's difficulty: n of them, which meet the
// network target only when block is set (and never when it is not).
func (c *conn) find(j *job, n int, block bool, versionBits, mask uint32) []share {
	c.t.Helper()
	return findShares(c.t, j, c.en1, n, block, versionBits, mask, j.diff, &c.nonce)
}

func findShares(t testing.TB, j *job, en1 []byte, n int, block bool, versionBits, mask uint32, diff float64, start *uint32) []share {
	t.Helper()
	en2 := make([]byte, 4)
	binary.LittleEndian.PutUint32(en2, *start>>8)
	version := stratum.RollVersion(j.n.Version, versionBits, mask)
	hdr := miner.Header(independentHeader(t, j.raw, en1, en2, version, j.n.NTime, 0))
	if mine := j.n.Header(en1, en2, version, j.n.NTime, 0); mine != [80]byte(hdr) {
		t.Fatalf("stratum.Notify.Header differs from the independent rebuild")
	}
	shareT := miner.TargetFromBig(chain.DifficultyTarget(diff))
	netT := miner.TargetFromBig(blockchain.CompactToBig(j.n.Bits))
	var out []share
	for _, f := range brokertest.Scan(t, miner.Best(), &hdr, *start, 1<<30, &shareT, &netT, n, block) {
		out = append(out, share{j: j, en2: en2, nonce: f.Nonce, version: version, bits: versionBits & mask, hash: f.Hash})
	}
	*start = out[len(out)-1].nonce + 1
	return out
}

// findLow returns a nonce whose hash does NOT meet the job's share difficulty.
func (c *conn) findLow(j *job) share {
	c.t.Helper()
	en2 := []byte{9, 9, 9, 9}
	shareT := chain.DifficultyTarget(j.diff)
	for nonce := uint32(0); ; nonce++ {
		h := miner.Header(j.n.Header(c.en1, en2, j.n.Version, j.n.NTime, nonce))
		sum := chainhash.Hash(miner.Sum(&h))
		if blockchain.HashToBig(&sum).Cmp(shareT) > 0 {
			return share{j: j, en2: en2, nonce: nonce, version: j.n.Version, hash: sum}
		}
	}
}

// submit sends a share (6 params when sixth is set) and returns the reply.
func (c *conn) submit(worker string, s share, sixth bool) *msg {
	c.t.Helper()
	p := []any{worker, s.j.n.JobID, hex.EncodeToString(s.en2), stratum.Hex32(s.j.n.NTime), stratum.Hex32(s.nonce)}
	if sixth {
		p = append(p, stratum.Hex32(s.bits))
	}
	return c.call("mining.submit", p...)
}

func diffOfHash(h *chainhash.Hash) float64 { return chain.HashDifficulty(h) }

var _ = big.NewInt
var _ = strings.Contains
