// Package rpcnode is a chain.Backend backed by a btcd or Bitcoin Core (bitcoind) node
// that the operator already runs, reached over JSON-RPC (HTTP POST).
//
// # Transport
//
// A small JSON-RPC client is used instead of btcd's rpcclient, whose HTTP POST mode
// retries for about 22 s against a dead node. Every request has its own timeout
// (Config.Timeout, default 5 s) and is never retried by this package, and responses are
// read through a size limit (MaxResponseSize) and decoded strictly: one JSON object, no
// trailing data, our request id, and either an error object with a code or a result.
// Requests carry an Idempotency-Key header so that Go's HTTP transport may resend one
// whose reused keep-alive connection turned out dead (after a node restart); every call
// made here is safe to repeat.
//
// Credentials: a user and password, or Bitcoin Core's cookie file (Config.Cookie), read
// again when the node refuses it, since bitcoind writes a new cookie on every start; the
// request is then sent once more. A URL with credentials in it is refused, so that no
// password reaches an error message or a log.
//
// Networks: Config.NetName selects the chain (package netparams: regtest, signet,
// testnet4, testnet3, mainnet) and New checks the node's genesis block; on a signet with
// bitcoind also its signet_challenge (custom signets share the default one's genesis),
// and Config.SignetChallenge selects a custom signet. On signet, getblocktemplate and
// proposals carry the rules ["segwit","signet"] and templates the challenge, so that
// chain.Assemble adds the witness commitment and the block solution (BIP 325), signed
// with Config.SignetKey when the challenge is a key.
//
// Errors: a node that cannot be reached, does not answer in time, answers with something
// that is not a valid JSON-RPC response, refuses the credentials, or says it is warming up
// yields an error wrapping chain.ErrUnavailable. An error answer that is a real answer
// ("block not found") is an *RPCError and is not "unavailable". Rejections are
// *chain.TxError (CheckTx) and *chain.BlockError (Propose, SubmitBlock). Health returns
// the tip poller's last failure (nil once a poll succeeds), so that a caller can report
// an outage, and fail fast, without waiting for a request of its own to time out.
//
// # What each method asks the node
//
//   - Tip: getblockchaininfo (hash, height and median time from one snapshot) and the
//     tip's header for its bits.
//   - Template: getblocktemplate {"rules":["segwit"]}. Transactions are decoded from
//     their hex and checked against their txid; fee, sigop cost and weight are taken from
//     the answer (weight computed when absent). default_witness_commitment is never used:
//     chain.Assemble computes the commitment over the block's actual transactions.
//   - Propose: getblocktemplate {"mode":"proposal","data":HEX} (BIP 23): null is
//     accepted, a string is the node's reason ("bad-witness-merkle-match",
//     "bad-cb-value", "bad-prevblk", ...).
//   - SubmitBlock: submitblock with the full block including the coinbase witness
//     reserved value (btcd does not add it). The answer alone is not trusted: success
//     means the block is in the node's main chain afterwards (getbestblockhash, or the
//     main-chain block at its height), so a stale or side-branch block that the node
//     stored and answered "success" for is a *chain.BlockError.
//   - Block: getblock HASH 0, and its main-chain height (-1 off the main chain).
//   - TxStatus: getblock HINT 1 when a hint is given, else getrawtransaction TXID 1
//     (needs a transaction index: btcd --txindex, bitcoind -txindex=1).
//   - CheckTx: see below.
//   - Tips: getbestblockhash every Config.PollInterval (default 250 ms); on a change the
//     new branch is walked back by serialized headers (getblockheader HASH false, which
//     btcd serves for blocks of any branch) to the fork point with the poller's own
//     record of the last 2016 main-chain blocks, so the old branch need not exist on the
//     node any more. A btcd regtest node that restarted (it wipes its chain) shows up as
//     a reorg back to genesis. The first event reports the starting tip. For btcd, a
//     websocket subscription (notifyblocks on /ws) wakes the poller as soon as a block
//     arrives; for bitcoind, Config.ZMQ subscribes to Core's ZMQ hashblock publisher
//     (github.com/go-zeromq/zmq4, pure Go) to the same end. Polling remains the source
//     of truth and carries on alone without them.
//
// # CheckTx without the node's mempool policy
//
// testmempoolaccept would refuse zero-fee transactions, which are the product, so
// CheckTx validates locally with btcd's consensus code: CheckTransactionSanity,
// finality and BIP 68 sequence locks (as the mempool applies them), btcd's standardness
// policy (mempool.CheckTransactionStandard), every input from gettxout without the
// mempool (the chain's UTXO set) or from an output of the pending transactions (the
// active orders), then CheckTransactionInputs (amounts, fee >= 0, coinbase maturity from
// gettxout's coinbase flag and confirmations), sigop cost and weight limits, and every
// input script with txscript.NewEngine and StandardVerifyFlags. An input not in the UTXO
// set is classified: an output of an unconfirmed mempool transaction (gettxout with the
// mempool), the transaction itself already mined (TxAlreadyMined), spent (the previous
// transaction exists: getrawtransaction, needs the index) or missing.
//
// Mempool conflicts: Bitcoin Core's gettxout with include_mempool=true answers null for
// an output that a mempool transaction spends, which CheckTx uses for bitcoind. btcd's
// gettxout ignores mempool spends (checked in the tests), so for btcd CheckTx keeps an
// index of the inputs of the node's mempool transactions, refreshed from getrawmempool
// (each new transaction fetched once with getrawtransaction).
//
// # btcd and bitcoind differences
//
//   - Protocol: btcd gets JSON-RPC 1.0 requests and answers in the 1.0 shape (result and
//     error both present). Bitcoin Core gets "jsonrpc":"2.0" requests; Core 28+ then
//     answers in the strict 2.0 shape (exactly one of result and error, HTTP 200 also for
//     errors). The legacy Core shape (HTTP 500 with a JSON error body) is understood too.
//   - Segwit state: Core lists "!segwit" in the template's rules; btcd sends no rules, so
//     the state for the next block comes from getblockchaininfo's bip9_softforks (btcd
//     computes it for the block after the tip), and from getdeploymentinfo on Core 23+
//     for CheckTx.
//   - default_witness_commitment: a raw 32-byte hash on btcd, a full output script on
//     Core; ignored on both.
//   - submitblock: btcd answers failures as the string "rejected: REASON" (never an RPC
//     error) and null for a block stored on a side branch or as an orphan. Core answers
//     null, "duplicate" (already known and valid), "inconclusive" (stored on a side
//     branch), "duplicate-invalid", "duplicate-inconclusive" or a reason. "duplicate",
//     btcd's "rejected: already have block ..." and "inconclusive" lead to the
//     main-chain check; every other string is a rejection. A valid block that is not in
//     the main chain afterwards (it lost the race at its height) is a *chain.BlockError
//     with Stale set.
//   - Side branches: btcd answers verbose getblockheader/getblock only for main-chain
//     blocks (an internal error otherwise); Core answers with confirmations -1. Both are
//     read as "not in the main chain".
//   - Unknown outpoints: btcd's gettxout answers error -5 for an unknown transaction,
//     Core answers null; both mean "not in the UTXO set".
//
// Tested against real nodes: btcd built from the pinned module (package btcdtest) and
// Bitcoin Core v30.0 (package bitcoindtest), including zero-fee spends made by Core's
// wallet (P2WPKH, P2TR, P2SH-P2WPKH, a 2-of-3 multisig) and every submitblock answer Core
// gives; chain/backendtest runs the shared Backend suite on both. Fixtures remain only for
// answers a live node cannot be made to give (see bitcoind_test.go).
package rpcnode
