package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/database"
	"github.com/btcsuite/btcd/mining"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/standard"
)

// Limits of one transaction so that it fits a block next to a coinbase.
const (
	maxTxWeight    = blockchain.MaxBlockWeight - 4000
	maxTxSigOpCost = blockchain.MaxBlockSigOpsCost - 400
)

func txErr(reason chain.TxReason, err error, format string, args ...any) *chain.TxError {
	return &chain.TxError{Reason: reason, Message: fmt.Sprintf(format, args...), Err: err}
}

// CheckTx validates tx as a candidate for the next block: size, sanity, finality,
// inputs (unspent in the chain, or outputs of pending or mempool transactions), no
// conflict with pending or mempool transactions, amounts and coinbase maturity,
// sequence locks, signature operations, scripts and (unless Config.AcceptNonStandard)
// btcd's standardness policy. A rejection is a *chain.TxError.
func (c *Chain) CheckTx(ctx context.Context, msg *wire.MsgTx, pending []*wire.MsgTx) (chain.TxCheck, error) {
	tx, weight, err := checkTxAlone(msg)
	if err != nil {
		return chain.TxCheck{}, err
	}
	if err := c.rlock(ctx); err != nil {
		return chain.TxCheck{}, err
	}
	defer c.mu.RUnlock()
	best := c.bc.BestSnapshot()
	segwit, err := c.checkTxPlace(tx, best)
	if err != nil {
		return chain.TxCheck{}, err
	}
	view, fee, err := c.checkTxInputs(tx, pending, best)
	if err != nil {
		return chain.TxCheck{}, err
	}
	sigOps, err := c.checkTxScripts(tx, view, best, segwit, fee)
	if err != nil {
		return chain.TxCheck{}, err
	}
	return chain.TxCheck{
		Txid:      *tx.Hash(),
		Fee:       fee,
		VSize:     (weight + 3) / 4,
		Weight:    weight,
		SigOpCost: int64(sigOps),
	}, nil
}

// checkTxAlone checks what needs no chain: presence, weight, not a coinbase, btcd's
// sanity rules. It returns the transaction and its weight.
func checkTxAlone(msg *wire.MsgTx) (*btcutil.Tx, int64, error) {
	if msg == nil {
		return nil, 0, txErr(chain.TxInvalid, nil, "no transaction")
	}
	tx := btcutil.NewTx(msg)
	weight := blockchain.GetTransactionWeight(tx)
	if weight > maxTxWeight {
		return nil, 0, txErr(chain.TxTooLarge, nil,
			"transaction weight %d is above %d, the most a block can hold next to its coinbase", weight, maxTxWeight)
	}
	if blockchain.IsCoinBase(tx) {
		return nil, 0, txErr(chain.TxInvalid, nil, "a coinbase transaction cannot be submitted")
	}
	if err := blockchain.CheckTransactionSanity(tx); err != nil {
		return nil, 0, txErr(chain.TxInvalid, err, "%v", err)
	}
	return tx, weight, nil
}

// checkTxPlace checks that tx may go into the next block: not already mined, final,
// witness data only with segwit active. It returns whether segwit is active. c.mu must
// be held.
func (c *Chain) checkTxPlace(tx *btcutil.Tx, best *blockchain.BestState) (bool, error) {
	msg := tx.MsgTx()
	nextHeight := best.Height + 1
	region, err := c.txIndex.TxBlockRegion(tx.Hash())
	if err != nil {
		return false, fmt.Errorf("embedded: transaction index: %w", err)
	}
	if region != nil {
		h, _ := c.bc.BlockHeightByHash(region.Hash)
		return false, txErr(chain.TxAlreadyMined, nil,
			"transaction %s is already in block %s at height %d", tx.Hash(), region.Hash, h)
	}
	if !blockchain.IsFinalizedTransaction(tx, nextHeight, best.MedianTime) {
		return false, txErr(chain.TxNotFinal, nil,
			"lock time %d is not reached: the next block has height %d and median time past %d",
			msg.LockTime, nextHeight, best.MedianTime.Unix())
	}
	segwit, err := c.bc.IsDeploymentActive(chaincfg.DeploymentSegwit)
	if err != nil {
		return false, fmt.Errorf("embedded: segwit state: %w", err)
	}
	if msg.HasWitness() && !segwit {
		return false, txErr(chain.TxInvalid, nil,
			"transaction has witness data but segregated witness is not active for block %d", nextHeight)
	}
	return segwit, nil
}

// checkTxInputs finds the outputs tx spends and checks amounts, coinbase maturity and
// sequence locks (BIP 68). It returns the inputs and the fee. c.mu must be held.
func (c *Chain) checkTxInputs(tx *btcutil.Tx, pending []*wire.MsgTx, best *blockchain.BestState) (*blockchain.UtxoViewpoint, int64, error) {
	nextHeight := best.Height + 1
	view, err := c.inputsView(tx, pending)
	if err != nil {
		return nil, 0, err
	}
	fee, err := blockchain.CheckTransactionInputs(tx, nextHeight, view, c.params)
	if err != nil {
		var re blockchain.RuleError
		if errors.As(err, &re) && re.ErrorCode == blockchain.ErrImmatureSpend {
			return nil, 0, txErr(chain.TxImmature, err, "%s", re.Description)
		}
		return nil, 0, txErr(chain.TxInvalid, err, "%v", err)
	}
	lock, err := c.bc.CalcSequenceLock(tx, view, true)
	if err != nil {
		return nil, 0, txErr(chain.TxInvalid, err, "sequence locks: %v", err)
	}
	if !blockchain.SequenceLockActive(lock, nextHeight, best.MedianTime) {
		var needs []string
		if lock.BlockHeight >= 0 {
			needs = append(needs, fmt.Sprintf("a block above height %d", lock.BlockHeight))
		}
		if lock.Seconds >= 0 {
			needs = append(needs, fmt.Sprintf("a median time past above %d", lock.Seconds))
		}
		return nil, 0, txErr(chain.TxNotFinal, nil,
			"relative lock time (BIP 68) is not reached: an input needs %s; the next block has height %d and median time past %d",
			strings.Join(needs, " and "), nextHeight, best.MedianTime.Unix())
	}
	return view, fee, nil
}

// checkTxScripts counts signature operations and runs the scripts, then (unless
// Config.AcceptNonStandard) the standardness policy (btcd's, with TRUC and P2A as
// package standard extends it). It returns the signature operation cost.
func (c *Chain) checkTxScripts(tx *btcutil.Tx, view *blockchain.UtxoViewpoint, best *blockchain.BestState, segwit bool, fee int64) (int, error) {
	sigOps, err := blockchain.GetSigOpCost(tx, false, view, true, segwit)
	if err != nil {
		return 0, txErr(chain.TxInvalid, err, "counting signature operations: %v", err)
	}
	if sigOps > maxTxSigOpCost {
		return 0, txErr(chain.TxTooLarge, nil,
			"signature operation cost %d is above %d, the most a block can hold next to its coinbase", sigOps, maxTxSigOpCost)
	}
	flags := txscript.StandardVerifyFlags
	anchors, aerr := standard.AnchorInputs(tx.MsgTx(), view)
	if aerr != nil && !c.cfg.AcceptNonStandard {
		return 0, txErr(chain.TxNonStandard, aerr, "%v", aerr)
	}
	if anchors != nil {
		if i, err := standard.VerifyScripts(tx.MsgTx(), view, anchors, c.sigCache); err != nil {
			return 0, txErr(chain.TxScript, err, "input %d (spending %v): %v", i, tx.MsgTx().TxIn[i].PreviousOutPoint, err)
		}
	} else if err := blockchain.ValidateTransactionScripts(tx, view, flags, c.sigCache, c.hashCache); err != nil {
		return 0, txErr(chain.TxScript, err, "%s", scriptFailure(tx.MsgTx(), view, flags, err))
	}
	if !c.cfg.AcceptNonStandard {
		if err := standard.CheckTx(tx, best.Height+1, best.MedianTime); err != nil {
			return 0, txErr(chain.TxNonStandard, err, "%v", err)
		}
		if err := standard.CheckDust(tx.MsgTx(), fee); err != nil {
			return 0, txErr(chain.TxNonStandard, err, "%v", err)
		}
	}
	return sigOps, nil
}

// inputsView returns the outputs tx spends: from the UTXO set, else from pending
// transactions or the mempool (as unmined outputs). It tells an output that never
// existed from one already spent, and refuses inputs that a pending or mempool
// transaction spends too. c.mu must be held.
func (c *Chain) inputsView(tx *btcutil.Tx, pending []*wire.MsgTx) (*blockchain.UtxoViewpoint, error) {
	txid := *tx.Hash()
	view, err := c.bc.FetchUtxoView(tx)
	if err != nil {
		return nil, fmt.Errorf("embedded: load inputs: %w", err)
	}
	byID := make(map[chainhash.Hash]*wire.MsgTx, len(pending))
	spentBy := make(map[wire.OutPoint]chainhash.Hash)
	for _, p := range pending {
		if p == nil {
			continue
		}
		id := p.TxHash()
		if id == txid {
			continue
		}
		byID[id] = p
		for _, in := range p.TxIn {
			spentBy[in.PreviousOutPoint] = id
		}
	}
	conflict := func(i int, op wire.OutPoint) error {
		if other, ok := spentBy[op]; ok {
			return txErr(chain.TxConflict, nil,
				"input %d spends %v, which pending transaction %s already spends", i, op, other)
		}
		if other := c.pool.CheckSpend(op); other != nil && *other.Hash() != txid {
			return txErr(chain.TxConflict, nil,
				"input %d spends %v, which transaction %s in the node's mempool already spends", i, op, other.Hash())
		}
		return nil
	}
	for i, in := range tx.MsgTx().TxIn {
		op := in.PreviousOutPoint
		if e := view.LookupEntry(op); e != nil && !e.IsSpent() {
			if err := conflict(i, op); err != nil {
				return nil, err
			}
			continue
		}
		// Not in the UTXO set: spent or unspendable if its transaction is in the chain.
		prev, blockHash, err := c.minedTx(op.Hash)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			switch {
			case int(op.Index) >= len(prev.TxOut):
				return nil, txErr(chain.TxMissingInputs, nil,
					"input %d spends %v, but transaction %s (in block %s) has only %d outputs",
					i, op, op.Hash, blockHash, len(prev.TxOut))
			case txscript.IsUnspendable(prev.TxOut[op.Index].PkScript):
				return nil, txErr(chain.TxInvalid, nil,
					"input %d spends %v, an output that is provably unspendable", i, op)
			default:
				return nil, txErr(chain.TxInputSpent, nil,
					"input %d spends %v, which was already spent in the chain (its transaction is in block %s)",
					i, op, blockHash)
			}
		}
		// An output of a pending or mempool transaction.
		parent := byID[op.Hash]
		where := "pending transaction"
		if parent == nil {
			if mtx, err := c.pool.FetchTransaction(&op.Hash); err == nil {
				parent, where = mtx.MsgTx(), "mempool transaction"
			}
		}
		if parent == nil {
			return nil, txErr(chain.TxMissingInputs, nil,
				"input %d spends %v, but transaction %s is not in the chain, the mempool or the pending transactions",
				i, op, op.Hash)
		}
		if int(op.Index) >= len(parent.TxOut) {
			return nil, txErr(chain.TxMissingInputs, nil,
				"input %d spends %v, but %s %s has only %d outputs", i, op, where, op.Hash, len(parent.TxOut))
		}
		if txscript.IsUnspendable(parent.TxOut[op.Index].PkScript) {
			return nil, txErr(chain.TxInvalid, nil,
				"input %d spends %v, an output that is provably unspendable", i, op)
		}
		if err := conflict(i, op); err != nil {
			return nil, err
		}
		view.AddTxOut(btcutil.NewTx(parent), op.Index, mining.UnminedHeight)
	}
	return view, nil
}

// minedTx returns the main-chain transaction txid and its block, or nil when the
// chain does not hold it.
func (c *Chain) minedTx(txid chainhash.Hash) (*wire.MsgTx, chainhash.Hash, error) {
	region, err := c.txIndex.TxBlockRegion(&txid)
	if err != nil {
		return nil, chainhash.Hash{}, fmt.Errorf("embedded: transaction index: %w", err)
	}
	if region == nil {
		return nil, chainhash.Hash{}, nil
	}
	var raw []byte
	err = c.db.View(func(dbTx database.Tx) error {
		b, err := dbTx.FetchBlockRegion(region)
		raw = bytes.Clone(b)
		return err
	})
	if err != nil {
		return nil, chainhash.Hash{}, fmt.Errorf("embedded: read transaction %s: %w", txid, err)
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, chainhash.Hash{}, fmt.Errorf("embedded: decode transaction %s: %w", txid, err)
	}
	return &tx, *region.Hash, nil
}

// scriptFailure names the first input whose script fails and the script engine's
// reason; it falls back to the validator's error.
func scriptFailure(msg *wire.MsgTx, view *blockchain.UtxoViewpoint, flags txscript.ScriptFlags, verr error) string {
	hashes := txscript.NewTxSigHashes(msg, view)
	for i, in := range msg.TxIn {
		e := view.LookupEntry(in.PreviousOutPoint)
		if e == nil {
			continue
		}
		vm, err := txscript.NewEngine(e.PkScript(), msg, i, flags, nil, hashes, e.Amount(), view)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return fmt.Sprintf("input %d (spending %v): %v", i, in.PreviousOutPoint, err)
		}
	}
	return verr.Error()
}
