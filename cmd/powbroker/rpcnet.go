package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/netparams"
	"github.com/proofow/powbroker/chain/rpcnode"
	"github.com/proofow/powbroker/cmd/internal/cli"
)

// envRPCPass names the environment variable that may carry the node's RPC password.
const envRPCPass = "POWBROKER_RPC_PASS"

// rpcNetwork resolves --net and --signet-challenge for a node over RPC.
func (c *daemonConfig) rpcNetwork() (*netparams.Network, error) {
	var challenge []byte
	if c.SignetChallenge != "" {
		if netparams.Canonical(c.Net) != netparams.Signet {
			return nil, cli.Usagef("--signet-challenge needs --net signet, not %q", c.Net)
		}
		var err error
		if challenge, err = netparams.ParseChallenge(c.SignetChallenge); err != nil {
			return nil, cli.Usagef("--signet-challenge: %v", err)
		}
		if !chain.EmptySolutionValid(challenge) && c.Stratum != "" {
			return nil, cli.Usagef("--signet-challenge %s needs a signature in every block, which covers the extranonce and the time, so Stratum miners could not roll them: mine such a signet over HTTP only (no --stratum), or use a challenge the empty solution satisfies, such as 51", c.SignetChallenge)
		}
	}
	n, err := netparams.Lookup(c.Net, challenge)
	if err != nil {
		return nil, cli.Usagef("--net %q: %v", c.Net, err)
	}
	return n, nil
}

// rpcCredentials returns how to log in to the node: a user and password, or Bitcoin
// Core's cookie file. The password comes from exactly one of --rpc-pass,
// --rpc-pass-file (or their config fields) and POWBROKER_RPC_PASS, which is read only
// when neither is given. Without any password, a bitcoind is reached with its cookie:
// --rpc-cookie, or Core's default location for the network (~/.bitcoin/NET/.cookie).
func (c *daemonConfig) rpcCredentials(getenv func(string) string) (user, pass, cookie string, err error) {
	r := c.RPC
	if r.Pass != "" && r.PassFile != "" {
		return "", "", "", cli.Usagef("give the node's RPC password once: --rpc-pass or --rpc-pass-file, not both")
	}
	if r.Cookie != "" && (r.User != "" || r.Pass != "" || r.PassFile != "") {
		return "", "", "", cli.Usagef("--rpc-cookie excludes --rpc-user, --rpc-pass and --rpc-pass-file")
	}
	pass = r.Pass
	switch {
	case r.PassFile != "":
		if pass, err = rpcnode.ReadPasswordFile(r.PassFile); err != nil {
			return "", "", "", cli.Usagef("--rpc-pass-file: %v", err)
		}
	case pass == "" && r.Cookie == "":
		pass = getenv(envRPCPass)
	}
	if pass != "" {
		return r.User, pass, "", nil
	}
	cookie = r.Cookie
	if cookie == "" && r.Kind == "bitcoind" && r.User == "" {
		if cookie, err = rpcnode.DefaultCookiePath(c.Net); err != nil {
			return "", "", "", cli.Usagef("no RPC password and no cookie: %v", err)
		}
	}
	return r.User, "", cookie, nil
}

// validateRPC checks the node options that the daemon config file and flags give.
func (c *daemonConfig) validateRPC() error {
	if c.RPC.ZMQ != "" {
		if c.RPC.Kind != "bitcoind" {
			return cli.Usagef("--rpc-zmq needs --rpc-kind bitcoind (btcd notifies over its websocket)")
		}
		if err := rpcnode.CheckZMQ(c.RPC.ZMQ); err != nil {
			return cli.Usagef("--rpc-zmq: %v", err)
		}
	}
	_, _, _, err := c.rpcCredentials(os.Getenv)
	return err
}

// storeSubdir is the datadir subdirectory of the store and keys: the network, with
// "rpc-" before it on a node, and a custom signet's magic after it.
func (c *daemonConfig) storeSubdir() string {
	if c.Chain != "rpc" {
		return c.Net
	}
	if n, err := c.rpcNetwork(); err == nil && n.Custom {
		return "rpc-" + n.ID()
	}
	return "rpc-" + c.Net
}

// signetKey reads the signing key of a custom signet whose challenge needs one: a WIF
// private key, the first line of --signet-key-file or of DATADIR/rpc-signet-MAGIC/signet.key.
// It is nil when the challenge needs no signature.
func (c *daemonConfig) signetKey(network *netparams.Network) (*chain.SignetKey, error) {
	if !network.Custom || chain.EmptySolutionValid(network.Challenge) {
		if c.SignetKeyFile != "" {
			return nil, cli.Usagef("--signet-key-file is only for a custom signet whose challenge needs a signature")
		}
		return nil, nil
	}
	path := c.SignetKeyFile
	if path == "" {
		path = filepath.Join(c.DataDir, c.storeSubdir(), "signet.key")
	}
	line, err := rpcnode.ReadPasswordFile(path)
	if err != nil {
		return nil, cli.Usagef("signet %x needs a block signing key (WIF) in --signet-key-file or %s: %v", network.Challenge, path, err)
	}
	wif, err := btcutil.DecodeWIF(strings.TrimSpace(line))
	if err != nil {
		return nil, cli.Usagef("signet key %s: not a WIF private key", path)
	}
	k, err := chain.NewSignetKey(wif.PrivKey, network.Challenge)
	if err != nil {
		return nil, cli.Usagef("signet key %s: %v", path, err)
	}
	return k, nil
}
