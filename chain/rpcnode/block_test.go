package rpcnode_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
)

func TestTemplateFreshAndAfterGenerate(t *testing.T) {
	e := start(t, 0, 5*time.Second)
	ctx := context.Background()
	tmpl, err := e.node.Template(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Height != 1 || tmpl.PrevHash != *chaincfg.RegressionNetParams.GenesisHash {
		t.Fatalf("fresh template at height %d on %s, want 1 on genesis", tmpl.Height, tmpl.PrevHash)
	}
	if tmpl.Bits != chaincfg.RegressionNetParams.PowLimitBits || tmpl.CoinbaseValue != 50e8 || tmpl.SegwitActive {
		t.Fatalf("fresh template bits %08x value %d segwit %v", tmpl.Bits, tmpl.CoinbaseValue, tmpl.SegwitActive)
	}
	// A block from this template passes the node's proposal check.
	if err := e.node.Propose(ctx, e.assemble(t, tmpl)); err != nil {
		t.Fatalf("propose at height 1: %v", err)
	}
	hashes := e.btcd.Generate(segwitHeight)
	tmpl, err = e.node.Template(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Height != segwitHeight+1 || tmpl.PrevHash != hashes[len(hashes)-1] || !tmpl.SegwitActive {
		t.Fatalf("template at height %d on %s segwit %v, want %d on %s, segwit active", tmpl.Height, tmpl.PrevHash, tmpl.SegwitActive, segwitHeight+1, hashes[len(hashes)-1])
	}
	// Subsidy halves every 150 blocks on regtest.
	if want := blockchain.CalcBlockSubsidy(tmpl.Height, &chaincfg.RegressionNetParams); tmpl.CoinbaseValue != want {
		t.Fatalf("coinbase value %d, want %d", tmpl.CoinbaseValue, want)
	}
	if !tmpl.MinTime.Before(tmpl.CurTime) && !tmpl.MinTime.Equal(tmpl.CurTime) {
		t.Fatalf("mintime %v after curtime %v", tmpl.MinTime, tmpl.CurTime)
	}
	tip, err := e.node.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tip.Hash != tmpl.PrevHash || tip.Height != segwitHeight || tip.Bits != tmpl.Bits || tip.MedianTime.IsZero() {
		t.Fatalf("tip %+v does not match template", tip)
	}
}

// TestProposeAndSubmit drives the block paths against the node: a block with a
// zero-fee witness spend is proposed and accepted, faulty variants are rejected with the
// node's reason, a solved block becomes the tip, and a stale block is not a success.
func TestProposeAndSubmit(t *testing.T) {
	e := start(t, segwitHeight, 5*time.Second)
	ctx := context.Background()
	spend := e.spend(t, 0, e.coinbaseAt(t, 1))
	tmpl, err := e.node.Template(ctx)
	if err != nil {
		t.Fatal(err)
	}
	good := e.assemble(t, tmpl, templateTx(spend, 0))
	if len(good.Transactions) != 2 || !good.Transactions[0].HasWitness() {
		t.Fatalf("assembled block has %d transactions, coinbase witness %v", len(good.Transactions), good.Transactions[0].HasWitness())
	}
	if err := e.node.Propose(ctx, good); err != nil {
		t.Fatalf("propose good block: %v", err)
	}

	brokenCommitment := good.Copy()
	cb := brokenCommitment.Transactions[0]
	last := cb.TxOut[len(cb.TxOut)-1].PkScript
	if !bytes.HasPrefix(last, blockchain.WitnessMagicBytes) {
		t.Fatalf("last coinbase output %x is not the witness commitment", last)
	}
	last[len(last)-1] ^= 1
	remerkle(brokenCommitment)

	badValue := good.Copy()
	badValue.Transactions[0].TxOut[0].Value++
	remerkle(badValue)

	noWitnessNonce := good.Copy()
	noWitnessNonce.Transactions[0].TxIn[0].Witness = nil

	wrongPrev := good.Copy()
	wrongPrev.Header.PrevBlock[0] ^= 1

	for _, tc := range []struct {
		name   string
		block  *wire.MsgBlock
		reason string
	}{
		{"broken witness commitment", brokenCommitment, "bad-witness-merkle-match"},
		{"coinbase pays too much", badValue, "bad-cb-value"},
		{"coinbase witness missing", noWitnessNonce, "bad-witness-nonce-size"},
		{"not on the tip", wrongPrev, "bad-prevblk"},
	} {
		t.Run("propose "+tc.name, func(t *testing.T) {
			err := e.node.Propose(ctx, tc.block)
			var be *chain.BlockError
			if !errors.As(err, &be) {
				t.Fatalf("propose: %v, want a BlockError", err)
			}
			if be.Reason != tc.reason || be.Hash != tc.block.BlockHash() {
				t.Fatalf("reason %q for %s, want %q", be.Reason, be.Hash, tc.reason)
			}
			if errors.Is(err, chain.ErrUnavailable) {
				t.Fatal("a rejection must not be 'unavailable'")
			}
		})
	}

	t.Run("submit broken commitment", func(t *testing.T) {
		solve(t, brokenCommitment)
		err := e.node.SubmitBlock(ctx, brokenCommitment)
		var be *chain.BlockError
		if !errors.As(err, &be) {
			t.Fatalf("submit: %v, want a BlockError", err)
		}
		t.Logf("node's reason: %s", be.Reason)
		if tip := e.btcd.BestHash(); tip != tmpl.PrevHash {
			t.Fatalf("tip moved to %s", tip)
		}
	})

	solve(t, good)

	t.Run("submit solved", func(t *testing.T) {
		if err := e.node.SubmitBlock(ctx, good); err != nil {
			t.Fatalf("submit: %v", err)
		}
		if tip := e.btcd.BestHash(); tip != good.BlockHash() {
			t.Fatalf("tip %s, want the submitted block %s", tip, good.BlockHash())
		}
		blk, height, err := e.node.Block(ctx, good.BlockHash())
		if err != nil || height != segwitHeight+1 || blk.BlockHash() != good.BlockHash() || len(blk.Transactions) != 2 {
			t.Fatalf("Block: height %d err %v", height, err)
		}
		st, err := e.node.TxStatus(ctx, spend.TxHash(), good.BlockHash())
		if err != nil || !st.Confirmed || st.Height != segwitHeight+1 || st.Confirmations != 1 || st.BlockHash != good.BlockHash() {
			t.Fatalf("TxStatus with hint: %+v %v", st, err)
		}
		e.btcd.Generate(2)
		st, err = e.node.TxStatus(ctx, spend.TxHash(), [32]byte{})
		if err != nil || !st.Confirmed || st.Confirmations != 3 || st.BlockHash != good.BlockHash() {
			t.Fatalf("TxStatus by index: %+v %v", st, err)
		}
	})

	t.Run("submit again while in the main chain", func(t *testing.T) {
		// btcd answers "rejected: already have block"; the block is in the main
		// chain (two blocks deep), which is what SubmitBlock promises.
		if err := e.node.SubmitBlock(ctx, good); err != nil {
			t.Fatalf("resubmit: %v", err)
		}
	})

	t.Run("stale", func(t *testing.T) {
		// A sibling of good, solved after the node moved on: btcd stores it on a
		// side branch and answers success.
		sib := good.Copy()
		sib.Transactions[0].TxOut[0].Value-- // pay one satoshi less: a different valid block
		remerkle(sib)
		solve(t, sib)
		err := e.node.SubmitBlock(ctx, sib)
		var be *chain.BlockError
		if !errors.As(err, &be) {
			t.Fatalf("stale submit: %v, want a BlockError", err)
		}
		t.Logf("stale: %v", err)
		_, height, err := e.node.Block(ctx, sib.BlockHash())
		if err != nil || height != -1 {
			t.Fatalf("Block of the side-branch block: height %d err %v, want -1", height, err)
		}
	})
}
