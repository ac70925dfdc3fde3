package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proofow/powbroker/chain/rpcnode/bitcoindtest"
)

// TestServeBitcoindCredentials: serve logs in to a real bitcoind (regtest) with a
// password from POWBROKER_RPC_PASS, from --rpc-pass-file, or with Core's cookie file,
// and the password appears nowhere in its debug log; a wrong password and a node on
// another chain (regtest for --net signet) end the start with one line and exit 1;
// contradictory credential options are usage errors (exit 2).
func TestServeBitcoindCredentials(t *testing.T) {
	pb, _ := binaries(t)
	node := bitcoindtest.Start(t, bitcoindtest.Options{})
	dir := t.TempDir()
	passFile := filepath.Join(dir, "rpcpass")
	if err := os.WriteFile(passFile, []byte(node.Pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cookie, err := os.ReadFile(node.CookiePath())
	if err != nil {
		t.Fatal(err)
	}
	_, cookiePass, _ := strings.Cut(strings.TrimSpace(string(cookie)), ":")
	base := func(extra ...string) []string {
		return append([]string{"--chain", "rpc", "--rpc-kind", "bitcoind", "--rpc-url", node.URL(),
			"--payout-address", node.MiningAddr, "--datadir", filepath.Join(dir, "data"), "--http", "127.0.0.1:0",
			"--log-level", "debug"}, extra...)
	}
	for _, tc := range []struct {
		name   string
		env    string // POWBROKER_RPC_PASS
		args   []string
		code   int    // -1: ready
		stderr string // in the one-line error
	}{
		{"password from the environment", node.Pass, base("--net", "regtest", "--rpc-user", node.User), -1, ""},
		{"password file", "", base("--net", "regtest", "--rpc-user", node.User, "--rpc-pass-file", passFile), -1, ""},
		{"cookie", "", base("--net", "regtest", "--rpc-cookie", node.CookiePath()), -1, ""},
		{"wrong password", "not-" + node.Pass, base("--net", "regtest", "--rpc-user", node.User), 1, "refused the RPC credentials"},
		{"regtest node for signet", node.Pass, base("--net", "signet", "--rpc-user", node.User), 1, "serves another chain, not signet"},
		{"password twice", "", base("--net", "regtest", "--rpc-user", node.User, "--rpc-pass", "x", "--rpc-pass-file", passFile), 2, "not both"},
		{"cookie and user", "", base("--net", "regtest", "--rpc-user", node.User, "--rpc-cookie", node.CookiePath()), 2, "--rpc-cookie excludes"},
		{"missing password file", "", base("--net", "regtest", "--rpc-user", node.User, "--rpc-pass-file", filepath.Join(dir, "none")), 2, "--rpc-pass-file"},
		{"challenge off signet", node.Pass, base("--net", "regtest", "--rpc-user", node.User, "--signet-challenge", "51"), 2, "needs --net signet"},
		{"bad challenge", node.Pass, base("--net", "signet", "--rpc-user", node.User, "--signet-challenge", "zz"), 2, "not hex"},
		{"bad zmq", node.Pass, base("--net", "regtest", "--rpc-user", node.User, "--rpc-zmq", "http://x"), 2, "tcp://HOST:PORT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envRPCPass, tc.env)
			line, wait, errb := serveLine(t, pb, tc.args...)
			code := wait(true)
			log := errb.String()
			for _, secret := range []string{node.Pass, cookiePass, tc.env} {
				if secret != "" && strings.Contains(log, secret) {
					t.Fatalf("the log shows the password %q:\n%s", secret, log)
				}
			}
			if tc.code == -1 {
				if !strings.Contains(line, `"ready":true`) || code != 0 {
					t.Fatalf("line %q exit %d; stderr %s", line, code, log)
				}
				return
			}
			msg := strings.TrimSpace(log)
			if line != "" || code != tc.code || !strings.Contains(msg, tc.stderr) || strings.Contains(msg, "\n") {
				t.Fatalf("line %q exit %d, want exit %d and one line with %q; stderr %q", line, code, tc.code, tc.stderr, msg)
			}
		})
	}
}
