// Package btcdtest builds and runs real btcd nodes on regtest for tests: each node
// listens on free loopback ports in a temporary directory, runs with --txindex, and is
// stopped when the test ends, also when it fails (SIGCONT, SIGTERM, SIGKILL after 10 s).
// Helpers mine blocks, connect and disconnect nodes (for reorgs), pause and resume the
// process (SIGSTOP/SIGCONT, waiting until every thread is stopped), kill and restart it
// on the same ports (btcd wipes its regtest chain on every start), call any RPC, read
// blocks and coinbases, submit transactions, and sign spends of outputs paid to a Key.
//
// btcd is built once per test binary when the test package's TestMain calls Main;
// otherwise each Start builds it into the test's temporary directory (a few seconds with
// a warm build cache). BTCDTEST_BIN may point to a prebuilt btcd. The binary is run
// directly, not through `go tool`, so that signals reach btcd itself.
//
// Typical use:
//
//	func TestMain(m *testing.M) { os.Exit(btcdtest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		key, _ := btcdtest.NewKey("miner")
//		node := btcdtest.Start(t, btcdtest.Options{MiningAddr: key.Addr.EncodeAddress()})
//		node.Generate(440)                                   // segwit is active from 432
//		tx, _ := key.Spend(0, nil, node.CoinbaseAt(1))      // a zero-fee spend, mature
//		backend, _ := rpcnode.New(ctx, rpcnode.Config{URL: node.URL(), User: node.User, Pass: node.Pass})
//		...
//	}
package btcdtest
