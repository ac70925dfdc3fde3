package chain

import (
	"bytes"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/miner/mainnet"
)

// TestMerkleBranchRealBlocks: for real mainnet blocks, the branch read off btcd's merkle
// tree, folded into the real coinbase txid, gives the real merkle root.
func TestMerkleBranchRealBlocks(t *testing.T) {
	blocks, err := mainnet.Load()
	if err != nil {
		t.Fatal(err)
	}
	var checked, multi int
	for _, b := range blocks {
		txs := make([]*btcutil.Tx, len(b.Block.Transactions))
		for i, tx := range b.Block.Transactions {
			txs[i] = btcutil.NewTx(tx)
		}
		root := MerkleRootFromBranch(b.Block.Transactions[0].TxHash(), merkleBranch(txs))
		if root != b.Header.MerkleRoot {
			t.Fatalf("block %d: root %s, header says %s", b.Height, root, b.Header.MerkleRoot)
		}
		checked++
		if len(txs) > 2 {
			multi++
		}
	}
	// Two real segwit-era blocks with thousands of transactions.
	dir := filepath.Dir(filepath.Dir(filepath.Dir(mustPath(t))))
	files, _ := filepath.Glob(filepath.Join(dir, "wire", "testdata", "block-*.blk"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var blk wire.MsgBlock
		if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		txs := make([]*btcutil.Tx, len(blk.Transactions))
		for i, tx := range blk.Transactions {
			txs[i] = btcutil.NewTx(tx)
		}
		if root := MerkleRootFromBranch(blk.Transactions[0].TxHash(), merkleBranch(txs)); root != blk.Header.MerkleRoot {
			t.Fatalf("%s: root %s, header %s", filepath.Base(f), root, blk.Header.MerkleRoot)
		}
		checked++
		multi++
	}
	if checked < 14000 || multi < 15 || len(files) != 2 {
		t.Fatalf("checked %d blocks (%d with more than two transactions, %d segwit files)", checked, multi, len(files))
	}
}

func mustPath(t *testing.T) string {
	p, err := mainnet.Path()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testTemplate(n int) *Template {
	t := &Template{Height: 500, Version: 0x20000000, Bits: 0x207fffff, CurTime: time.Unix(1_700_000_000, 0),
		CoinbaseValue: 625_000_000, SegwitActive: true}
	for i := range n {
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{byte(i + 1)}}, []byte{0x51}, nil))
		tx.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
		t.Transactions = append(t.Transactions, TemplateTx{Tx: tx, Fee: 100, Weight: blockchain.GetTransactionWeight(btcutil.NewTx(tx))})
	}
	return t
}

func TestAssembleCoinbase(t *testing.T) {
	witnessTx := wire.NewMsgTx(2)
	witnessTx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{0xee}}, nil, wire.TxWitness{{1, 2, 3}}))
	witnessTx.AddTxOut(wire.NewTxOut(500, []byte{0x51}))
	cases := []struct {
		name    string
		extra   []TemplateTx
		en2     int
		witness bool
	}{
		{"no extra", nil, 4, false},
		{"extranonce2 of 8", nil, 8, false},
		{"witness transaction", []TemplateTx{{Tx: witnessTx, Fee: 7, Weight: 300}}, 4, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmpl := testTemplate(3)
			a, err := Assemble(AssembleSpec{Template: tmpl, Extra: c.extra, PayoutScript: []byte{0x51}, Tag: []byte("/t/"), Extranonce2Size: c.en2})
			if err != nil {
				t.Fatal(err)
			}
			en1, en2 := []byte{9, 8, 7, 6}, bytes.Repeat([]byte{5}, c.en2)
			cb, err := a.Coinbase(en1, en2)
			if err != nil {
				t.Fatal(err)
			}
			// The legacy halves around the extranonces are the coinbase without witness.
			var legacy bytes.Buffer
			_ = cb.SerializeNoWitness(&legacy)
			if !bytes.Equal(legacy.Bytes(), a.CoinbaseLegacy(en1, en2)) {
				t.Fatal("coinb1 ‖ en1 ‖ en2 ‖ coinb2 is not the coinbase")
			}
			if !bytes.Contains(cb.TxIn[0].SignatureScript, append(append([]byte{}, en1...), en2...)) {
				t.Fatal("extranonce not in the coinbase script")
			}
			h, err := blockchain.ExtractCoinbaseHeight(btcutil.NewTx(cb))
			if err != nil || h != tmpl.Height {
				t.Fatalf("BIP 34 height %d %v", h, err)
			}
			var extraFees int64
			for _, e := range c.extra {
				extraFees += e.Fee
			}
			if cb.TxOut[0].Value != tmpl.CoinbaseValue+extraFees {
				t.Fatalf("coinbase pays %d, want %d", cb.TxOut[0].Value, tmpl.CoinbaseValue+extraFees)
			}
			hdr := a.Header(en1, en2, tmpl.Version, uint32(tmpl.CurTime.Unix()), 42)
			blk, err := a.Block(en1, en2, hdr)
			if err != nil {
				t.Fatal(err)
			}
			if got := blockchain.CalcMerkleRoot(btcutilTxs(blk), false); got != hdr.MerkleRoot {
				t.Fatalf("header root %s, block root %s", hdr.MerkleRoot, got)
			}
			if a.Witness != c.witness || (len(cb.TxIn[0].Witness) == 1) != c.witness {
				t.Fatalf("witness %v, coinbase witness %d items", a.Witness, len(cb.TxIn[0].Witness))
			}
			if err := blockchain.ValidateWitnessCommitment(btcutil.NewBlock(blk)); err != nil {
				t.Fatalf("witness commitment: %v", err)
			}
		})
	}
}

func btcutilTxs(b *wire.MsgBlock) []*btcutil.Tx {
	out := make([]*btcutil.Tx, len(b.Transactions))
	for i, tx := range b.Transactions {
		out[i] = btcutil.NewTx(tx)
	}
	return out
}

func TestAssembleDrops(t *testing.T) {
	tmpl := testTemplate(2)
	// Spends the same output as a template transaction.
	clash := wire.NewMsgTx(2)
	clash.AddTxIn(wire.NewTxIn(&tmpl.Transactions[0].Tx.TxIn[0].PreviousOutPoint, nil, nil))
	clash.AddTxOut(wire.NewTxOut(1, []byte{0x51}))
	// Its child.
	child := wire.NewMsgTx(2)
	child.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: clash.TxHash()}, nil, nil))
	child.AddTxOut(wire.NewTxOut(1, []byte{0x51}))
	// Too heavy.
	heavy := wire.NewMsgTx(2)
	heavy.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{0xab}}, nil, nil))
	heavy.AddTxOut(wire.NewTxOut(1, []byte{0x51}))
	ok := wire.NewMsgTx(2)
	ok.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{0xcd}}, nil, nil))
	ok.AddTxOut(wire.NewTxOut(1, []byte{0x51}))
	a, err := Assemble(AssembleSpec{Template: tmpl, PayoutScript: []byte{0x51}, Extra: []TemplateTx{
		{Tx: clash, Weight: 400}, {Tx: child, Weight: 400}, {Tx: heavy, Weight: blockchain.MaxBlockWeight},
		{Tx: ok, Weight: 400, Fee: 55}, {Tx: tmpl.Transactions[1].Tx, Weight: 400},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Dropped) != 3 || a.Dropped[0].Txid != clash.TxHash() || a.Dropped[1].Txid != child.TxHash() || a.Dropped[2].Txid != heavy.TxHash() {
		t.Fatalf("dropped %+v", a.Dropped)
	}
	if len(a.Txs) != 3 || a.Txs[2] != ok || a.Fees != 55 {
		t.Fatalf("included %d txs, fees %d", len(a.Txs), a.Fees)
	}
}

func TestTargets(t *testing.T) {
	if d := TargetDifficulty(CompactToTarget(0x1d00ffff)); d != 1 {
		t.Fatalf("difficulty of 1d00ffff = %g", d)
	}
	if DifficultyTarget(1).Cmp(Diff1Target()) != 0 {
		t.Fatal("target of difficulty 1 is not diff1")
	}
	regtest := TargetDifficulty(CompactToTarget(0x207fffff))
	if math.Abs(regtest-4.656542373906925e-10) > 1e-20 {
		t.Fatalf("regtest difficulty %g", regtest)
	}
	for _, d := range []float64{1.0 / (1 << 24), 0.015625, 3.5, 1e6, regtest} {
		if got := TargetDifficulty(DifficultyTarget(d)); math.Abs(got-d)/d > 1e-9 {
			t.Fatalf("round trip %g -> %g", d, got)
		}
	}
	if e := ExpectedHashes(Diff1Target()); math.Abs(e/4295032833-1) > 1e-9 {
		t.Fatalf("expected hashes at diff 1: %g", e)
	}
	max := DifficultyTarget(0)
	if max.Cmp(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))) != 0 {
		t.Fatal("difficulty 0 is not the largest target")
	}
	// HashDifficulty in floats agrees with the exact big-number value.
	for _, target := range []*big.Int{Diff1Target(), CompactToTarget(0x1f00ffff), CompactToTarget(0x207fffff), DifficultyTarget(12345.678)} {
		var th chainhash.Hash
		b := target.Bytes() // big-endian
		for i := range b {
			th[len(b)-1-i] = b[i]
		}
		exact := TargetDifficulty(target)
		if got := HashDifficulty(&th); math.Abs(got-exact)/exact > 1e-12 {
			t.Fatalf("HashDifficulty %g, exact %g", got, exact)
		}
	}
	var h chainhash.Hash
	h[31] = 0x01 // a large hash
	if MeetsTarget(&h, Diff1Target()) {
		t.Fatal("large hash meets diff1")
	}
}
