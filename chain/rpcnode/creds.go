package rpcnode

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/proofow/powbroker/chain/netparams"
)

// maxCookieSize bounds a cookie or password file: Core writes "__cookie__:" and 64 hex
// digits.
const maxCookieSize = 4096

// CookieUser is the user name Bitcoin Core writes into its cookie file.
const CookieUser = "__cookie__"

// credentials hold the RPC user and password, from the configuration or from Bitcoin
// Core's cookie file, which bitcoind rewrites with a new password on every start: the
// client re-reads it when the node refuses the credentials it has.
type credentials struct {
	cookie string // path of the cookie file; "" for a fixed user and password

	mu         sync.Mutex
	user, pass string
}

func newCredentials(user, pass, cookie string) (*credentials, error) {
	c := &credentials{cookie: cookie, user: user, pass: pass}
	if cookie != "" {
		if _, err := c.reload(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *credentials) get() (string, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user, c.pass
}

// reload re-reads the cookie file and tells whether the credentials changed. Without
// a cookie file nothing changes.
func (c *credentials) reload() (bool, error) {
	if c.cookie == "" {
		return false, nil
	}
	user, pass, err := ReadCookie(c.cookie)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := user != c.user || pass != c.pass
	c.user, c.pass = user, pass
	return changed, nil
}

// ReadCookie reads a Bitcoin Core cookie file ("USER:PASSWORD" on one line). The error
// names the file, never its contents.
func ReadCookie(path string) (user, pass string, err error) {
	b, err := readSecretFile(path)
	if err != nil {
		return "", "", fmt.Errorf("rpc cookie: %w", err)
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok || user == "" || pass == "" {
		return "", "", fmt.Errorf("rpc cookie %s: not USER:PASSWORD", path)
	}
	return user, pass, nil
}

// ReadPasswordFile reads a secret (a password, a key) from a file: its first line,
// without the line end. The error names the file, never its contents.
func ReadPasswordFile(path string) (string, error) {
	b, err := readSecretFile(path)
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", fmt.Errorf("%s is empty", path)
	}
	return string(b), nil
}

// readSecretFile reads a small file and returns its first line.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, maxCookieSize+1)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if n > maxCookieSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxCookieSize)
	}
	line, _, _ := bytes.Cut(b[:n], []byte("\n"))
	return bytes.TrimRight(line, "\r"), nil
}

// DefaultCookiePath is where Bitcoin Core writes its cookie for a network when it runs
// with the default data directory (~/.bitcoin): .cookie in the network's subdirectory
// (none for mainnet; every signet, custom or not, uses signet/).
func DefaultCookiePath(net string) (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("default cookie location: %w", err)
	}
	sub, err := coreNetDir(net)
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".bitcoin", sub, ".cookie"), nil
}

// coreNetDir is Bitcoin Core's data subdirectory of a network.
func coreNetDir(net string) (string, error) {
	switch netparams.Canonical(net) {
	case netparams.Mainnet:
		return "", nil
	case netparams.Testnet3:
		return "testnet3", nil
	case netparams.Testnet4:
		return "testnet4", nil
	case netparams.Signet:
		return "signet", nil
	case netparams.Regtest:
		return "regtest", nil
	}
	return "", errors.New("no Bitcoin Core data directory for network " + net)
}
