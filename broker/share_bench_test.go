package broker

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/miner"
)

// benchJob is a job over a template with 200 transactions.
func benchJob(tb testing.TB) *Job {
	tb.Helper()
	tmpl := &chain.Template{Height: 1000, Version: 0x20000000, Bits: 0x1d3fffff, CurTime: time.Unix(1_700_000_000, 0),
		MinTime: time.Unix(1_699_999_000, 0), CoinbaseValue: 5_000_000_000}
	for i := range 200 {
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{byte(i), byte(i >> 8), 1}}, []byte{0x51}, nil))
		tx.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
		tmpl.Transactions = append(tmpl.Transactions, chain.TemplateTx{Tx: tx, Weight: 400})
	}
	asm, err := chain.Assemble(chain.AssembleSpec{Template: tmpl, PayoutScript: []byte{0x51}, Tag: []byte("/bench/")})
	if err != nil {
		tb.Fatal(err)
	}
	return &Job{ID: "1", Assembly: asm, PrevHash: tmpl.PrevHash, Version: tmpl.Version, Bits: tmpl.Bits,
		NTime: uint32(tmpl.CurTime.Unix()), MinTime: uint32(tmpl.MinTime.Unix()), NetTarget: tmpl.Target(),
		netTarget: miner.TargetFromBig(tmpl.Target()), roots: newRootCache()}
}

// TestCheckShareMatchesAssembly: the share check's header is the assembled block's
// header, and the hash it checks is the block hash.
func TestCheckShareMatchesAssembly(t *testing.T) {
	j := benchJob(t)
	b := NewShareChecker()
	en1, en2 := []byte{0, 0, 0, 7}, []byte{1, 2, 3, 4}
	w := &Work{Extranonce1: en1, Extranonce2: en2, NTime: j.NTime + 5, Nonce: 12345, ShareDiff: 1e-12}
	hdr, sum, err := b.Check(j, w)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := j.Block(en1, en2, &hdr)
	if err != nil {
		t.Fatal(err)
	}
	if blk.BlockHash() != chainhash.Hash(sum) || blk.Header.Nonce != 12345 {
		t.Fatalf("check hash %x, block hash %s", sum, blk.BlockHash())
	}
	// Hard share target: the same share is rejected as low difficulty.
	w.ShareDiff = 1e12
	if _, _, err := b.Check(j, w); KindOf(err) != KindLowDifficulty {
		t.Fatalf("hard target: %v", err)
	}
}

// BenchmarkShareCheck measures one share check (header rebuild with the cached merkle
// root, sha256d, target comparison) next to the baseline of crypto/sha256 applied twice.
func BenchmarkShareCheck(b *testing.B) {
	j := benchJob(b)
	br := NewShareChecker()
	w := &Work{Extranonce1: []byte{0, 0, 0, 7}, Extranonce2: []byte{1, 2, 3, 4}, NTime: j.NTime, ShareDiff: 1e-12}
	b.Run("check", func(b *testing.B) {
		for i := range b.N {
			w.Nonce = uint32(i)
			if _, _, err := br.Check(j, w); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
	})
	b.Run("baseline-sha256d", func(b *testing.B) {
		var h [80]byte
		var sink byte
		for i := range b.N {
			binary.LittleEndian.PutUint32(h[76:], uint32(i))
			first := sha256.Sum256(h[:])
			second := sha256.Sum256(first[:])
			sink ^= second[0]
		}
		_ = sink
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
	})
}
