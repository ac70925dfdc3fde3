package btcdtest

import (
	"crypto/sha256"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Key is a test key with its P2WPKH address on regtest.
type Key struct {
	Priv     *btcec.PrivateKey
	Addr     btcutil.Address
	PkScript []byte
}

// NewKey derives a deterministic key from seed.
func NewKey(seed string) (*Key, error) {
	sum := sha256.Sum256([]byte("btcdtest key " + seed))
	priv, pub := btcec.PrivKeyFromBytes(sum[:])
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), &chaincfg.RegressionNetParams)
	if err != nil {
		return nil, fmt.Errorf("btcdtest: address: %w", err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, fmt.Errorf("btcdtest: script: %w", err)
	}
	return &Key{Priv: priv, Addr: addr, PkScript: script}, nil
}

// Sign sets the witness of every input of tx, each spending an output of k worth the
// matching entry of values.
func (k *Key) Sign(tx *wire.MsgTx, values []int64) error {
	if len(values) != len(tx.TxIn) {
		return fmt.Errorf("btcdtest: %d values for %d inputs", len(values), len(tx.TxIn))
	}
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range tx.TxIn {
		fetcher.AddPrevOut(in.PreviousOutPoint, wire.NewTxOut(values[i], k.PkScript))
	}
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i := range tx.TxIn {
		w, err := txscript.WitnessSignature(tx, hashes, i, values[i], k.PkScript, txscript.SigHashAll, k.Priv, true)
		if err != nil {
			return fmt.Errorf("btcdtest: sign input %d: %w", i, err)
		}
		tx.TxIn[i].Witness = w
	}
	return nil
}

// Spend builds and signs a version 2 transaction spending output 0 of every prev (each
// paying k) to the script to (k's own script when nil), leaving fee to the miner.
func (k *Key) Spend(fee int64, to []byte, prevs ...*wire.MsgTx) (*wire.MsgTx, error) {
	if to == nil {
		to = k.PkScript
	}
	tx := wire.NewMsgTx(2)
	values := make([]int64, 0, len(prevs))
	var total int64
	for _, p := range prevs {
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: p.TxHash(), Index: 0}, nil, nil))
		values = append(values, p.TxOut[0].Value)
		total += p.TxOut[0].Value
	}
	tx.AddTxOut(wire.NewTxOut(total-fee, to))
	if err := k.Sign(tx, values); err != nil {
		return nil, err
	}
	return tx, nil
}
