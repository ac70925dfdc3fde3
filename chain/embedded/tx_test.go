package embedded

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/mempool"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/proofow/powbroker/chain"
)

func TestFaucet(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, "", "regtest", 0)

	for _, fee := range []int64{0, 1, 2500} {
		tx := mustFaucet(t, c, 1234567, fee)
		chk, err := c.CheckTx(ctx, tx, nil)
		if err != nil {
			t.Fatalf("fee %d: CheckTx: %v", fee, err)
		}
		if chk.Fee != fee || chk.Txid != tx.TxHash() || chk.VSize != (chk.Weight+3)/4 || chk.Weight != 4*int64(tx.SerializeSize()) {
			t.Fatalf("fee %d: check %+v", fee, chk)
		}
		if tx.TxOut[0].Value != 1234567 || string(tx.TxOut[0].PkScript) == string(c.faucetScript) {
			t.Fatalf("faucet output %v does not pay a fresh address", tx.TxOut[0])
		}
		if len(tx.TxOut) != 2 || string(tx.TxOut[1].PkScript) != string(c.faucetScript) {
			t.Fatalf("no change back to the faucet: %v", tx.TxOut)
		}
	}
	// Two fresh addresses differ.
	a, b := mustFaucet(t, c, 1e6, 0), mustFaucet(t, c, 1e6, 0)
	if string(a.TxOut[0].PkScript) == string(b.TxOut[0].PkScript) {
		t.Fatal("two faucet calls paid the same address")
	}

	// Refusals.
	if _, err := c.Faucet(ctx, 100, 0); err == nil || !strings.Contains(err.Error(), "dust") {
		t.Fatalf("dust amount: %v", err)
	}
	if _, err := c.Faucet(ctx, 0, 0); err == nil {
		t.Fatal("zero amount accepted")
	}
	if _, err := c.Faucet(ctx, 1e6, -1); err == nil {
		t.Fatal("negative fee accepted")
	}
	if _, err := c.Faucet(ctx, 100e8, 0); !errors.Is(err, ErrNoFaucetCoin) {
		t.Fatalf("amount above every coin: %v", err)
	}

	// Every call spends another outpoint until the mature coins run out: at height 101
	// that is block 1's faucetSplit outputs and block 2's coinbase, minus those spent above.
	seen := map[wire.OutPoint]bool{}
	for _, tx := range []*wire.MsgTx{a, b} {
		seen[tx.TxIn[0].PreviousOutPoint] = true
	}
	n := 0
	for {
		tx, err := c.Faucet(ctx, 1e6, 0)
		if errors.Is(err, ErrNoFaucetCoin) {
			if !strings.Contains(err.Error(), "0 mature unreserved") {
				t.Fatalf("exhausted faucet message: %v", err)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		op := tx.TxIn[0].PreviousOutPoint
		if seen[op] {
			t.Fatalf("outpoint %v handed out twice", op)
		}
		seen[op] = true
		n++
		if n > 2*faucetSplit {
			t.Fatal("faucet never ran out")
		}
	}
	if len(seen) != 2+n || len(seen)+3 != faucetSplit+1 {
		t.Fatalf("faucet handed out %d outpoints (+3 earlier), want %d in all", len(seen), faucetSplit+1)
	}
	// A new block makes block 3's coinbase mature.
	if _, err := c.Generate(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	tx := mustFaucet(t, c, 1e6, 0)
	if seen[tx.TxIn[0].PreviousOutPoint] {
		t.Fatal("reserved outpoint handed out again after a block")
	}
}

// TestMempoolZeroFee checks that the node's mempool takes a zero-fee transaction and
// that templates and Generate include it.
func TestMempoolZeroFee(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, "", "regtest", 0)
	tx := mustFaucet(t, c, 3e6, 0)
	if err := c.AcceptToMempool(ctx, tx); err != nil {
		t.Fatalf("zero-fee transaction refused: %v", err)
	}
	paid := mustFaucet(t, c, 3e6, 1000)
	if err := c.AcceptToMempool(ctx, paid); err != nil {
		t.Fatal(err)
	}
	tmpl, err := c.Template(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fees := map[chainhash.Hash]int64{}
	for _, tt := range tmpl.Transactions {
		fees[tt.Tx.TxHash()] = tt.Fee
		if tt.Weight != blockchain.GetTransactionWeight(btcutilTx(tt.Tx)) || tt.SigOpCost <= 0 {
			t.Fatalf("template tx %+v", tt)
		}
	}
	if f, ok := fees[tx.TxHash()]; !ok || f != 0 || fees[paid.TxHash()] != 1000 || len(fees) != 2 {
		t.Fatalf("template fees %v", fees)
	}
	tip := mustTip(t, c)
	if tmpl.PrevHash != tip.Hash || tmpl.Height != tip.Height+1 || tmpl.SegwitActive ||
		tmpl.CoinbaseValue != blockchain.CalcBlockSubsidy(tmpl.Height, c.params)+1000 ||
		!tmpl.MinTime.After(tip.MedianTime) || tmpl.CurTime.Before(tmpl.MinTime) {
		t.Fatalf("template %+v vs tip %+v", tmpl, tip)
	}
	if _, err := c.Generate(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []chainhash.Hash{tx.TxHash(), paid.TxHash()} {
		st, err := c.TxStatus(ctx, id, chainhash.Hash{})
		if err != nil || !st.Confirmed || st.Confirmations != 1 {
			t.Fatalf("TxStatus %s: %+v %v", id, st, err)
		}
	}
	if ids := c.MempoolTxids(); len(ids) != 0 {
		t.Fatalf("mempool still holds %v", ids)
	}
	if tmpl, err := c.Template(ctx); err != nil || len(tmpl.Transactions) != 0 {
		t.Fatalf("template after mining: %+v %v", tmpl, err)
	}
}

func TestCheckTxReasons(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, "", "regtest", 0)
	tip := mustTip(t, c)

	// A transaction mined on the tip with GenerateOn: spending its input again is
	// "input-spent", the transaction itself "already-mined".
	mined := mustFaucet(t, c, 1e6, 0)
	if _, err := c.GenerateOn(ctx, tip.Hash, 1, []*wire.MsgTx{mined}); err != nil {
		t.Fatal(err)
	}
	tip = mustTip(t, c)
	minedIn := mined.TxIn[0].PreviousOutPoint

	// Output 1 of the mined transaction (change to the faucet) is spendable.
	changeOut := wire.OutPoint{Hash: mined.TxHash(), Index: 1}
	change := mined.TxOut[1].Value
	pay := func(v int64) []*wire.TxOut { return []*wire.TxOut{wire.NewTxOut(v, c.faucetScript)} }

	// A mempool transaction and a second spend of its input.
	inPool := mustFaucet(t, c, 2e6, 0)
	if err := c.AcceptToMempool(ctx, inPool); err != nil {
		t.Fatal(err)
	}
	poolIn := inPool.TxIn[0].PreviousOutPoint
	poolCoin := c.coins[poolIn].value

	// A pending (order) transaction that pays the faucet, and its child.
	parent, err := c.FaucetTo(ctx, c.faucetScript, 5e6, 0)
	if err != nil {
		t.Fatal(err)
	}
	child := c.spend(t, []wire.OutPoint{{Hash: parent.TxHash(), Index: 0}}, pay(5e6-100), 0, wire.MaxTxInSequenceNum)
	parentCoin := c.coins[parent.TxIn[0].PreviousOutPoint].value
	sibling := c.spend(t, []wire.OutPoint{parent.TxIn[0].PreviousOutPoint}, pay(parentCoin-7), 0, wire.MaxTxInSequenceNum)

	// Bad signature: flip one byte inside the DER signature of a valid spend.
	bad := mustFaucet(t, c, 1e6, 0)
	bad.TxIn[0].SignatureScript[10] ^= 0x01

	// The coinbase of the tip block pays the faucet and is immature.
	tipBlock, _, err := c.Block(ctx, tip.Hash)
	if err != nil {
		t.Fatal(err)
	}
	immature := c.spend(t, []wire.OutPoint{{Hash: tipBlock.Transactions[0].TxHash(), Index: 0}}, pay(1e8), 0, wire.MaxTxInSequenceNum)

	// Non-final: lock time in the future with a non-final sequence.
	nonFinal := c.spend(t, []wire.OutPoint{changeOut}, pay(change), uint32(tip.Height+10), 0)
	// BIP 68: relative lock of 5 blocks on a fresh output.
	relLock := c.spend(t, []wire.OutPoint{changeOut}, pay(change), 0, 5)

	// Too large: a 1 MB output script.
	huge := c.spend(t, []wire.OutPoint{changeOut}, []*wire.TxOut{wire.NewTxOut(0, make([]byte, 1_000_000))}, 0, wire.MaxTxInSequenceNum)

	// Witness data before segwit is active.
	witness := c.spend(t, []wire.OutPoint{changeOut}, pay(change), 0, wire.MaxTxInSequenceNum)
	witness.TxIn[0].Witness = wire.TxWitness{{1}}

	var missing chainhash.Hash
	missing[0] = 0x42

	tests := []struct {
		name    string
		tx      *wire.MsgTx
		pending []*wire.MsgTx
		want    chain.TxReason // "" for valid
		msg     string
		fee     int64
	}{
		{name: "valid change spend", tx: c.spend(t, []wire.OutPoint{changeOut}, pay(change-300), 0, wire.MaxTxInSequenceNum), fee: 300},
		{name: "non-final lock time", tx: nonFinal, want: chain.TxNotFinal, msg: "lock time"},
		{name: "relative lock time", tx: relLock, want: chain.TxNotFinal, msg: "BIP 68"},
		{name: "missing input", tx: c.spend(t, []wire.OutPoint{{Hash: missing, Index: 0}}, pay(1000), 0, wire.MaxTxInSequenceNum), want: chain.TxMissingInputs, msg: "not in the chain"},
		{name: "missing output index", tx: c.spend(t, []wire.OutPoint{{Hash: mined.TxHash(), Index: 7}}, pay(1000), 0, wire.MaxTxInSequenceNum), want: chain.TxMissingInputs, msg: "only 2 outputs"},
		{name: "spent input", tx: c.spend(t, []wire.OutPoint{minedIn}, pay(1000), 0, wire.MaxTxInSequenceNum), want: chain.TxInputSpent, msg: "already spent"},
		{name: "already mined", tx: mined, want: chain.TxAlreadyMined},
		{name: "bad signature", tx: bad, want: chain.TxScript, msg: "input 0"},
		{name: "immature coinbase", tx: immature, want: chain.TxImmature, msg: "maturity"},
		{name: "mempool conflict", tx: c.spend(t, []wire.OutPoint{poolIn}, pay(poolCoin-1), 0, wire.MaxTxInSequenceNum), want: chain.TxConflict, msg: "mempool"},
		{name: "mempool tx itself", tx: inPool},
		{name: "pending conflict", tx: sibling, pending: []*wire.MsgTx{parent}, want: chain.TxConflict, msg: "pending"},
		{name: "child of pending", tx: child, pending: []*wire.MsgTx{parent}, fee: 100},
		{name: "child without its pending parent", tx: child, want: chain.TxMissingInputs},
		{name: "pending includes the tx itself", tx: parent, pending: []*wire.MsgTx{parent, child}},
		{name: "too large", tx: huge, want: chain.TxTooLarge},
		{name: "spends more than its inputs", tx: c.spend(t, []wire.OutPoint{changeOut}, pay(change+1), 0, wire.MaxTxInSequenceNum), want: chain.TxInvalid, msg: "less than the amount spent"},
		{name: "witness before segwit", tx: witness, want: chain.TxInvalid, msg: "segregated witness"},
		{name: "dust output", tx: c.spend(t, []wire.OutPoint{changeOut}, []*wire.TxOut{wire.NewTxOut(1, c.faucetScript), wire.NewTxOut(change-1, c.faucetScript)}, 0, wire.MaxTxInSequenceNum), want: chain.TxNonStandard, msg: "dust"},
		{name: "no inputs", tx: &wire.MsgTx{Version: 2, TxOut: pay(1)}, want: chain.TxInvalid},
		{name: "nil", tx: nil, want: chain.TxInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chk, err := c.CheckTx(ctx, tt.tx, tt.pending)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckTx: %v", err)
				}
				if chk.Fee != tt.fee || chk.Txid != tt.tx.TxHash() || chk.SigOpCost <= 0 {
					t.Fatalf("check %+v, want fee %d", chk, tt.fee)
				}
				return
			}
			var te *chain.TxError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a *chain.TxError", err)
			}
			if te.Reason != tt.want || !strings.Contains(te.Message, tt.msg) || te.Message == "" {
				t.Fatalf("got %s: %s; want %s containing %q", te.Reason, te.Message, tt.want, tt.msg)
			}
			t.Logf("%s: %s", te.Reason, te.Message)
		})
	}

	// Non-standard transactions pass when AcceptNonStandard is set.
	c.cfg.AcceptNonStandard = true
	if _, err := c.CheckTx(ctx, tests[len(tests)-3].tx, nil); err != nil {
		t.Fatalf("dust output with AcceptNonStandard: %v", err)
	}
	c.cfg.AcceptNonStandard = false
}

func TestCheckTxTooManySigOps(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, "", "regtest", 0)
	src := mustFaucet(t, c, 1e6, 0)
	// 5000 OP_CHECKSIG in outputs cost 5000*4 each... a single output script of 20001
	// OP_CHECKSIGs has a legacy sigop cost of 80004, above the block's 80000.
	script := make([]byte, 20001)
	for i := range script {
		script[i] = txscript.OP_CHECKSIG
	}
	tx := c.spend(t, []wire.OutPoint{{Hash: src.TxHash(), Index: 1}}, []*wire.TxOut{wire.NewTxOut(1e5, script)}, 0, wire.MaxTxInSequenceNum)
	_, err := c.CheckTx(ctx, tx, []*wire.MsgTx{src})
	if reasonOf(err) != chain.TxTooLarge || !strings.Contains(err.Error(), "signature operation") {
		t.Fatalf("too many sigops: %v", err)
	}
}

func TestAcceptToMempoolRefusals(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, "", "regtest", 0)
	tx := mustFaucet(t, c, 1e6, 0)
	tx.TxIn[0].SignatureScript[10] ^= 1
	if err := c.AcceptToMempool(ctx, tx); reasonOf(err) != chain.TxScript {
		t.Fatalf("bad signature into the mempool: %v", err)
	}
	if got := mempool.DefaultMinRelayTxFee; got == 0 {
		t.Fatal("dust policy needs a non-zero reference fee")
	}
}
