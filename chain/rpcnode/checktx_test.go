package rpcnode_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/mempool"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/rpcnode/btcdtest"
)

func TestCheckTx(t *testing.T) {
	e := start(t, segwitHeight, 5*time.Second)
	ctx := context.Background()

	// A transaction that gets mined: its input is then spent in the chain.
	mined := e.spend(t, 10000, e.coinbaseAt(t, 2))
	e.btcd.SendTx(mined)
	e.btcd.Generate(1)
	// A transaction in the node's mempool.
	inMempool := e.spend(t, 10000, e.coinbaseAt(t, 3))
	e.btcd.SendTx(inMempool)

	zeroFee := e.spend(t, 0, e.coinbaseAt(t, 1))
	withFee := e.spend(t, 1234, e.coinbaseAt(t, 4))
	twoInputs := e.spend(t, 0, e.coinbaseAt(t, 5), e.coinbaseAt(t, 6))

	missingTx := e.spend(t, 0, e.coinbaseAt(t, 7))
	missingTx.TxIn[0].PreviousOutPoint.Hash = chainhash.DoubleHashH([]byte("no such transaction"))
	missingIndex := e.spend(t, 0, e.coinbaseAt(t, 7))
	missingIndex.TxIn[0].PreviousOutPoint.Index = 5

	spentInput := e.spend(t, 0, e.coinbaseAt(t, 2)) // pays the whole value to us: differs from mined
	conflict := e.spend(t, 0, e.coinbaseAt(t, 3))

	badSig := e.spend(t, 0, e.coinbaseAt(t, 8))
	sig := badSig.TxIn[0].Witness[0]
	sig[10] ^= 0x55
	other, err := btcdtest.NewKey("someone else")
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := wire.NewMsgTx(2)
	cb9 := e.coinbaseAt(t, 9)
	wrongKey.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: cb9.TxHash()}, nil, nil))
	wrongKey.AddTxOut(wire.NewTxOut(cb9.TxOut[0].Value, other.PkScript))
	if err := other.Sign(wrongKey, []int64{cb9.TxOut[0].Value}); err != nil {
		t.Fatal(err)
	}
	overspend := e.spend(t, -1, e.coinbaseAt(t, 10)) // one satoshi more than the input
	immature := e.spend(t, 0, e.coinbaseAt(t, segwitHeight))
	unconfirmedParent := e.spend(t, 0, inMempool)

	// Chains of orders: a zero-fee parent (pending) and its child; a rival of the parent.
	parent := e.spend(t, 0, e.coinbaseAt(t, 11))
	child := e.spend(t, 0, parent)
	rival := e.spend(t, 1, e.coinbaseAt(t, 11))

	// Finality, relative locks and standardness: re-signed after the change.
	resign := func(tx *wire.MsgTx, values ...int64) *wire.MsgTx {
		if err := e.key.Sign(tx, values); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	cb12, cb13, cb14, cb15 := e.coinbaseAt(t, 12), e.coinbaseAt(t, 13), e.coinbaseAt(t, 14), e.coinbaseAt(t, 15)
	lockedHeight := e.spend(t, 0, cb12)
	lockedHeight.LockTime = segwitHeight + 10
	lockedHeight.TxIn[0].Sequence = wire.MaxTxInSequenceNum - 1
	resign(lockedHeight, cb12.TxOut[0].Value)
	relLocked := e.spend(t, 0, cb13) // 500 blocks after height 13
	relLocked.TxIn[0].Sequence = 500
	resign(relLocked, cb13.TxOut[0].Value)
	relOpen := e.spend(t, 0, cb14) // 100 blocks after height 14: long past
	relOpen.TxIn[0].Sequence = 100
	resign(relOpen, cb14.TxOut[0].Value)
	relTimeLocked := e.spend(t, 0, cb15) // 65535 * 512 s after block 14's median time
	relTimeLocked.TxIn[0].Sequence = wire.SequenceLockTimeIsSeconds | 0xffff
	resign(relTimeLocked, cb15.TxOut[0].Value)
	dust := e.spend(t, 0, cb12)
	dust.TxOut[0].Value -= 1
	dust.AddTxOut(wire.NewTxOut(1, e.key.PkScript))
	resign(dust, cb12.TxOut[0].Value)
	tooLarge := e.spend(t, 0, cb12)
	tooLarge.AddTxOut(wire.NewTxOut(0, append([]byte{0x6a}, make([]byte, 100_000)...)))
	resign(tooLarge, cb12.TxOut[0].Value)
	version4 := e.spend(t, 0, cb12)
	version4.Version = 4 // 3 (TRUC) is standard since Core 28
	resign(version4, cb12.TxOut[0].Value)

	for _, tc := range []struct {
		name    string
		tx      *wire.MsgTx
		pending []*wire.MsgTx
		reason  chain.TxReason // "" = valid
		fee     int64
		msg     string // part of the message
	}{
		{name: "zero fee spend of a mature coinbase", tx: zeroFee},
		{name: "with a fee", tx: withFee, fee: 1234},
		{name: "two inputs", tx: twoInputs},
		{name: "the node's own mempool transaction", tx: inMempool, fee: 10000},
		{name: "child of a pending order", tx: child, pending: []*wire.MsgTx{parent}},
		{name: "child without its pending parent", tx: child, reason: chain.TxMissingInputs},
		{name: "missing previous transaction", tx: missingTx, reason: chain.TxMissingInputs, msg: "does not know"},
		{name: "missing output index", tx: missingIndex, reason: chain.TxMissingInputs, msg: "has only 1 outputs"},
		{name: "input spent in the chain", tx: spentInput, reason: chain.TxInputSpent, msg: "already spent"},
		{name: "already mined", tx: mined, reason: chain.TxAlreadyMined},
		{name: "mempool conflict", tx: conflict, reason: chain.TxConflict, msg: inMempool.TxHash().String()},
		{name: "conflict with a pending order", tx: rival, pending: []*wire.MsgTx{parent}, reason: chain.TxConflict, msg: parent.TxHash().String()},
		{name: "bad signature", tx: badSig, reason: chain.TxScript},
		{name: "signed by another key", tx: wrongKey, reason: chain.TxScript},
		{name: "outputs above inputs", tx: overspend, reason: chain.TxInvalid},
		{name: "immature coinbase", tx: immature, reason: chain.TxImmature},
		{name: "lock time in the future", tx: lockedHeight, reason: chain.TxNotFinal},
		{name: "relative lock of 500 blocks", tx: relLocked, reason: chain.TxNotFinal, msg: "BIP 68"},
		{name: "relative lock of 100 blocks, met", tx: relOpen},
		{name: "relative time lock", tx: relTimeLocked, reason: chain.TxNotFinal, msg: "median time"},
		{name: "dust output", tx: dust, reason: chain.TxNonStandard, msg: "dust"},
		{name: "too large", tx: tooLarge, reason: chain.TxTooLarge, msg: "weight"},
		{name: "version 4", tx: version4, reason: chain.TxNonStandard, msg: "version"},
		{name: "unconfirmed parent in the mempool", tx: unconfirmedParent, reason: chain.TxMissingInputs, msg: "not confirmed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.node.CheckTx(ctx, tc.tx, tc.pending)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("CheckTx: %v", err)
				}
				btx := btcutil.NewTx(tc.tx)
				if res.Txid != tc.tx.TxHash() || res.Fee != tc.fee || res.VSize != mempool.GetTxVirtualSize(btx) || res.Weight <= 0 || res.SigOpCost < 1 {
					t.Fatalf("CheckTx result %+v (fee want %d)", res, tc.fee)
				}
				return
			}
			var te *chain.TxError
			if !errors.As(err, &te) {
				t.Fatalf("CheckTx: %v, want a TxError %s", err, tc.reason)
			}
			if te.Reason != tc.reason || !strings.Contains(te.Message, tc.msg) {
				t.Fatalf("CheckTx: %v, want reason %s with %q", err, tc.reason, tc.msg)
			}
			if errors.Is(err, chain.ErrUnavailable) {
				t.Fatal("a rejection must not be 'unavailable'")
			}
		})
	}

	// Concurrent use: the answers stay the same (run with -race to check the
	// mempool index's locking).
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if _, err := e.node.CheckTx(ctx, zeroFee, nil); err != nil {
					errs <- err
				}
				var te *chain.TxError
				if _, err := e.node.CheckTx(ctx, conflict, nil); !errors.As(err, &te) || te.Reason != chain.TxConflict {
					errs <- fmt.Errorf("conflict: %v", err)
				}
				if _, err := e.node.Template(ctx); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent use: %v", err)
	}

	// btcd's gettxout does not see mempool spends (hence CheckTx's mempool index):
	// the output spent by inMempool is still reported with include_mempool.
	var out map[string]any
	op := inMempool.TxIn[0].PreviousOutPoint
	e.btcd.Call(&out, "gettxout", op.Hash.String(), op.Index, true)
	if out == nil {
		t.Fatal("btcd's gettxout now reports mempool spends; CheckTx's mempool index may be simplified")
	}

	// The zero-fee transactions accepted by CheckTx are proposed in a block and mined.
	tmpl, err := e.node.Template(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The node's template carries its mempool transaction with fee, weight and sigops.
	if len(tmpl.Transactions) != 1 || tmpl.Transactions[0].Tx.TxHash() != inMempool.TxHash() ||
		tmpl.Transactions[0].Fee != 10000 || tmpl.Transactions[0].Weight != blockchain.GetTransactionWeight(btcutil.NewTx(inMempool)) ||
		tmpl.Transactions[0].SigOpCost != 1 {
		t.Fatalf("template transactions %+v", tmpl.Transactions)
	}
	if want := blockchain.CalcBlockSubsidy(tmpl.Height, e.node.Params()) + 10000; tmpl.CoinbaseValue != want {
		t.Fatalf("coinbase value %d, want subsidy + fee %d", tmpl.CoinbaseValue, want)
	}
	b := e.assemble(t, tmpl, templateTx(zeroFee, 0), templateTx(parent, 0), templateTx(child, 0))
	if err := e.node.Propose(ctx, b); err != nil {
		t.Fatalf("propose a block with the zero-fee chain: %v", err)
	}
	solve(t, b)
	if err := e.node.SubmitBlock(ctx, b); err != nil {
		t.Fatal(err)
	}
	st, err := e.node.TxStatus(ctx, child.TxHash(), chainhash.Hash{})
	if err != nil || !st.Confirmed || st.BlockHash != b.BlockHash() {
		t.Fatalf("child status %+v %v", st, err)
	}
	if _, err := e.node.CheckTx(ctx, child, nil); err == nil {
		t.Fatal("a mined transaction passed CheckTx")
	} else if te := (*chain.TxError)(nil); !errors.As(err, &te) || te.Reason != chain.TxAlreadyMined {
		t.Fatalf("CheckTx of a mined tx: %v", err)
	}
}
