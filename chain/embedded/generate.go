package embedded

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/mining"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/miner"
)

// coinbaseTag ends the coinbase script of the blocks this package mines.
const coinbaseTag = "/powbroker-embedded/"

// quickNonces are tried on the calling goroutine before the parallel scan: enough for
// regtest's trivial target, so a regtest block costs microseconds.
const quickNonces = 1 << 12

// scanSegment is how many nonces are scanned between two progress lines (a few
// seconds on two cores).
const scanSegment = 1 << 28

// FaucetAddress is the P2PKH address the initial blocks pay and Faucet spends from.
func (c *Chain) FaucetAddress() btcutil.Address { return c.faucetAddr }

// Generate mines n blocks on the tip, each with the mempool's transactions, and
// returns their hashes. payout is the coinbase output script; nil pays the faucet.
func (c *Chain) Generate(ctx context.Context, n int, payout []byte) ([]chainhash.Hash, error) {
	if payout == nil {
		payout = c.faucetScript
	}
	var hashes []chainhash.Hash
	for len(hashes) < n {
		h, err := c.mineOnTip(ctx, func(value int64) []*wire.TxOut {
			return []*wire.TxOut{wire.NewTxOut(value, payout)}
		})
		if err != nil {
			return hashes, err
		}
		hashes = append(hashes, h)
	}
	return hashes, nil
}

// mineOnTip mines one block on the tip from the node's template, with the coinbase
// outputs outs(value) where value is subsidy plus fees. When the tip moves while the
// block is being solved, it starts again on the new tip.
func (c *Chain) mineOnTip(ctx context.Context, outs func(value int64) []*wire.TxOut) (chainhash.Hash, error) {
	for {
		if err := c.rlock(ctx); err != nil {
			return chainhash.Hash{}, err
		}
		bt, err := c.gen.NewBlockTemplate(nil)
		c.mu.RUnlock()
		if err != nil {
			return chainhash.Hash{}, fmt.Errorf("embedded: block template: %w", err)
		}
		h := bt.Block.Header
		block, err := c.buildBlock(h, bt.Height, bt.Block.Transactions[1:],
			outs(bt.Block.Transactions[0].TxOut[0].Value))
		if err != nil {
			return chainhash.Hash{}, err
		}
		if err := c.solve(ctx, &block.Header, bt.Height); err != nil {
			return chainhash.Hash{}, err
		}
		isMain, err := c.submitMined(ctx, block)
		if err != nil {
			return chainhash.Hash{}, err
		}
		if isMain {
			return block.BlockHash(), nil
		}
		c.log.Debug("mined block went stale, mining again", "hash", block.BlockHash().String())
	}
}

// GenerateOn mines n blocks on top of parent, any known block, the first one holding
// txs, and returns their hashes. They become the main chain when their branch has the
// most work (a reorganization); otherwise they stay on a side chain. The coinbases
// claim the subsidy only (the fees of txs are left unclaimed).
func (c *Chain) GenerateOn(ctx context.Context, parent chainhash.Hash, n int, txs []*wire.MsgTx) ([]chainhash.Hash, error) {
	var hashes []chainhash.Hash
	prev := parent
	for i := 0; i < n; i++ {
		if err := c.rlock(ctx); err != nil {
			return hashes, err
		}
		hdr, height, mtp, version, err := c.parentInfo(prev)
		c.mu.RUnlock()
		if err != nil {
			return hashes, err
		}
		ts := time.Unix(max(time.Now().Unix(), mtp.Unix()+1), 0)
		if ts.Before(hdr.Timestamp) {
			ts = hdr.Timestamp
		}
		var blockTxs []*wire.MsgTx
		if i == 0 {
			blockTxs = txs
		}
		value := blockchain.CalcBlockSubsidy(height, c.params)
		block, err := c.buildBlock(wire.BlockHeader{
			Version: version, PrevBlock: prev, Timestamp: ts, Bits: c.params.PowLimitBits,
		}, height, blockTxs, []*wire.TxOut{wire.NewTxOut(value, c.faucetScript)})
		if err != nil {
			return hashes, err
		}
		if err := c.solve(ctx, &block.Header, height); err != nil {
			return hashes, err
		}
		if _, err := c.submitMined(ctx, block); err != nil {
			return hashes, err
		}
		prev = block.BlockHash()
		hashes = append(hashes, prev)
	}
	return hashes, nil
}

// parentInfo returns what a block on top of hash needs: the parent's header, the new
// block's height, the parent's median time past and the block version. c.mu must be
// held.
func (c *Chain) parentInfo(hash chainhash.Hash) (wire.BlockHeader, int32, time.Time, int32, error) {
	hdr, err := c.bc.HeaderByHash(&hash)
	if err != nil {
		return wire.BlockHeader{}, 0, time.Time{}, 0, fmt.Errorf("embedded: block %s: %w", hash, ErrUnknownBlock)
	}
	// Walk back to the main chain to learn the height of a side-chain block.
	steps := int32(0)
	cur, curHdr := hash, hdr
	for !c.bc.MainChainHasBlock(&cur) {
		cur = curHdr.PrevBlock
		if curHdr, err = c.bc.HeaderByHash(&cur); err != nil {
			return wire.BlockHeader{}, 0, time.Time{}, 0, fmt.Errorf("embedded: ancestor %s: %w", cur, err)
		}
		steps++
	}
	base, err := c.bc.BlockHeightByHash(&cur)
	if err != nil {
		return wire.BlockHeader{}, 0, time.Time{}, 0, fmt.Errorf("embedded: height of %s: %w", cur, err)
	}
	mtp := hdr.Timestamp
	if hdr.PrevBlock != (chainhash.Hash{}) {
		if mtp, err = c.bc.PastMedianTime(&hdr); err != nil {
			return wire.BlockHeader{}, 0, time.Time{}, 0, fmt.Errorf("embedded: median time of %s: %w", hash, err)
		}
	}
	version, err := c.bc.CalcNextBlockVersion()
	if err != nil {
		return wire.BlockHeader{}, 0, time.Time{}, 0, fmt.Errorf("embedded: block version: %w", err)
	}
	return hdr, base + steps + 1, mtp, version, nil
}

// submitMined processes a block this package mined. A rejection is a *chain.BlockError.
func (c *Chain) submitMined(ctx context.Context, block *wire.MsgBlock) (bool, error) {
	if err := c.lock(ctx); err != nil {
		return false, err
	}
	defer c.mu.Unlock()
	b := btcutil.NewBlock(block)
	isMain, isOrphan, err := c.processLocked(b)
	if err != nil {
		return false, &chain.BlockError{Hash: *b.Hash(), Reason: err.Error(), Err: err}
	}
	if isOrphan {
		return false, &chain.BlockError{Hash: *b.Hash(), Reason: "orphan: parent unknown"}
	}
	return isMain, nil
}

// nextExtraNonce makes every coinbase this chain builds unique.
func (c *Chain) nextExtraNonce() uint64 {
	c.nonceMu.Lock()
	defer c.nonceMu.Unlock()
	c.extraNonce++
	return uint64(time.Now().UnixNano()) ^ c.extraNonce<<48 ^ c.extraNonce
}

// buildBlock makes an unsolved block from header fields (version, previous block, time,
// bits), the block's height, its transactions after the coinbase and the coinbase
// outputs. A witness commitment is added when a transaction has witness data.
func (c *Chain) buildBlock(h wire.BlockHeader, height int32, txs []*wire.MsgTx, outs []*wire.TxOut) (*wire.MsgBlock, error) {
	script, err := txscript.NewScriptBuilder().
		AddInt64(int64(height)).
		AddInt64(int64(c.nextExtraNonce() & math.MaxInt64)).
		AddData([]byte(coinbaseTag)).
		Script()
	if err != nil {
		return nil, fmt.Errorf("embedded: coinbase script: %w", err)
	}
	cb := wire.NewMsgTx(wire.TxVersion)
	cb.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex},
		SignatureScript:  script,
		Sequence:         wire.MaxTxInSequenceNum,
	})
	for _, o := range outs {
		cb.AddTxOut(o)
	}
	all := []*btcutil.Tx{btcutil.NewTx(cb)}
	witness := false
	for _, tx := range txs {
		all = append(all, btcutil.NewTx(tx))
		witness = witness || tx.HasWitness()
	}
	if witness {
		mining.AddWitnessCommitment(all[0], all)
	}
	block := &wire.MsgBlock{Header: h}
	block.Header.Nonce = 0
	block.Header.MerkleRoot = blockchain.CalcMerkleRoot(all, false)
	for _, tx := range all {
		block.Transactions = append(block.Transactions, tx.MsgTx())
	}
	return block, nil
}

// solve finds a nonce that gives h a hash at or below the target of its bits, with the
// fastest kernel on all threads. When the nonce space is used up the time moves on by a
// second.
func (c *Chain) solve(ctx context.Context, h *wire.BlockHeader, height int32) error {
	// Close stops mining too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()

	err := c.scan(ctx, h, height)
	if err != nil && c.ctx.Err() != nil {
		return ErrClosed
	}
	return err
}

// scan is solve's loop.
func (c *Chain) scan(ctx context.Context, h *wire.BlockHeader, height int32) error {
	target := blockchain.CompactToBig(h.Bits)
	mt := miner.TargetFromBig(target)
	start := time.Now()
	var hashes uint64
	for {
		var buf bytes.Buffer
		buf.Grow(wire.MaxBlockHeaderPayload)
		if err := h.Serialize(&buf); err != nil {
			return fmt.Errorf("embedded: serialize header: %w", err)
		}
		var mh miner.Header
		copy(mh[:], buf.Bytes())

		found := false
		var nonce uint32
		done, err := c.kernel.Scan(ctx, &mh, 0, quickNonces, &mt, func(f miner.Found) {
			if !found {
				found, nonce = true, f.Nonce
			}
		})
		hashes += done
		if err != nil {
			return err
		}
		if !found {
			c.log.Debug("solving block", "height", height, "threads", c.threads,
				"expected_hashes", chain.ExpectedHashes(target))
		}
		// The rest of the nonce space in segments, with a progress line after each.
		for pos := uint64(quickNonces); !found && pos < miner.MaxCount; {
			n := min(uint64(scanSegment), miner.MaxCount-pos)
			sctx, scancel := context.WithCancel(ctx)
			done, err = miner.ScanParallel(sctx, c.kernel, c.threads, &mh, uint32(pos), n, &mt, func(f miner.Found) {
				if !found {
					found, nonce = true, f.Nonce
					scancel()
				}
			})
			scancel()
			hashes += done
			pos += n
			if found {
				break
			}
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			el := time.Since(start)
			c.log.Info("still mining", "height", height, "hashes", hashes,
				"expected_hashes", chain.ExpectedHashes(target), "elapsed", el.Round(time.Millisecond),
				"mhps", fmt.Sprintf("%.1f", float64(hashes)/el.Seconds()/1e6))
		}
		if found {
			h.Nonce = nonce
			if hash := h.BlockHash(); !chain.MeetsTarget(&hash, target) {
				return fmt.Errorf("embedded: kernel %s returned nonce %d whose hash %s misses the target",
					c.kernel.Name(), nonce, hash)
			}
			if el := time.Since(start); el > time.Second {
				c.log.Info("mined block", "height", height, "hashes", hashes,
					"elapsed", el.Round(time.Millisecond),
					"mhps", fmt.Sprintf("%.1f", float64(hashes)/el.Seconds()/1e6))
			}
			return nil
		}
		// The whole nonce space missed (about e^-64 likely at 0x1d3fffff): new time.
		h.Timestamp = h.Timestamp.Add(time.Second)
	}
}
