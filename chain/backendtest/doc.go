// Package backendtest is one conformance suite for chain.Backend, in the manner of
// lnd's chainntnfs/test: a table of behaviours every backend must show, run by Run
// against the embedded chain, a real btcd and a real bitcoind (see backends_test.go).
//
// The suite owns a key; a Driver (one per backend) mines blocks paying it with the
// node's own means, puts fee-paying transactions into the node's mempool, and names the
// behaviours its backend cannot show (Lacks) with the reason. Everything else the suite
// does through chain.Backend alone: it spends the key's mature coinbases (zero-fee, so
// only CheckTx's own validation accepts them), builds blocks with chain.Assemble on the
// tip or on any parent (regtest's target is met by about every second nonce), proposes
// and submits them, and makes reorgs by submitting a longer branch. The behaviours share
// one chain and run in the table's order.
//
// A behaviour a backend lacks is skipped with its name and the driver's reason, and Run
// logs one line per backend listing what was shown and what was not.
package backendtest
