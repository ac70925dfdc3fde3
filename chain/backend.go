package chain

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Backend is a chain the broker mines on. Every method is safe for concurrent use and
// honours ctx for cancellation; a node that does not answer yields an error wrapping
// ErrUnavailable within a few seconds rather than a hang.
type Backend interface {
	// Params are the consensus parameters of the chain.
	Params() *chaincfg.Params
	// Tip is the current best block.
	Tip(ctx context.Context) (Tip, error)
	// Template is what the node would mine on top of the tip now: header fields,
	// coinbase value and the node's own transactions (never the coinbase).
	Template(ctx context.Context) (*Template, error)
	// CheckTx validates tx against the chain as a candidate for the next block:
	// sanity, finality, every input unspent in the chain (or an output of one of
	// pending, the transactions of active orders), scripts, standardness, size.
	// A rejection is a *TxError.
	CheckTx(ctx context.Context, tx *wire.MsgTx, pending []*wire.MsgTx) (TxCheck, error)
	// Propose validates a full block against the tip, everything except proof of
	// work (BIP 23 proposal). A rejection is a *BlockError.
	Propose(ctx context.Context, block *wire.MsgBlock) error
	// SubmitBlock submits a solved block and returns nil only once the block is
	// the chain's tip. A rejection is a *BlockError; so is a valid block that did
	// not join the main chain (it lost the race at its height), with Stale set.
	SubmitBlock(ctx context.Context, block *wire.MsgBlock) error
	// Block returns a block of the chain and its height (-1 when not in the main chain).
	Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, int32, error)
	// TxStatus reports where txid is confirmed in the main chain; hint, when not
	// zero, is the block the caller believes holds it.
	TxStatus(ctx context.Context, txid chainhash.Hash, hint chainhash.Hash) (TxStatus, error)
	// Tips delivers one event per change of the best chain until ctx ends.
	Tips(ctx context.Context) <-chan TipEvent
}

// Tip is a best block.
type Tip struct {
	Hash       chainhash.Hash
	Height     int32
	Bits       uint32
	MedianTime time.Time
}

// TipEvent reports a new best chain: the blocks that left the main chain (a reorg,
// newest first) and the blocks that joined it (oldest first).
type TipEvent struct {
	Tip          Tip
	Disconnected []chainhash.Hash
	Connected    []chainhash.Hash
}

// Reorg tells whether blocks left the main chain.
func (e TipEvent) Reorg() bool { return len(e.Disconnected) > 0 }

// Template is the node's proposal for the next block, without a coinbase.
type Template struct {
	PrevHash      chainhash.Hash
	Height        int32
	Version       int32
	Bits          uint32
	CurTime       time.Time // time to put in the header
	MinTime       time.Time // earliest valid header time (median time past + 1 s)
	CoinbaseValue int64     // subsidy plus the fees of Transactions, in satoshi
	Transactions  []TemplateTx
	// WitnessCommitmentNeeded is set when segwit is active for the block.
	SegwitActive bool
	// SignetChallenge is set on a signet (BIP 325): the block challenge that the
	// block solution in the coinbase's witness commitment must satisfy.
	SignetChallenge []byte
	// SignetKey, for a challenge that needs a signature, signs each block's solution;
	// the block is then valid only with the template's version and CurTime.
	SignetKey *SignetKey
}

// Target returns the network target encoded by the template's bits.
func (t *Template) Target() *big.Int { return CompactToTarget(t.Bits) }

// TemplateTx is one transaction of a template with what block assembly needs.
type TemplateTx struct {
	Tx        *wire.MsgTx
	Fee       int64
	SigOpCost int64
	Weight    int64
}

// TxCheck is what a valid transaction costs and pays.
type TxCheck struct {
	Txid      chainhash.Hash
	Fee       int64 // satoshi
	VSize     int64 // virtual bytes
	Weight    int64
	SigOpCost int64
}

// TxStatus is where a transaction stands in the main chain.
type TxStatus struct {
	Confirmed     bool
	BlockHash     chainhash.Hash
	Height        int32
	Confirmations int32
}

// ErrUnavailable is wrapped by errors that come from a node that cannot be reached
// or does not answer in time.
var ErrUnavailable = errors.New("chain backend unavailable")

// TxReason classifies why a transaction was rejected.
type TxReason string

// Reasons a transaction is rejected. Each is a stable identifier shown to users.
const (
	TxInvalid       TxReason = "invalid-tx"     // fails sanity or consensus checks
	TxMissingInputs TxReason = "missing-inputs" // an input refers to an output that never existed
	TxInputSpent    TxReason = "input-spent"    // an input was already spent in the chain
	TxConflict      TxReason = "conflict"       // an input is spent by a mempool transaction
	TxScript        TxReason = "script-failure" // a signature or script check failed
	TxNonStandard   TxReason = "non-standard"   // the node's policy refuses it
	TxTooLarge      TxReason = "tx-too-large"   // too large to fit a block
	TxImmature      TxReason = "immature-spend" // spends a coinbase that is not yet mature
	TxNotFinal      TxReason = "not-final"      // lock time or sequence locks not yet met
	TxAlreadyMined  TxReason = "already-mined"  // it is already in the chain
)

// TxError is a transaction the chain refuses, with the reason and a message a person
// understands.
type TxError struct {
	Reason  TxReason
	Message string
	Err     error
}

func (e *TxError) Error() string { return fmt.Sprintf("%s: %s", e.Reason, e.Message) }
func (e *TxError) Unwrap() error { return e.Err }

// BlockError is a block the chain refused, or (Stale) a valid block that did not
// become part of the main chain: it lost a race at its height or sits on a side branch.
type BlockError struct {
	Hash   chainhash.Hash
	Reason string
	Stale  bool
	Err    error
}

func (e *BlockError) Error() string {
	if e.Stale {
		return fmt.Sprintf("block %s stale: %s", e.Hash, e.Reason)
	}
	return fmt.Sprintf("block %s rejected: %s", e.Hash, e.Reason)
}
func (e *BlockError) Unwrap() error { return e.Err }
