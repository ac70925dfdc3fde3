package embedded

import (
	"context"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// TestSegwit mines regtest past segwit's activation (height 432) and checks that a
// P2WPKH spend passes CheckTx, enters templates as a witness transaction and is mined
// with a witness commitment.
func TestSegwit(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, "", "regtest", 0)
	pkh := btcutil.Hash160(c.faucetKey.PubKey().SerializeCompressed())
	addr, err := btcutil.NewAddressWitnessPubKeyHash(pkh, c.params)
	if err != nil {
		t.Fatal(err)
	}
	wpkh, err := txscript.PayToAddrScript(addr)
	if err != nil {
		t.Fatal(err)
	}
	fund, err := c.FaucetTo(ctx, wpkh, 5e6, 0)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl, err := c.Template(ctx); err != nil || tmpl.SegwitActive {
		t.Fatalf("segwit active at height %d: %v", tmpl.Height, err)
	}
	if _, err := c.GenerateOn(ctx, mustTip(t, c).Hash, 1, []*wire.MsgTx{fund}); err != nil {
		t.Fatal(err)
	}
	for mustTip(t, c).Height < 431 {
		if _, err := c.Generate(ctx, 431-int(mustTip(t, c).Height), nil); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, err := c.Template(ctx)
	if err != nil || !tmpl.SegwitActive || tmpl.Height != 432 {
		t.Fatalf("template at 432: %+v %v", tmpl, err)
	}

	tx := wire.NewMsgTx(2)
	prev := wire.OutPoint{Hash: fund.TxHash(), Index: 0}
	tx.AddTxIn(wire.NewTxIn(&prev, nil, nil))
	tx.AddTxOut(wire.NewTxOut(5e6-200, c.faucetScript))
	fetcher := txscript.NewCannedPrevOutputFetcher(wpkh, 5e6)
	p2pkh, err := txscript.PayToAddrScript(c.faucetAddr)
	if err != nil {
		t.Fatal(err)
	}
	wit, err := txscript.WitnessSignature(tx, txscript.NewTxSigHashes(tx, fetcher), 0, 5e6, p2pkh, txscript.SigHashAll, c.faucetKey, true)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].Witness = wit
	chk, err := c.CheckTx(ctx, tx, nil)
	if err != nil {
		t.Fatalf("CheckTx of a P2WPKH spend: %v", err)
	}
	if chk.Fee != 200 || chk.Weight >= 4*int64(tx.SerializeSize()) || chk.VSize != (chk.Weight+3)/4 {
		t.Fatalf("check %+v (size %d)", chk, tx.SerializeSize())
	}
	// A broken witness is a script failure.
	bad := tx.Copy()
	bad.TxIn[0].Witness = wire.TxWitness{append([]byte(nil), wit[0]...), wit[1]}
	bad.TxIn[0].Witness[0][8] ^= 1
	if _, err := c.CheckTx(ctx, bad, nil); reasonOf(err) != "script-failure" {
		t.Fatalf("broken witness: %v", err)
	}

	if err := c.AcceptToMempool(ctx, tx); err != nil {
		t.Fatal(err)
	}
	hs, err := c.Generate(ctx, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _, err := c.Block(ctx, hs[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(block.Transactions) != 2 || len(block.Transactions[0].TxIn[0].Witness) != 1 {
		t.Fatalf("block has %d transactions, coinbase witness %v", len(block.Transactions), block.Transactions[0].TxIn[0].Witness)
	}
	if st, err := c.TxStatus(ctx, tx.TxHash(), chainhash.Hash{}); err != nil || !st.Confirmed {
		t.Fatalf("status %+v %v", st, err)
	}
}
