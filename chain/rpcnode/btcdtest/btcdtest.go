package btcdtest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain/rpcnode/internal/nodeproc"
)

// EnvBinary names the environment variable holding the path of a built btcd.
const EnvBinary = "BTCDTEST_BIN"

// Main builds btcd once, runs the tests with EnvBinary pointing to it, and removes it.
// Call it from TestMain: os.Exit(btcdtest.Main(m)).
func Main(m *testing.M) int {
	if os.Getenv(EnvBinary) != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "btcdtest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "btcdtest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := Build(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "btcdtest:", err)
		return 1
	}
	os.Setenv(EnvBinary, bin)
	defer os.Unsetenv(EnvBinary)
	return m.Run()
}

// Build compiles github.com/btcsuite/btcd (the version pinned in go.mod) into dir.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "btcd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/btcsuite/btcd")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build btcd: %w\n%s", err, out)
	}
	return bin, nil
}

// Binary returns the btcd to run: EnvBinary if set, else one built into tb's
// temporary directory.
func Binary(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv(EnvBinary); bin != "" {
		return bin
	}
	bin, err := Build(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

// Options configure a node.
type Options struct {
	// MiningAddr receives the coinbase of generated blocks (regtest address).
	MiningAddr string
	// Args are appended to the command line.
	Args []string
}

// Node is a running btcd.
type Node struct {
	tb       testing.TB
	bin      string
	args     []string
	dir      string
	home     string
	logFile  string
	RPCAddr  string // host:port of the RPC server
	P2PAddr  string // host:port of the peer-to-peer listener
	User     string
	Pass     string
	proc     *nodeproc.Proc
	starts   int
	rpc      *nodeproc.Caller
	launched time.Time
}

// URL is the RPC endpoint, http://host:port.
func (n *Node) URL() string { return "http://" + n.RPCAddr }

// PID is the process id of the running btcd.
func (n *Node) PID() int { return n.proc.PID() }

// Start runs a btcd on regtest with --txindex on free loopback ports and waits until
// its RPC server answers. The node is stopped when tb ends.
func Start(tb testing.TB, opts Options) *Node {
	tb.Helper()
	bin := Binary(tb)
	dir := tb.TempDir()
	n := &Node{
		tb: tb, bin: bin, dir: dir,
		home: filepath.Join(dir, "home"),
		User: "u", Pass: "p",
		rpc: &nodeproc.Caller{User: "u", Pass: "p", Version: "1.0", HTTP: &http.Client{Timeout: 15 * time.Second}},
	}
	if err := os.MkdirAll(n.home, 0o700); err != nil {
		tb.Fatal(err)
	}
	conf := filepath.Join(dir, "btcd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		n.RPCAddr = nodeproc.FreePort(tb)
		n.P2PAddr = nodeproc.FreePort(tb)
		n.args = []string{
			"-C", conf, "--regtest", "--notls",
			"--rpcuser", n.User, "--rpcpass", n.Pass,
			"--rpclisten", n.RPCAddr, "--listen", n.P2PAddr,
			"--datadir", filepath.Join(dir, "data"), "--logdir", filepath.Join(dir, "logs"),
			"--nodnsseed", "--txindex", "--debuglevel", "info",
		}
		if opts.MiningAddr != "" {
			n.args = append(n.args, "--miningaddr", opts.MiningAddr)
		}
		n.args = append(n.args, opts.Args...)
		if lastErr = n.launch(); lastErr == nil {
			tb.Cleanup(func() { n.Stop() })
			return n
		}
	}
	tb.Fatalf("btcdtest: start btcd: %v\n%s", lastErr, n.logTail())
	return nil
}

func (n *Node) launch() error {
	n.starts++
	n.logFile = filepath.Join(n.dir, fmt.Sprintf("stdout-%d.log", n.starts))
	proc, err := nodeproc.Start(n.bin, n.args, n.dir, n.logFile, "HOME="+n.home)
	if err != nil {
		return err
	}
	n.proc, n.launched = proc, time.Now()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if proc.Exited() {
			return errors.New("btcd exited during start")
		}
		if _, err := n.RPC("getblockcount"); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.proc.Kill()
	return errors.New("btcd RPC did not answer within 20 s")
}

func (n *Node) logTail() string {
	b, _ := os.ReadFile(n.logFile)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop ends btcd: SIGCONT (in case it is paused), SIGTERM, and SIGKILL after 10 s.
func (n *Node) Stop() {
	n.proc.Stop(n.tb, 10*time.Second)
	n.rpc.HTTP.CloseIdleConnections()
}

// Kill ends btcd with SIGKILL.
func (n *Node) Kill() {
	n.proc.Kill()
	n.rpc.HTTP.CloseIdleConnections()
}

// Restart kills btcd and starts it again with the same ports and directory. btcd
// wipes its regtest chain on start, so the node is back at the genesis block.
func (n *Node) Restart() {
	n.tb.Helper()
	n.Kill()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = n.launch(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // ports may linger briefly
	}
	n.tb.Fatalf("btcdtest: restart btcd: %v\n%s", err, n.logTail())
}

// Pause stops the process with SIGSTOP and waits until every thread is stopped: its
// sockets still accept connections but nothing answers.
func (n *Node) Pause() {
	n.tb.Helper()
	n.proc.Pause(n.tb)
}

// Resume continues a paused process with SIGCONT.
func (n *Node) Resume() {
	n.tb.Helper()
	n.proc.Resume(n.tb)
}

// RPCError is an error answer of btcd.
type RPCError = nodeproc.RPCError

// RPC calls method and returns its raw result; an error answer is an *RPCError.
func (n *Node) RPC(method string, params ...any) (json.RawMessage, error) {
	return n.rpc.Call(n.URL(), method, params...)
}

// Call is RPC that fails the test on an error and decodes the result into out (if not nil).
func (n *Node) Call(out any, method string, params ...any) {
	n.tb.Helper()
	raw, err := n.RPC(method, params...)
	nodeproc.Decode(n.tb, raw, err, out, "btcdtest: "+method)
}

// Generate mines count blocks to the mining address and returns their hashes.
func (n *Node) Generate(count int) []chainhash.Hash {
	n.tb.Helper()
	var ids []string
	n.Call(&ids, "generate", count)
	hashes := make([]chainhash.Hash, len(ids))
	for i, s := range ids {
		h, err := chainhash.NewHashFromStr(s)
		if err != nil {
			n.tb.Fatal(err)
		}
		hashes[i] = *h
	}
	return hashes
}

// BestHash is the node's tip.
func (n *Node) BestHash() chainhash.Hash {
	n.tb.Helper()
	var s string
	n.Call(&s, "getbestblockhash")
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		n.tb.Fatal(err)
	}
	return *h
}

// Height is the node's block count.
func (n *Node) Height() int32 {
	n.tb.Helper()
	var h int32
	n.Call(&h, "getblockcount")
	return h
}

// Connect makes n connect to other (a temporary outbound peer) and waits until the
// connection is up.
func (n *Node) Connect(other *Node) {
	n.tb.Helper()
	n.Call(nil, "node", "connect", other.P2PAddr, "temp")
	n.waitPeers(other.P2PAddr, true)
}

// Disconnect drops n's connection to other (made by Connect).
func (n *Node) Disconnect(other *Node) {
	n.tb.Helper()
	n.Call(nil, "node", "disconnect", other.P2PAddr)
	n.waitPeers(other.P2PAddr, false)
}

func (n *Node) waitPeers(addr string, want bool) {
	n.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var peers []struct {
			Addr string `json:"addr"`
		}
		n.Call(&peers, "getpeerinfo")
		has := false
		for _, p := range peers {
			if p.Addr == addr {
				has = true
			}
		}
		if has == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.tb.Fatalf("btcdtest: peer %s connected=%v not reached within 10 s", addr, want)
}

// WaitTip waits until every node has the same best block as n and returns it.
func (n *Node) WaitTip(others ...*Node) chainhash.Hash {
	n.tb.Helper()
	best := []func() string{func() string { return n.BestHash().String() }}
	for _, o := range others {
		best = append(best, func() string { return o.BestHash().String() })
	}
	h, err := chainhash.NewHashFromStr(nodeproc.WaitSame(n.tb, 15*time.Second, best...))
	if err != nil {
		n.tb.Fatal(err)
	}
	return *h
}

// Args returns the command line of the node (for logs).
func (n *Node) Args() string {
	return strings.Join(n.args, " ") + " (start " + strconv.Itoa(n.starts) + ")"
}

// BlockAt returns the main-chain block at height.
func (n *Node) BlockAt(height int32) *wire.MsgBlock {
	n.tb.Helper()
	var hash, raw string
	n.Call(&hash, "getblockhash", height)
	n.Call(&raw, "getblock", hash, 0)
	return nodeproc.DecodeBlock(n.tb, raw)
}

// CoinbaseAt returns the coinbase of the main-chain block at height: with a Key's
// address as MiningAddr and height at most tip-99, an output that Key can spend.
func (n *Node) CoinbaseAt(height int32) *wire.MsgTx {
	n.tb.Helper()
	return n.BlockAt(height).Transactions[0]
}

// SendTx submits tx to the node's mempool.
func (n *Node) SendTx(tx *wire.MsgTx) {
	n.tb.Helper()
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		n.tb.Fatal(err)
	}
	n.Call(nil, "sendrawtransaction", hex.EncodeToString(buf.Bytes()))
}
