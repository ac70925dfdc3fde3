package bitcoindtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proofow/powbroker/chain/rpcnode/internal/nodeproc"
)

// Environment variables.
const (
	// EnvBinary names the environment variable holding the path of bitcoind.
	EnvBinary = "POWBROKER_BITCOIND"
	// EnvCI, set to 1, makes a missing bitcoind fail the test instead of skipping it.
	EnvCI = "POWBROKER_CI"
)

// DefaultWallet is the name of the wallet every node gets unless Options.NoWallet.
const DefaultWallet = "w"

// fallbackPath is where this project keeps bitcoind, relative to the module root.
var fallbackPath = filepath.Join("..", "shared", "bitcoin-core", "bin", "bitcoind")

// Options configure a node.
type Options struct {
	// Signet runs a custom signet with SignetChallenge (hex, "51" when empty)
	// instead of regtest.
	Signet          bool
	SignetChallenge string
	// Args are appended to the command line (for example -zmqpubhashblock=tcp://...).
	Args []string
	// NoWallet skips creating the default wallet.
	NoWallet bool
}

// Node is a running bitcoind.
type Node struct {
	tb      testing.TB
	bin     string
	args    []string
	Dir     string // the datadir (-datadir)
	Chain   string // "regtest" or "signet": the datadir's subdirectory
	RPCAddr string // host:port of the RPC server
	P2PAddr string // host:port of the peer-to-peer listener
	User    string
	Pass    string
	// MiningAddr is an address of the default wallet (empty with NoWallet).
	MiningAddr string

	proc   *nodeproc.Proc
	starts int
	rpc    *nodeproc.Caller
}

// URL is the RPC endpoint, http://host:port.
func (n *Node) URL() string { return "http://" + n.RPCAddr }

// WalletURL is the RPC endpoint of a loaded wallet.
func (n *Node) WalletURL(wallet string) string { return n.URL() + "/wallet/" + wallet }

// CookiePath is the cookie file bitcoind writes (user __cookie__).
func (n *Node) CookiePath() string { return filepath.Join(n.Dir, n.Chain, ".cookie") }

// PID is the process id of the running bitcoind.
func (n *Node) PID() int { return n.proc.PID() }

// Binary returns the bitcoind to run: $POWBROKER_BITCOIND, else the project's copy
// under ../shared/bitcoin-core/bin/ from the module root. When it is missing or
// cannot run, the test is skipped (failed under POWBROKER_CI=1).
func Binary(tb testing.TB) string {
	tb.Helper()
	bin, err := findBinary()
	if err == nil {
		return bin
	}
	if os.Getenv(EnvCI) == "1" {
		tb.Fatalf("bitcoindtest: %s=1 and no usable bitcoind: %v", EnvCI, err)
	}
	tb.Skipf("bitcoindtest: live Bitcoin Core test %s not run: %v (set %s to a bitcoind v30)", tb.Name(), err, EnvBinary)
	return ""
}

func findBinary() (string, error) {
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		bin = filepath.Join(root, fallbackPath)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("no bitcoind at %s", bin)
	}
	out, err := exec.Command(bin, "-version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s -version: %v: %.300s", bin, err, out)
	}
	return bin, nil
}

// moduleRoot walks up from the working directory (a test's package directory) to the
// directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// RPCAuth returns the -rpcauth value for user and pass (salt, HMAC-SHA256 of the
// password keyed by the salt), as Core's share/rpcauth/rpcauth.py computes it.
func RPCAuth(user, pass, salt string) string {
	m := hmac.New(sha256.New, []byte(salt))
	m.Write([]byte(pass))
	return user + ":" + salt + "$" + hex.EncodeToString(m.Sum(nil))
}

// Start runs a bitcoind on free loopback ports and waits until its RPC server answers
// and the wallet is created. The node is stopped when tb ends.
func Start(tb testing.TB, opts Options) *Node {
	tb.Helper()
	bin := Binary(tb)
	dir := tb.TempDir()
	n := &Node{
		tb: tb, bin: bin, Dir: filepath.Join(dir, "data"), Chain: "regtest",
		User: "powbroker", Pass: "test-password",
		rpc: &nodeproc.Caller{Version: "2.0", HTTP: &http.Client{Timeout: 30 * time.Second}},
	}
	n.rpc.User, n.rpc.Pass = n.User, n.Pass
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	netArgs := []string{"-regtest"}
	if opts.Signet {
		n.Chain = "signet"
		challenge := opts.SignetChallenge
		if challenge == "" {
			challenge = "51"
		}
		netArgs = []string{"-signet", "-signetchallenge=" + challenge}
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		n.RPCAddr = nodeproc.FreePort(tb)
		n.P2PAddr = nodeproc.FreePort(tb)
		_, rpcPort, _ := net.SplitHostPort(n.RPCAddr)
		n.args = append(append([]string{}, netArgs...),
			"-datadir="+n.Dir, "-server=1", "-txindex=1", "-printtoconsole=0",
			"-rpcbind=127.0.0.1", "-rpcport="+rpcPort, "-rpcallowip=127.0.0.1",
			"-rpcauth="+RPCAuth(n.User, n.Pass, "bitcoindtest"),
			"-bind="+n.P2PAddr, "-listen=1", "-listenonion=0", "-discover=0", "-dnsseed=0",
			"-fixedseeds=0", "-natpmp=0", "-keypool=4", "-fallbackfee=0.00001",
			"-shrinkdebugfile=0", "-rpcworkqueue=64",
			"-unsafesqlitesync=1", // test wallets: no fsync per block (Core's functional tests do the same)
		)
		n.args = append(n.args, opts.Args...)
		if lastErr = n.launch(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		tb.Fatalf("bitcoindtest: start bitcoind: %v\n%s", lastErr, n.logTail())
	}
	tb.Cleanup(n.Stop)
	if !opts.NoWallet {
		n.Call(nil, "createwallet", DefaultWallet, false, false, "", false, true, true)
		n.MiningAddr = n.NewAddress(DefaultWallet, "bech32")
	}
	return n
}

// launch starts the process and waits until RPC answers (not warming up).
func (n *Node) launch() error {
	n.starts++
	logFile := filepath.Join(filepath.Dir(n.Dir), fmt.Sprintf("stdout-%d.log", n.starts))
	proc, err := nodeproc.Start(n.bin, n.args, filepath.Dir(n.Dir), logFile)
	if err != nil {
		return err
	}
	n.proc = proc
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if proc.Exited() {
			b, _ := os.ReadFile(logFile)
			return fmt.Errorf("bitcoind exited during start: %s", bytes.TrimSpace(b))
		}
		if _, err := n.RPC("getblockcount"); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.Kill()
	return errors.New("bitcoind RPC did not answer within 60 s")
}

// Launch starts bitcoind again after Stop or Kill, on the same ports and datadir, and
// loads the default wallet again if it has one.
func (n *Node) Launch() {
	n.tb.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = n.launch(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // a port may linger briefly
	}
	if err != nil {
		n.tb.Fatalf("bitcoindtest: start bitcoind again: %v\n%s", err, n.logTail())
	}
	if n.MiningAddr != "" {
		if _, err := n.RPC("loadwallet", DefaultWallet); err != nil && !strings.Contains(err.Error(), "already loaded") {
			n.tb.Fatalf("bitcoindtest: loadwallet: %v", err)
		}
	}
}

// Restart stops bitcoind gracefully and starts it again: it keeps its chain.
func (n *Node) Restart() {
	n.tb.Helper()
	n.Stop()
	n.Launch()
}

func (n *Node) logTail() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, n.Chain, "debug.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// LogTail returns the end of bitcoind's debug.log.
func (n *Node) LogTail() string { return n.logTail() }

// Stop ends bitcoind: SIGCONT (in case it is paused), SIGTERM, and SIGKILL after 15 s.
func (n *Node) Stop() {
	n.proc.Stop(n.tb, 15*time.Second)
	n.rpc.HTTP.CloseIdleConnections()
}

// Kill ends bitcoind with SIGKILL.
func (n *Node) Kill() {
	n.proc.Kill()
	n.rpc.HTTP.CloseIdleConnections()
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

// RPCError is an error answer of bitcoind.
type RPCError = nodeproc.RPCError

// RPC calls a node-level method and returns its raw result; an error answer is an
// *RPCError.
func (n *Node) RPC(method string, params ...any) (json.RawMessage, error) {
	return n.rpcAt(n.URL(), method, params...)
}

// WalletRPC calls method on a loaded wallet.
func (n *Node) WalletRPC(wallet, method string, params ...any) (json.RawMessage, error) {
	return n.rpcAt(n.WalletURL(wallet), method, params...)
}

func (n *Node) rpcAt(url, method string, params ...any) (json.RawMessage, error) {
	return n.rpc.Call(url, method, params...)
}

// Call is RPC that fails the test on an error and decodes the result into out (if not nil).
func (n *Node) Call(out any, method string, params ...any) {
	n.tb.Helper()
	raw, err := n.RPC(method, params...)
	n.decode(raw, err, out, method)
}

// WalletCall is WalletRPC that fails the test on an error.
func (n *Node) WalletCall(wallet string, out any, method string, params ...any) {
	n.tb.Helper()
	raw, err := n.WalletRPC(wallet, method, params...)
	n.decode(raw, err, out, wallet+": "+method)
}

func (n *Node) decode(raw json.RawMessage, err error, out any, what string) {
	n.tb.Helper()
	nodeproc.Decode(n.tb, raw, err, out, "bitcoindtest: "+what)
}
