package rpcnode

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/mempool"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/standard"
)

// Policy limits applied by CheckTx, the same as btcd's and Core's standard policy.
const (
	maxStandardTxWeight   = 400000
	maxStandardSigOpsCost = blockchain.MaxBlockSigOpsCost / 5
)

// txOutResult is gettxout's answer.
type txOutResult struct {
	BestBlock     string  `json:"bestblock"`
	Confirmations int64   `json:"confirmations"`
	Value         float64 `json:"value"`
	ScriptPubKey  struct {
		Hex string `json:"hex"`
	} `json:"scriptPubKey"`
	Coinbase bool `json:"coinbase"`
}

// prevOut is what CheckTx learned about one spent output.
type prevOut struct {
	out      *wire.TxOut
	height   int32 // block height of the output; next height for outputs of pending
	coinbase bool
}

func txErr(reason chain.TxReason, err error, format string, args ...any) error {
	return &chain.TxError{Reason: reason, Message: fmt.Sprintf(format, args...), Err: err}
}

// CheckTx validates tx as a candidate for the next block without the node's mempool
// policy (so zero-fee transactions pass): sanity, finality and sequence locks,
// standardness, every input unspent in the chain (gettxout) or created by one of
// pending, not spent by a transaction of the node's mempool or of pending, coinbase
// maturity, amounts, sigop cost and weight, then every input script with txscript.
func (n *Node) CheckTx(ctx context.Context, msg *wire.MsgTx, pending []*wire.MsgTx) (chain.TxCheck, error) {
	tx := btcutil.NewTx(msg)
	if err := checkAlone(tx); err != nil {
		return chain.TxCheck{}, err
	}
	ci, err := n.chainInfo(ctx)
	if err != nil {
		return chain.TxCheck{}, err
	}
	nextHeight := ci.Blocks + 1
	mtp := time.Unix(ci.MedianTime, 0)
	segwit, err := n.segwitActive(ctx, ci)
	if err != nil {
		return chain.TxCheck{}, err
	}
	if err := standard.CheckTx(tx, nextHeight, mtp); err != nil {
		reason := chain.TxNonStandard
		if !blockchain.IsFinalizedTransaction(tx, nextHeight, mtp) {
			reason = chain.TxNotFinal
		}
		return chain.TxCheck{}, txErr(reason, err, "%v", err)
	}
	prevs, err := n.resolveInputs(ctx, msg, pending, ci.Blocks)
	if err != nil {
		return chain.TxCheck{}, err
	}
	view := blockchain.NewUtxoViewpoint()
	for i, in := range msg.TxIn {
		view.Entries()[in.PreviousOutPoint] = blockchain.NewUtxoEntry(prevs[i].out, prevs[i].height, prevs[i].coinbase)
	}
	// After the inputs: a missing input is the more useful verdict (a restarted
	// regtest node has neither the coins nor segwit).
	if msg.HasWitness() && !segwit {
		return chain.TxCheck{}, txErr(chain.TxNonStandard, nil, "the transaction has witness data but segwit is not active for the next block (height %d)", nextHeight)
	}
	fee, err := blockchain.CheckTransactionInputs(tx, nextHeight, view, n.params)
	if err != nil {
		reason := chain.TxInvalid
		var re blockchain.RuleError
		if errors.As(err, &re) {
			switch re.ErrorCode {
			case blockchain.ErrImmatureSpend:
				reason = chain.TxImmature
			case blockchain.ErrMissingTxOut:
				reason = chain.TxMissingInputs
			}
		}
		return chain.TxCheck{}, txErr(reason, err, "%v", err)
	}
	if err := standard.CheckDust(msg, fee); err != nil {
		return chain.TxCheck{}, txErr(chain.TxNonStandard, err, "%v", err)
	}
	if err := n.checkSequenceLocks(ctx, msg, prevs, nextHeight, mtp); err != nil {
		return chain.TxCheck{}, err
	}
	sigops, err := blockchain.GetSigOpCost(tx, false, view, true, segwit)
	if err != nil {
		return chain.TxCheck{}, txErr(chain.TxInvalid, err, "sigop count: %v", err)
	}
	if sigops > maxStandardSigOpsCost {
		return chain.TxCheck{}, txErr(chain.TxNonStandard, nil, "sigop cost %d is above the standard limit of %d", sigops, maxStandardSigOpsCost)
	}
	if err := verifyScripts(msg, prevs); err != nil {
		return chain.TxCheck{}, err
	}
	return chain.TxCheck{
		Txid:      *tx.Hash(),
		Fee:       fee,
		VSize:     mempool.GetTxVirtualSize(tx),
		Weight:    blockchain.GetTransactionWeight(tx),
		SigOpCost: int64(sigops),
	}, nil
}

// checkAlone applies the checks that need nothing but the transaction: sanity, not a
// coinbase, the standard weight limit.
func checkAlone(tx *btcutil.Tx) error {
	if err := blockchain.CheckTransactionSanity(tx); err != nil {
		return txErr(chain.TxInvalid, err, "%v", err)
	}
	if blockchain.IsCoinBase(tx) {
		return txErr(chain.TxInvalid, nil, "a coinbase transaction cannot be submitted")
	}
	if weight := blockchain.GetTransactionWeight(tx); weight > maxStandardTxWeight {
		return txErr(chain.TxTooLarge, nil, "weight %d is above the standard limit of %d", weight, maxStandardTxWeight)
	}
	return nil
}

// resolveInputs finds the output every input spends: an output of one of pending (the
// active orders' transactions) or of the chain's UTXO set, refusing inputs that a
// pending transaction or a transaction of the node's mempool already spends.
func (n *Node) resolveInputs(ctx context.Context, msg *wire.MsgTx, pending []*wire.MsgTx, tipHeight int32) ([]prevOut, error) {
	txid := msg.TxHash()
	pendingOut := make(map[wire.OutPoint]*wire.TxOut)
	pendingSpent := make(map[wire.OutPoint]chainhash.Hash)
	for _, p := range pending {
		pid := p.TxHash()
		if pid == txid {
			continue
		}
		for i, out := range p.TxOut {
			pendingOut[wire.OutPoint{Hash: pid, Index: uint32(i)}] = out
		}
		for _, in := range p.TxIn {
			pendingSpent[in.PreviousOutPoint] = pid
		}
	}
	prevs := make([]prevOut, len(msg.TxIn))
	var conflicts map[wire.OutPoint]chainhash.Hash
	for i, in := range msg.TxIn {
		op := in.PreviousOutPoint
		if other, ok := pendingSpent[op]; ok {
			return nil, txErr(chain.TxConflict, nil, "input %d (%s) is already spent by transaction %s of another active order", i, op, other)
		}
		if out, ok := pendingOut[op]; ok {
			prevs[i] = prevOut{out: out, height: tipHeight + 1}
			continue
		}
		p, err := n.lookupInput(ctx, msg, i, tipHeight)
		if err != nil {
			return nil, err
		}
		prevs[i] = *p
		if n.cfg.Kind == KindBitcoind {
			// Core's gettxout with include_mempool answers null for an output
			// that a mempool transaction spends.
			var r *txOutResult
			if err := n.rpc.call(ctx, "gettxout", &r, op.Hash.String(), op.Index, true); err != nil {
				return nil, asUnavailable(err)
			}
			if r == nil {
				return nil, txErr(chain.TxConflict, nil, "input %d (%s) is spent by a transaction in the node's mempool", i, op)
			}
			continue
		}
		if conflicts == nil {
			if conflicts, err = n.mempoolSpends(ctx); err != nil {
				return nil, err
			}
		}
		if other, ok := conflicts[op]; ok && other != txid {
			return nil, txErr(chain.TxConflict, nil, "input %d (%s) is spent by transaction %s in the node's mempool", i, op, other)
		}
	}
	return prevs, nil
}

// lookupInput finds the output spent by input i in the node's chain state. An output
// that is not unspent in the chain is classified: spent (its transaction exists),
// missing (it never existed), an output of an unconfirmed mempool transaction, or the
// transaction itself is already mined.
func (n *Node) lookupInput(ctx context.Context, msg *wire.MsgTx, i int, tipHeight int32) (*prevOut, error) {
	op := msg.TxIn[i].PreviousOutPoint
	var r *txOutResult
	if err := n.rpc.call(ctx, "gettxout", &r, op.Hash.String(), op.Index, false); err != nil {
		if code, ok := rpcCode(err); !ok || code != codeNotFound {
			return nil, asUnavailable(err)
		}
		r = nil // btcd answers -5 for an outpoint of an unknown transaction
	}
	if r != nil {
		script, err := hex.DecodeString(r.ScriptPubKey.Hex)
		if err != nil {
			return nil, unavailable("gettxout %s: script %q: %v", op, r.ScriptPubKey.Hex, err)
		}
		value, err := btcutil.NewAmount(r.Value)
		if err != nil || value < 0 {
			return nil, unavailable("gettxout %s: value %v", op, r.Value)
		}
		if r.Confirmations < 1 {
			return nil, unavailable("gettxout %s: %d confirmations for a chain output", op, r.Confirmations)
		}
		height := tipHeight - int32(r.Confirmations) + 1
		return &prevOut{out: wire.NewTxOut(int64(value), script), height: height, coinbase: r.Coinbase}, nil
	}
	// Not unspent in the chain. An output of a mempool transaction?
	var mr *txOutResult
	if err := n.rpc.call(ctx, "gettxout", &mr, op.Hash.String(), op.Index, true); err != nil {
		if code, ok := rpcCode(err); !ok || code != codeNotFound {
			return nil, asUnavailable(err)
		}
		mr = nil
	}
	if mr != nil && mr.Confirmations == 0 {
		return nil, txErr(chain.TxMissingInputs, nil, "input %d (%s) spends an output of transaction %s, which is not confirmed yet (only confirmed outputs or outputs of active orders can be spent)", i, op, op.Hash)
	}
	// Already mined itself?
	txid := msg.TxHash()
	if st, err := n.TxStatus(ctx, txid, chainhash.Hash{}); err != nil {
		return nil, err
	} else if st.Confirmed {
		return nil, txErr(chain.TxAlreadyMined, nil, "transaction %s is already in block %s (height %d)", txid, st.BlockHash, st.Height)
	}
	// Does the previous transaction exist at all?
	var raw string
	if err := n.rpc.call(ctx, "getrawtransaction", &raw, op.Hash.String(), 0); err != nil {
		if code, ok := rpcCode(err); ok && code == codeNotFound {
			return nil, txErr(chain.TxMissingInputs, nil, "input %d (%s) refers to transaction %s, which the node does not know (or it is spent and the node keeps no transaction index)", i, op, op.Hash)
		}
		return nil, asUnavailable(err)
	}
	b, err := hex.DecodeString(raw)
	prev := new(wire.MsgTx)
	if err == nil {
		err = prev.Deserialize(bytes.NewReader(b))
	}
	if err != nil {
		return nil, unavailable("getrawtransaction %s: %v", op.Hash, err)
	}
	if int(op.Index) >= len(prev.TxOut) {
		return nil, txErr(chain.TxMissingInputs, nil, "input %d (%s): transaction %s has only %d outputs", i, op, op.Hash, len(prev.TxOut))
	}
	return nil, txErr(chain.TxInputSpent, nil, "input %d (%s) is already spent in the chain", i, op)
}

// mempoolSpends returns the outpoints spent by the node's mempool transactions. btcd's
// gettxout ignores mempool spends, so CheckTx keeps an index of the mempool's inputs,
// updated from getrawmempool (each transaction is fetched once).
func (n *Node) mempoolSpends(ctx context.Context) (map[wire.OutPoint]chainhash.Hash, error) {
	var ids []string
	if err := n.rpc.call(ctx, "getrawmempool", &ids, false); err != nil {
		return nil, asUnavailable(err)
	}
	live := make(map[chainhash.Hash]bool, len(ids))
	var missing []chainhash.Hash
	n.mu.Lock()
	for _, s := range ids {
		h, err := chainhash.NewHashFromStr(s)
		if err != nil {
			n.mu.Unlock()
			return nil, unavailable("getrawmempool: txid %q", s)
		}
		live[*h] = true
		if _, ok := n.mempool[*h]; !ok {
			missing = append(missing, *h)
		}
	}
	n.mu.Unlock()
	fetched := make(map[chainhash.Hash][]wire.OutPoint, len(missing))
	for _, h := range missing {
		var raw string
		if err := n.rpc.call(ctx, "getrawtransaction", &raw, h.String(), 0); err != nil {
			if code, ok := rpcCode(err); ok && code == codeNotFound {
				continue // left the mempool meanwhile
			}
			return nil, asUnavailable(err)
		}
		b, err := hex.DecodeString(raw)
		tx := new(wire.MsgTx)
		if err == nil {
			err = tx.Deserialize(bytes.NewReader(b))
		}
		if err != nil {
			return nil, unavailable("getrawtransaction %s: %v", h, err)
		}
		ops := make([]wire.OutPoint, len(tx.TxIn))
		for i, in := range tx.TxIn {
			ops[i] = in.PreviousOutPoint
		}
		fetched[h] = ops
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for h, ops := range fetched {
		n.mempool[h] = ops
	}
	spends := make(map[wire.OutPoint]chainhash.Hash)
	for h, ops := range n.mempool {
		if !live[h] {
			delete(n.mempool, h)
			continue
		}
		for _, op := range ops {
			spends[op] = h
		}
	}
	return spends, nil
}

// checkSequenceLocks applies BIP 68 relative lock times as the mempool does (always,
// for version 2+ transactions).
func (n *Node) checkSequenceLocks(ctx context.Context, msg *wire.MsgTx, prevs []prevOut, nextHeight int32, mtp time.Time) error {
	if msg.Version < 2 {
		return nil
	}
	for i, in := range msg.TxIn {
		seq := in.Sequence
		if seq&wire.SequenceLockTimeDisabled != 0 {
			continue
		}
		lock := int64(seq & wire.SequenceLockTimeMask)
		inHeight := prevs[i].height
		if seq&wire.SequenceLockTimeIsSeconds == 0 {
			if int64(nextHeight) < int64(inHeight)+lock {
				return txErr(chain.TxNotFinal, nil, "input %d is locked for %d blocks after height %d (BIP 68); the next block is %d", i, lock, inHeight, nextHeight)
			}
			continue
		}
		base := mtp // an output created in the next block: its lock starts at the tip's median time
		if inHeight < nextHeight {
			prevHeight := inHeight - 1
			if prevHeight < 0 {
				prevHeight = 0
			}
			t, err := n.medianTimeAt(ctx, prevHeight)
			if err != nil {
				return err
			}
			base = t
		}
		unlock := base.Unix() + lock<<wire.SequenceLockTimeGranularity - 1
		if mtp.Unix() <= unlock {
			return txErr(chain.TxNotFinal, nil, "input %d is locked until median time %s (BIP 68)", i, time.Unix(unlock+1, 0).UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// medianTimeAt computes the median time past of the main-chain block at height from
// the timestamps of it and its ten predecessors.
func (n *Node) medianTimeAt(ctx context.Context, height int32) (time.Time, error) {
	var hs string
	if err := n.rpc.call(ctx, "getblockhash", &hs, height); err != nil {
		return time.Time{}, asUnavailable(err)
	}
	h, err := chainhash.NewHashFromStr(hs)
	if err != nil {
		return time.Time{}, unavailable("getblockhash %d: %q", height, hs)
	}
	var times []int64
	for range 11 {
		hdr, err := n.rawHeader(ctx, *h)
		if err != nil {
			return time.Time{}, asUnavailable(err)
		}
		times = append(times, hdr.Timestamp.Unix())
		if hdr.PrevBlock == (chainhash.Hash{}) {
			break
		}
		h = &hdr.PrevBlock
	}
	sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
	return time.Unix(times[len(times)/2], 0), nil
}

// verifyScripts runs every input script with the standard verification flags; an
// input spending a P2A output needs an empty scriptSig and witness instead.
func verifyScripts(msg *wire.MsgTx, prevs []prevOut) error {
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range msg.TxIn {
		fetcher.AddPrevOut(in.PreviousOutPoint, prevs[i].out)
	}
	anchors, err := standard.AnchorInputs(msg, fetcher)
	if err != nil {
		return txErr(chain.TxNonStandard, err, "%v", err)
	}
	if i, err := standard.VerifyScripts(msg, fetcher, anchors, nil); err != nil {
		return txErr(chain.TxScript, err, "input %d: script verification failed: %v", i, err)
	}
	return nil
}
