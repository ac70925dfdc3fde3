// Package btcdtest builds and runs real btcd nodes on regtest for tests: each node
// listens on free loopback ports in a temporary directory and is stopped when the test
// ends, also when it fails. Helpers mine blocks, connect and disconnect nodes (for
// reorgs), pause and resume the process (SIGSTOP/SIGCONT), kill and restart it (btcd
// wipes its regtest chain on every start), call any RPC, and sign spends of outputs
// paid to a test key.
//
// btcd is built once per test binary when the test package's TestMain calls Main;
// otherwise each Start builds it into the test's temporary directory (cached by the go
// build cache, a few seconds). BTCDTEST_BIN may point to a prebuilt btcd.
package btcdtest
