package rpcnode_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain/rpcnode/bitcoindtest"
	"github.com/proofow/powbroker/chain/standard"
)

// TestBitcoindTRUCPackage checks, against a live bitcoind, that a zero-fee version-3
// transaction with a 0-value P2A output passes the local CheckTx, that its child
// (anchor + a confirmed wallet coin → change) passes with the parent pending, and that
// Core's submitpackage accepts the two, which the next block then carries.
func TestBitcoindTRUCPackage(t *testing.T) {
	ctx := context.Background()
	b := bitcoindtest.Start(t, bitcoindtest.Options{})
	b.Generate(110)
	n := liveCore(t, b)
	w := bitcoindtest.DefaultWallet
	payCoin := b.Fund(b.NewAddress(w, "bech32"), 1e8)
	feeCoin := b.Fund(b.NewAddress(w, "bech32"), 1e6)
	script, err := hex.DecodeString(payCoin.ScriptPubKey)
	if err != nil {
		t.Fatal(err)
	}

	parentOp, feeOp := payCoin.OutPoint(), feeCoin.OutPoint()
	unsigned := wire.NewMsgTx(standard.TRUCVersion)
	unsigned.AddTxIn(wire.NewTxIn(&parentOp, nil, nil))
	unsigned.AddTxOut(wire.NewTxOut(payCoin.Sats(), script))
	unsigned.AddTxOut(wire.NewTxOut(0, standard.PayToAnchorScript()))
	parent := b.SignTx(w, bitcoindtest.TxHex(unsigned))
	if parent.Version != standard.TRUCVersion {
		t.Fatalf("signed parent has version %d", parent.Version)
	}
	if c, err := n.CheckTx(ctx, parent, nil); err != nil || c.Fee != 0 {
		t.Fatalf("CheckTx of the zero-fee v3 parent: %+v %v", c, err)
	}

	const childFee = 2000
	anchorOp := wire.OutPoint{Hash: parent.TxHash(), Index: 1}
	unsignedChild := wire.NewMsgTx(standard.TRUCVersion)
	unsignedChild.AddTxIn(wire.NewTxIn(&anchorOp, nil, nil))
	unsignedChild.AddTxIn(wire.NewTxIn(&feeOp, nil, nil))
	unsignedChild.AddTxOut(wire.NewTxOut(feeCoin.Sats()-childFee, script))
	var signed struct {
		Hex      string            `json:"hex"`
		Complete bool              `json:"complete"`
		Errors   []json.RawMessage `json:"errors"`
	}
	b.WalletCall(w, &signed, "signrawtransactionwithwallet", bitcoindtest.TxHex(unsignedChild), []map[string]any{{
		"txid": anchorOp.Hash.String(), "vout": 1, "scriptPubKey": hex.EncodeToString(standard.PayToAnchorScript()), "amount": 0,
	}})
	if !signed.Complete {
		t.Fatalf("child not signed completely: %s", signed.Errors)
	}
	child, err := bitcoindtest.DecodeTx(signed.Hex)
	if err != nil {
		t.Fatal(err)
	}
	if len(child.TxIn[0].SignatureScript) != 0 || len(child.TxIn[0].Witness) != 0 {
		t.Fatalf("Core's signer put data on the anchor input: %x %x", child.TxIn[0].SignatureScript, child.TxIn[0].Witness)
	}
	if c, err := n.CheckTx(ctx, child, []*wire.MsgTx{parent}); err != nil || c.Fee != childFee {
		t.Fatalf("CheckTx of the child with the parent pending: %+v %v", c, err)
	}

	var res struct {
		PackageMsg string `json:"package_msg"`
		TxResults  map[string]struct {
			Txid  string `json:"txid"`
			Error string `json:"error"`
		} `json:"tx-results"`
	}
	b.Call(&res, "submitpackage", []string{bitcoindtest.TxHex(parent), bitcoindtest.TxHex(child)})
	if res.PackageMsg != "success" || len(res.TxResults) != 2 {
		t.Fatalf("submitpackage: %+v", res)
	}
	for wtxid, r := range res.TxResults {
		if r.Error != "" {
			t.Fatalf("submitpackage: %s refused: %s", wtxid, r.Error)
		}
	}
	block := b.Block(b.Generate(1)[0])
	mined := map[chainhash.Hash]bool{}
	for _, tx := range block.Transactions {
		mined[tx.TxHash()] = true
	}
	if !mined[parent.TxHash()] || !mined[child.TxHash()] {
		t.Fatalf("the next block does not carry the package: %v", mined)
	}
}
