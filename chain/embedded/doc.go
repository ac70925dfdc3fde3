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
// The chain lives in DataDir/<net>/: the ffldb block database (blocks_ffldb), the
// journal and faucet.key, a WIF private key created once with mode 0600. Unlike the
// btcd program on regtest, nothing is wiped: Open on the same directory continues at
// the same tip.
//
// ffldb alone does not survive a crash: it keeps its metadata writes (block index,
// best state, UTXO set) in memory for up to five minutes, and after a kill it cuts its
// block files back to the last metadata it wrote, so btcd comes back at an older tip
// (btcd then downloads the lost blocks from peers, which this chain has none of). The
// journal (journal.go) closes that gap: every new block is appended and synced before
// ProcessBlock sees it, every mempool transaction before the mempool takes it and every
// faucet reservation before Faucet returns. Open lets btcd repair its database as after
// any unclean shutdown, replays the journal's blocks through ProcessBlock in their
// first order (the ones the database kept are skipped), closes the database cleanly
// (which writes btcd's caches) and rewrites the journal from the new tip; Close does
// the same, and so does a running chain every Config.CheckpointBlocks blocks (2000 by
// default), so that the journal and a replay stay short. So a block ProcessBlock accepted is there after a kill at any moment. A data
// directory that cannot be recovered (the block database missing or older than the
// journal's base, a damaged journal record that is not a torn end, a block accepted
// before and refused on replay) is an error naming what is wrong, never a new chain.
//
// The first Open mines block 1, whose coinbase pays the subsidy in 500 equal P2PKH
// outputs to the faucet key, then mines (to the faucet) until block 1 is mature:
// 101 blocks on regtest, 2 on the private network. Faucet outputs are legacy P2PKH
// because segwit only activates at height 432 on regtest and never on the private
// network in practice. Faucet hands out one mature faucet output per call and never the
// same one twice while it is unspent, for a day at most (reservationTTL), also across
// restarts and crashes (the reservations are in the journal).
//
// # Transactions
//
// The mempool accepts zero-fee transactions; it holds the node's own transactions
// (AcceptToMempool, kept in the journal until a block confirms them), not the broker's
// orders, which the broker adds to its templates
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
