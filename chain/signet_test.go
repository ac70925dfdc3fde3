package chain

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

func signetTemplate(challenge []byte) *Template {
	return &Template{
		PrevHash: chainhash.Hash{1}, Height: 10, Version: 0x20000000, Bits: 0x1e0377ae,
		CurTime: time.Unix(1_700_000_000, 0), MinTime: time.Unix(1_699_999_000, 0),
		CoinbaseValue: 50e8, SegwitActive: true, SignetChallenge: challenge,
	}
}

// TestAssembleSignet: on a signet the coinbase always carries the witness commitment
// (also with no witness transaction) and, in it, the empty block solution push; a
// challenge that needs a signature is refused by name.
func TestAssembleSignet(t *testing.T) {
	payout := []byte{txscript.OP_TRUE}
	asm, err := Assemble(AssembleSpec{Template: signetTemplate([]byte{txscript.OP_TRUE}), PayoutScript: payout})
	if err != nil {
		t.Fatal(err)
	}
	if !asm.Witness {
		t.Fatal("signet block without a witness commitment")
	}
	en1, en2 := []byte{1, 2, 3, 4}, []byte{5, 6, 7, 8}
	hdr := asm.Header(en1, en2, 0x20000000, 1_700_000_000, 7)
	blk, err := asm.Block(en1, en2, hdr)
	if err != nil {
		t.Fatal(err)
	}
	cb := blk.Transactions[0]
	idx := witnessCommitmentIndex(cb)
	if idx != len(cb.TxOut)-1 || len(cb.TxIn[0].Witness) != 1 || len(cb.TxIn[0].Witness[0]) != 32 {
		t.Fatalf("commitment output %d of %d, witness %x", idx, len(cb.TxOut), cb.TxIn[0].Witness)
	}
	want := "ecc7daa20000"
	if s := hex.EncodeToString(cb.TxOut[idx].PkScript); s[len(s)-len(want)-2:] != "06"+want {
		t.Fatalf("commitment script %s lacks the push of %s", s, want)
	}
	if blk.Header.MerkleRoot != blk.Transactions[0].TxHash() {
		t.Fatal("header root is not the coinbase txid of a one-transaction block")
	}
	if err := VerifySignetBlock(blk, []byte{txscript.OP_TRUE}); err != nil {
		t.Fatal(err)
	}
	key, _ := btcec.NewPrivateKey()
	p2wpkh, _ := SignetChallengeFor("p2wpkh", key.PubKey())
	if _, err := Assemble(AssembleSpec{Template: signetTemplate(p2wpkh), PayoutScript: payout}); err == nil {
		t.Fatal("a key challenge assembled without a signature")
	}
	if EmptySolutionValid(p2wpkh) || !EmptySolutionValid([]byte{txscript.OP_TRUE}) {
		t.Fatal("EmptySolutionValid")
	}
}

// TestSignSignetBlock signs blocks for P2WPKH and P2TR challenges: the solution
// verifies, survives grinding the nonce, and breaks when the time, the version or a
// transaction changes, or under another key.
func TestSignSignetBlock(t *testing.T) {
	key, _ := btcec.NewPrivateKey()
	other, _ := btcec.NewPrivateKey()
	for _, kind := range []string{"p2wpkh", "p2tr"} {
		t.Run(kind, func(t *testing.T) {
			challenge, err := SignetChallengeFor(kind, key.PubKey())
			if err != nil {
				t.Fatal(err)
			}
			sk, err := NewSignetKey(key, challenge)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewSignetKey(other, challenge); err == nil {
				t.Fatal("another key accepted for the challenge")
			}
			tmpl := signetTemplate([]byte{txscript.OP_TRUE})
			asm, err := Assemble(AssembleSpec{Template: tmpl, PayoutScript: []byte{txscript.OP_TRUE}})
			if err != nil {
				t.Fatal(err)
			}
			en1, en2 := []byte{1, 2, 3, 4}, []byte{0, 0, 0, 9}
			blk, err := asm.Block(en1, en2, asm.Header(en1, en2, tmpl.Version, 1_700_000_000, 0))
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifySignetBlock(blk, challenge); err == nil {
				t.Fatal("the empty solution satisfies a key challenge")
			}
			if err := SignSignetBlock(blk, sk); err != nil {
				t.Fatal(err)
			}
			if err := VerifySignetBlock(blk, challenge); err != nil {
				t.Fatal(err)
			}
			blk.Header.Nonce = 12345
			if err := VerifySignetBlock(blk, challenge); err != nil {
				t.Fatalf("after a new nonce: %v", err)
			}
			for name, change := range map[string]func(b *wire.MsgBlock){
				"time":    func(b *wire.MsgBlock) { b.Header.Timestamp = b.Header.Timestamp.Add(time.Second) },
				"version": func(b *wire.MsgBlock) { b.Header.Version++ },
				"coinbase": func(b *wire.MsgBlock) {
					b.Transactions[0].TxIn[0].SignatureScript = append(bytes.Clone(b.Transactions[0].TxIn[0].SignatureScript), 0)
				},
			} {
				c := blk.Copy()
				change(c)
				if err := VerifySignetBlock(c, challenge); err == nil {
					t.Errorf("solution still valid after changing the %s", name)
				}
			}
		})
	}
}

// TestAssembleSignetKey: with a signet key in the template, every coinbase the
// assembly renders carries a solution for its extranonces: the block verifies with the
// template's version and time, and the header's root is the one of the signed coinbase.
func TestAssembleSignetKey(t *testing.T) {
	key, _ := btcec.NewPrivateKey()
	for _, kind := range []string{"p2wpkh", "p2tr"} {
		challenge, _ := SignetChallengeFor(kind, key.PubKey())
		sk, err := NewSignetKey(key, challenge)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := signetTemplate(challenge)
		if _, err := Assemble(AssembleSpec{Template: tmpl, PayoutScript: []byte{txscript.OP_TRUE}}); err == nil {
			t.Fatal("a key challenge assembled without the key")
		}
		tmpl.SignetKey = sk
		asm, err := Assemble(AssembleSpec{Template: tmpl, PayoutScript: []byte{txscript.OP_TRUE}})
		if err != nil {
			t.Fatal(err)
		}
		for _, en2 := range [][]byte{{0, 0, 0, 1}, {0, 0, 0, 2}} {
			en1 := []byte{9, 9, 9, 9}
			ntime := uint32(tmpl.CurTime.Unix())
			blk, err := asm.Block(en1, en2, asm.Header(en1, en2, tmpl.Version, ntime, 77))
			if err != nil {
				t.Fatal(err)
			}
			if blk.Header.MerkleRoot != blk.Transactions[0].TxHash() {
				t.Fatal("the header's root is not the signed coinbase's")
			}
			if err := VerifySignetBlock(blk, challenge); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			late, _ := asm.Block(en1, en2, asm.Header(en1, en2, tmpl.Version, ntime+1, 77))
			if err := VerifySignetBlock(late, challenge); err == nil {
				t.Fatalf("%s: valid with another header time", kind)
			}
		}
	}
}
