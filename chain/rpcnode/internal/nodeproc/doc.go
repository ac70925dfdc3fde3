// Package nodeproc is what the test node harnesses (btcdtest, bitcoindtest) share: free
// loopback ports, a node process that can be paused (SIGSTOP, waiting until every thread
// is stopped), resumed, stopped (SIGCONT, SIGTERM, SIGKILL after a grace period) and
// killed, and a plain JSON-RPC caller for test set-up.
package nodeproc
