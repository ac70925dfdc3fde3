// Package embedded is powbroker's default chain backend: an in-process, fully
// validating chain built from btcd v0.24.2's blockchain (with its transaction index),
// database/ffldb, mempool and mining packages. It implements chain.Backend and adds
// what a development network needs: a faucet and block generation.
//
// # Networks
//
// "regtest" uses btcd's regression test parameters unchanged (a fresh copy per chain,
// see Params), so btcd/bitcoind regtest tools understand its blocks and addresses.
//
// "private" is a copy of the regtest parameters with its own name, network magic
// (PrivateNetMagic), port and genesis hash, and a fixed, harder difficulty: PowLimit and
// PowLimitBits are Config.PrivateBits (default 0x1d3fffff, about 2^26 hashes per
// block) and, as on regtest, PoWNoRetargeting keeps every block at that difficulty.
// Blocks are then rarer than shares, which is the point: an order is "paid" by its
// shares before a block that holds it is found, as on a real network. The coinbase
// maturity is 1 instead of 100, so that the first start only has to mine two blocks at
// that difficulty (a few seconds on all CPUs) before the faucet can spend block 1.
// The genesis block carries the private bits (and the magic as its nonce), so its hash
// differs from regtest's and per difficulty, and a data directory cannot be reopened
// with other parameters.
//
// # Storage and the faucet
//
// The chain lives in DataDir/<net>/: the ffldb block database (blocks_ffldb) and
// faucet.key, a WIF private key created once with mode 0600. Unlike the btcd program on
// regtest, nothing is wiped: Open on the same directory continues at the same tip, and
// Close flushes btcd's UTXO cache.
//
// The first Open mines block 1, whose coinbase pays the subsidy in 500 equal P2PKH
// outputs to the faucet key, then mines (to the faucet) until block 1 is mature:
// 101 blocks on regtest, 2 on the private network. Faucet outputs are legacy P2PKH
// because segwit only activates at height 432 on regtest and never on the private
// network in practice. Faucet hands out one mature faucet output per call and never the
// same one twice while it is unspent (reservations are kept in memory).
//
// # Transactions
//
// The mempool accepts zero-fee transactions; it holds the node's own transactions
// (AcceptToMempool), not the broker's orders, which the broker adds to its templates
// itself. CheckTx validates a transaction against the UTXO set plus the outputs of the
// caller's pending transactions and tells every reason apart (chain.TxReason); the
// transaction index is what distinguishes an output that never existed from one that
// was spent. After a reorganization the transactions of disconnected blocks are not
// put back into the mempool.
//
// # Tips
//
// btcd's notification callback runs under its chain lock, so it only records. Every
// ProcessBlock call here runs under the package's write lock, and its notifications are
// turned afterwards into one chain.TipEvent (a reorganization is one event), the mempool
// is updated and the event is queued for every Tips subscriber without blocking.
//
// # Mining
//
// Generate and GenerateOn solve proof of work with package miner's fastest kernel
// (miner.Best) on all CPUs (miner.ScanParallel), after a short scan on the calling
// goroutine that solves regtest blocks at once.
package embedded
