package backendtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
)

var bg = context.Background()

// tip: Tip follows blocks the node mines itself.
func testTip(t *testing.T, f *Fixture) {
	before := f.tip(t)
	hashes := f.D.Mine(t, 2, f.Addr)
	tip := f.tip(t)
	if tip.Hash != hashes[1] || tip.Height != before.Height+2 {
		t.Fatalf("Tip %s at %d, want %s at %d", tip.Hash, tip.Height, hashes[1], before.Height+2)
	}
	if tip.Bits != f.Params.PowLimitBits || tip.MedianTime.IsZero() || tip.MedianTime.After(time.Now().Add(2*time.Hour)) {
		t.Fatalf("Tip bits %08x (want %08x), median time %s", tip.Bits, f.Params.PowLimitBits, tip.MedianTime)
	}
	f.nextTip(t, tip.Hash)
}

// template-node-txs: a fee-paying transaction of the node's mempool is in the template
// with its fee, and the coinbase value is the subsidy plus the fees.
func testTemplateNodeTxs(t *testing.T, f *Fixture) {
	f.pooled = f.spend(t, f.coin(t), 1000, 0, wire.MaxTxInSequenceNum)
	f.D.MempoolAdd(t, f.pooled)
	var tmpl *chain.Template
	// Core reuses a template for 5 s after a mempool change (and btcd for a while).
	deadline := time.Now().Add(15 * time.Second)
	for {
		tmpl = f.template(t)
		if i := slices.IndexFunc(tmpl.Transactions, func(x chain.TemplateTx) bool { return x.Tx.TxHash() == f.pooled.TxHash() }); i >= 0 {
			if x := tmpl.Transactions[i]; x.Fee != 1000 || x.Weight <= 0 {
				t.Fatalf("template transaction fee %d weight %d, want fee 1000", x.Fee, x.Weight)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mempool transaction %s is not in the template after 15 s", f.pooled.TxHash())
		}
		time.Sleep(200 * time.Millisecond)
	}
	tip := f.tip(t)
	var fees int64
	for _, x := range tmpl.Transactions {
		fees += x.Fee
	}
	if want := blockchain.CalcBlockSubsidy(tip.Height+1, f.Params) + fees; tmpl.CoinbaseValue != want {
		t.Fatalf("coinbase value %d, want subsidy+fees %d", tmpl.CoinbaseValue, want)
	}
	if tmpl.PrevHash != tip.Hash || tmpl.Height != tip.Height+1 || !tmpl.SegwitActive || tmpl.MinTime.After(tmpl.CurTime) {
		t.Fatalf("template on %s at %d (segwit %v, mintime %s curtime %s); tip %s at %d", tmpl.PrevHash, tmpl.Height, tmpl.SegwitActive, tmpl.MinTime, tmpl.CurTime, tip.Hash, tip.Height)
	}
}

// checktx-conflict: a spend of a coin the mempool transaction already spends.
func testCheckConflict(t *testing.T, f *Fixture) {
	if f.pooled == nil {
		t.Fatal("needs template-node-txs")
	}
	value := f.pooled.TxOut[0].Value + 1000 // the coin it spends
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: f.pooled.TxIn[0].PreviousOutPoint, Sequence: wire.MaxTxInSequenceNum})
	tx.AddTxOut(wire.NewTxOut(value, f.Script))
	f.sign(t, tx, wire.NewTxOut(value, f.Script))
	f.checkReason(t, tx, chain.TxConflict)
}

// checktx-valid: a zero-fee spend of a mature coin.
func testCheckValid(t *testing.T, f *Fixture) {
	tx := f.zeroFee(t)
	c, err := f.B.CheckTx(bg, tx, nil)
	if err != nil {
		t.Fatalf("CheckTx of a valid zero-fee spend: %v", err)
	}
	if c.Txid != tx.TxHash() || c.Fee != 0 || c.VSize <= 0 || c.Weight < 4*c.VSize-3 || c.SigOpCost < 1 {
		t.Fatalf("TxCheck %+v for %s", c, tx.TxHash())
	}
	// A child of it is valid when the parent is pending (an active order).
	child := f.spend(t, tx, 0, 0, wire.MaxTxInSequenceNum)
	if _, err := f.B.CheckTx(bg, child, []*wire.MsgTx{tx}); err != nil {
		t.Fatalf("CheckTx of a child of a pending transaction: %v", err)
	}
}

// checktx-missing: an input that never existed.
func testCheckMissing(t *testing.T, f *Fixture) {
	fake := &wire.MsgTx{TxOut: []*wire.TxOut{wire.NewTxOut(1e8, f.Script)}, LockTime: 777}
	f.checkReason(t, f.spend(t, fake, 0, 0, wire.MaxTxInSequenceNum), chain.TxMissingInputs)
}

// checktx-bad-script: a signature over other data.
func testCheckBadScript(t *testing.T, f *Fixture) {
	tx := f.zeroFee(t)
	sig := tx.TxIn[0].Witness[0]
	sig[len(sig)/2] ^= 0x01
	f.checkReason(t, tx, chain.TxScript)
}

// checktx-immature: a coinbase fewer than 100 blocks deep.
func testCheckImmature(t *testing.T, f *Fixture) {
	f.checkReason(t, f.spend(t, f.recent, 0, 0, wire.MaxTxInSequenceNum), chain.TxImmature)
}

// checktx-not-final: a lock time above the next block's height, and a BIP 68 relative
// lock not yet met.
func testCheckNotFinal(t *testing.T, f *Fixture) {
	tip := f.tip(t)
	c := f.coin(t)
	f.checkReason(t, f.spend(t, c, 0, uint32(tip.Height+5), 0), chain.TxNotFinal)
	f.checkReason(t, f.spend(t, c, 0, 0, 1000), chain.TxNotFinal) // 1000 blocks relative
	f.coins = append(f.coins, c)                                  // still unspent
}

// propose-valid: a block on the template with a zero-fee transaction.
func testProposeValid(t *testing.T, f *Fixture) {
	b := f.assemble(t, f.template(t), "propose", f.zeroFee(t))
	if err := f.B.Propose(bg, b); err != nil {
		t.Fatalf("Propose of a valid block: %s", describe(err))
	}
}

// propose-invalid: a coinbase claiming more than subsidy plus fees.
func testProposeInvalid(t *testing.T, f *Fixture) {
	tmpl := *f.template(t)
	tmpl.CoinbaseValue++
	err := f.B.Propose(bg, f.assemble(t, &tmpl, "overpay"))
	var be *chain.BlockError
	if !errors.As(err, &be) || be.Stale {
		t.Fatalf("Propose of an overpaying block: %s, want a *chain.BlockError (not stale)", describe(err))
	}
}

// submit-accepted: a solved block with a zero-fee transaction becomes the tip.
func testSubmitAccepted(t *testing.T, f *Fixture) {
	tx := f.zeroFee(t)
	b := f.assemble(t, f.template(t), "accepted", tx)
	solve(t, b)
	if err := f.B.SubmitBlock(bg, b); err != nil {
		t.Fatalf("SubmitBlock: %s", describe(err))
	}
	if tip := f.tip(t); tip.Hash != b.BlockHash() {
		t.Fatalf("tip %s after SubmitBlock of %s", tip.Hash, b.BlockHash())
	}
	// Submitting the tip again is not an error.
	if err := f.B.SubmitBlock(bg, b); err != nil {
		t.Fatalf("SubmitBlock of the tip again: %s", describe(err))
	}
	f.mined, f.minedIn = tx, b.BlockHash()
	f.nextTip(t, b.BlockHash())
}

// checktx-already-mined: the transaction submit-accepted mined.
func testCheckAlreadyMined(t *testing.T, f *Fixture) {
	if f.mined == nil {
		t.Fatal("needs submit-accepted")
	}
	f.checkReason(t, f.mined, chain.TxAlreadyMined)
}

// checktx-spent: another spend of the coin submit-accepted's transaction spent.
func testCheckSpent(t *testing.T, f *Fixture) {
	if f.mined == nil {
		t.Fatal("needs submit-accepted")
	}
	value := f.mined.TxOut[0].Value
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: f.mined.TxIn[0].PreviousOutPoint, Sequence: wire.MaxTxInSequenceNum})
	tx.AddTxOut(wire.NewTxOut(value-500, f.Script))
	f.sign(t, tx, wire.NewTxOut(value, f.Script))
	f.checkReason(t, tx, chain.TxInputSpent)
}

// block: Block returns main-chain blocks with their height and fails for unknown ones.
func testBlock(t *testing.T, f *Fixture) {
	if f.mined == nil {
		t.Fatal("needs submit-accepted")
	}
	b, height, err := f.B.Block(bg, f.minedIn)
	if err != nil || b.BlockHash() != f.minedIn || height != f.tip(t).Height {
		t.Fatalf("Block(%s): height %d, err %v", f.minedIn, height, err)
	}
	if len(b.Transactions) < 2 || b.Transactions[len(b.Transactions)-1].TxHash() != f.mined.TxHash() {
		t.Fatal("Block lost the mined transaction")
	}
	if _, _, err := f.B.Block(bg, chainhash.Hash{1}); err == nil {
		t.Fatal("Block of an unknown hash: no error")
	}
}

// txstatus: the mined transaction with and without a hint; an unknown one.
func testTxStatus(t *testing.T, f *Fixture) {
	if f.mined == nil {
		t.Fatal("needs submit-accepted")
	}
	tip := f.tip(t)
	for _, hint := range []chainhash.Hash{f.minedIn, {}} {
		st, err := f.B.TxStatus(bg, f.mined.TxHash(), hint)
		if err != nil || !st.Confirmed || st.BlockHash != f.minedIn || st.Height != tip.Height || st.Confirmations != 1 {
			t.Fatalf("TxStatus (hint %s): %+v, %v; want in %s at %d with 1 confirmation", hint, st, err, f.minedIn, tip.Height)
		}
	}
	st, err := f.B.TxStatus(bg, chainhash.Hash{2}, chainhash.Hash{})
	if err != nil || st.Confirmed {
		t.Fatalf("TxStatus of an unknown transaction: %+v, %v", st, err)
	}
}

// submit-rejected: a solved block that breaks a consensus rule.
func testSubmitRejected(t *testing.T, f *Fixture) {
	tip := f.tip(t)
	tmpl := *f.template(t)
	tmpl.CoinbaseValue++
	b := f.assemble(t, &tmpl, "rejected")
	solve(t, b)
	err := f.B.SubmitBlock(bg, b)
	var be *chain.BlockError
	if !errors.As(err, &be) || be.Stale || be.Hash != b.BlockHash() {
		t.Fatalf("SubmitBlock of an overpaying block: %s, want a rejection", describe(err))
	}
	if f.tip(t).Hash != tip.Hash {
		t.Fatal("the rejected block moved the tip")
	}
}

// submit-stale: a valid block at the tip's height on the tip's parent loses the race.
func testSubmitStale(t *testing.T, f *Fixture) {
	tip := f.tip(t)
	parent := f.block(t, tip.Hash).Header.PrevBlock
	b := f.assemble(t, f.on(t, parent, tip.Height-1), "stale")
	solve(t, b)
	err := f.B.SubmitBlock(bg, b)
	var be *chain.BlockError
	if !errors.As(err, &be) || !be.Stale {
		t.Fatalf("SubmitBlock of a competing block at the tip's height: %s, want a stale *chain.BlockError", describe(err))
	}
	if f.tip(t).Hash != tip.Hash {
		t.Fatal("the stale block moved the tip")
	}
	if _, h, err := f.B.Block(bg, b.BlockHash()); err != nil || h != -1 {
		t.Fatalf("Block of the stale block: height %d, %v; want -1 (side branch)", h, err)
	}
}

// tips-reorg: a branch from the tip's grandparent, one block longer, becomes the best
// chain; Tips lists the two disconnected blocks (newest first) and the three connected.
func testTipsReorg(t *testing.T, f *Fixture) {
	tip := f.tip(t)
	parentOfTip := f.block(t, tip.Hash).Header.PrevBlock
	fork := f.block(t, parentOfTip).Header.PrevBlock
	forkHeight := tip.Height - 2
	for drained := false; !drained; {
		select {
		case <-f.tips:
		case <-time.After(300 * time.Millisecond):
			drained = true
		}
	}
	var branch []chainhash.Hash
	prev := fork
	for i := int32(1); i <= 3; i++ {
		b := f.assemble(t, f.on(t, prev, forkHeight+i-1), "reorg")
		solve(t, b)
		err := f.B.SubmitBlock(bg, b)
		var be *chain.BlockError
		switch {
		case i < 3 && (!errors.As(err, &be) || !be.Stale):
			t.Fatalf("branch block %d: %s, want stale (not yet the best chain)", i, describe(err))
		case i == 3 && err != nil:
			t.Fatalf("branch block 3: %s, want the new tip", describe(err))
		}
		branch = append(branch, b.BlockHash())
		prev = b.BlockHash()
	}
	evs := f.nextTip(t, branch[2])
	var disc, conn []chainhash.Hash
	for _, ev := range evs {
		disc = append(disc, ev.Disconnected...)
		conn = append(conn, ev.Connected...)
	}
	if want := []chainhash.Hash{tip.Hash, parentOfTip}; !slices.Equal(disc, want) {
		t.Fatalf("disconnected %v, want %v", disc, want)
	}
	if !slices.Equal(conn, branch) {
		t.Fatalf("connected %v, want %v", conn, branch)
	}
	if st, err := f.B.TxStatus(bg, f.mined.TxHash(), f.minedIn); err != nil || st.Confirmed {
		t.Fatalf("TxStatus of a transaction of a disconnected block: %+v, %v", st, err)
	}
	if _, h, err := f.B.Block(bg, tip.Hash); err != nil || h != -1 {
		t.Fatalf("Block of the old tip: height %d, %v; want -1", h, err)
	}
}
