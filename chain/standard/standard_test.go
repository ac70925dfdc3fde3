package standard

import (
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// p2wpkh is a standard output script (witness v0, 20 bytes).
var p2wpkh = append([]byte{txscript.OP_0, txscript.OP_DATA_20}, make([]byte, 20)...)

func txOf(version int32, outs ...*wire.TxOut) *wire.MsgTx {
	tx := wire.NewMsgTx(version)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: 1}, nil, nil))
	for _, o := range outs {
		tx.AddTxOut(o)
	}
	return tx
}

func TestCheckTx(t *testing.T) {
	anchor := func(v int64) *wire.TxOut { return wire.NewTxOut(v, PayToAnchorScript()) }
	pay := wire.NewTxOut(1e6, p2wpkh)
	big := txOf(3, pay, anchor(0))
	big.TxIn[0].Witness = wire.TxWitness{make([]byte, 4*MaxTRUCVSize)}
	cases := []struct {
		name, err string
		tx        *wire.MsgTx
	}{
		{"v2 payment", "", txOf(2, pay)},
		{"v3 with a 0-value anchor", "", txOf(3, pay, anchor(0))},
		{"v3 anchor only", "", txOf(3, anchor(0))},
		{"anchor at the threshold and a dust anchor", "", txOf(3, pay, anchor(P2ADustThreshold), anchor(0))},
		{"v4", "version 4", txOf(4, pay)},
		{"v0", "version 0", txOf(0, pay)},
		{"two dust anchors", "second dust pay-to-anchor", txOf(3, anchor(0), anchor(239))},
		{"other dust stays dust", "dust", txOf(3, wire.NewTxOut(1, p2wpkh), anchor(0))},
		{"TRUC above 10,000 vB", "TRUC limit", big},
		{"v2 above 10,000 vB is fine", "", func() *wire.MsgTx { c := big.Copy(); c.Version = 2; return c }()},
	}
	for _, c := range cases {
		err := CheckTx(btcutil.NewTx(c.tx), 100, time.Unix(1e9, 0))
		if (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: CheckTx = %v, want %q", c.name, err, c.err)
		}
	}
}

func TestCheckDust(t *testing.T) {
	tx := txOf(3, wire.NewTxOut(1e6, p2wpkh), wire.NewTxOut(0, PayToAnchorScript()))
	if err := CheckDust(tx, 0); err != nil {
		t.Errorf("zero fee: %v", err)
	}
	if err := CheckDust(tx, 1); err == nil || !strings.Contains(err.Error(), "ephemeral dust") {
		t.Errorf("fee 1: %v", err)
	}
	tx.TxOut[1].Value = P2ADustThreshold
	if err := CheckDust(tx, 1); err != nil {
		t.Errorf("non-dust anchor with a fee: %v", err)
	}
}

func TestAnchorInputs(t *testing.T) {
	anchorOp, payOp, unknownOp := wire.OutPoint{Index: 0}, wire.OutPoint{Index: 1}, wire.OutPoint{Index: 2}
	fetch := txscript.NewMultiPrevOutFetcher(map[wire.OutPoint]*wire.TxOut{
		anchorOp:  wire.NewTxOut(0, PayToAnchorScript()),
		payOp:     wire.NewTxOut(1e6, p2wpkh),
		unknownOp: wire.NewTxOut(1e6, []byte{txscript.OP_2, txscript.OP_DATA_2, 1, 2}),
	})
	spend := func(ops ...wire.OutPoint) *wire.MsgTx {
		tx := wire.NewMsgTx(3)
		for i := range ops {
			tx.AddTxIn(wire.NewTxIn(&ops[i], nil, nil))
		}
		return tx
	}
	if a, err := AnchorInputs(spend(payOp, unknownOp), fetch); a != nil || err != nil {
		t.Errorf("no anchor: %v %v", a, err)
	}
	if a, err := AnchorInputs(spend(payOp, anchorOp), fetch); err != nil || len(a) != 2 || a[0] || !a[1] {
		t.Errorf("anchor at input 1: %v %v", a, err)
	}
	withWitness := spend(anchorOp)
	withWitness.TxIn[0].Witness = wire.TxWitness{{1}}
	if _, err := AnchorInputs(withWitness, fetch); err == nil || !strings.Contains(err.Error(), "empty witness") {
		t.Errorf("anchor with a witness: %v", err)
	}
	if _, err := AnchorInputs(spend(anchorOp, unknownOp), fetch); err == nil || !strings.Contains(err.Error(), "unknown witness program") {
		t.Errorf("anchor next to an unknown witness program: %v", err)
	}
}
