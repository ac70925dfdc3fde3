// Package bitcoindtest runs real Bitcoin Core (bitcoind) nodes for tests: on regtest, or
// on a custom signet (-signet -signetchallenge=HEX), each on free loopback ports in a
// temporary datadir, with -txindex, RPC credentials from -rpcauth (the cookie file is
// written too), and a descriptor wallet. A node is stopped when its test ends, also
// when the test fails: SIGCONT (in case it is paused), SIGTERM, SIGKILL after 15 s.
//
// # Finding bitcoind
//
// The binary is the one named by the environment variable POWBROKER_BITCOIND (EnvBinary);
// without it, ../shared/bitcoin-core/bin/bitcoind relative to the module root (the
// directory holding go.mod), where this project keeps a Bitcoin Core v30.0 build for
// its tests. The binary needs libevent, libsqlite3 and libzmq at run time (Debian:
// apt-get install libevent-core-2.1-7 libevent-extra-2.1-7 libevent-pthreads-2.1-7
// libsqlite3-0 libzmq5); .ci/run installs them.
//
// When no usable bitcoind is found, Start skips the test with one line naming the test
// and the path looked at, except under POWBROKER_CI=1 (EnvCI, set by .ci/run), where it
// fails the test: in CI the live Bitcoin Core tests must run.
//
// # Helpers
//
// Node-level and wallet RPC calls (Call, WalletCall), mining to the wallet or to any
// address (Generate, GenerateTo, with a high maxtries so that signet blocks at the
// minimum difficulty are found), zero-fee transactions built and signed by the wallet
// from one of its coins (ZeroFeeTx: createrawtransaction, signrawtransactionwithwallet,
// the coin locked so that the next one does not conflict), funded coins of a chosen
// address type (Fund), invalidateblock/reconsiderblock, SIGSTOP/SIGCONT (Pause, Resume,
// waiting until every thread is stopped), a graceful stop and a start again on the same
// ports keeping the datadir and the chain (Restart, or Stop/Kill then Launch), and
// peers (Connect, Disconnect, WaitTip) for reorgs between two nodes.
//
// Typical use:
//
//	n := bitcoindtest.Start(t, bitcoindtest.Options{})
//	n.Generate(101)                       // the first coinbase matures
//	tx := n.ZeroFeeTx(n.NewAddress("bech32m"))
//	backend, _ := rpcnode.New(ctx, rpcnode.Config{URL: n.URL(), User: n.User, Pass: n.Pass, Kind: rpcnode.KindBitcoind})
package bitcoindtest
