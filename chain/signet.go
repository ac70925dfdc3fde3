package chain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// SignetHeader starts the push of a signet block solution inside the coinbase's
// witness commitment output (BIP 325).
var SignetHeader = [4]byte{0xec, 0xc7, 0xda, 0xa2}

// signetVerifyFlags are the flags Bitcoin Core checks a block solution with, plus
// taproot: Core v30 leaves SCRIPT_VERIFY_TAPROOT out, so it accepts any solution for a
// P2TR challenge, but a solution made here must be one a taproot-checking node takes.
const signetVerifyFlags = txscript.ScriptBip16 | txscript.ScriptVerifyWitness |
	txscript.ScriptVerifyDERSignatures | txscript.ScriptStrictMultiSig |
	txscript.ScriptVerifyTaproot

// SignetKey signs signet blocks for a single-key challenge: P2WPKH (OP_0 <20-byte
// key hash>) or P2TR key path (OP_1 <32-byte output key>, the key tweaked as BIP 86
// says, with no script tree).
type SignetKey struct {
	Key       *btcec.PrivateKey
	Challenge []byte
}

// SignetChallengeFor returns the challenge of a single-key signet: "p2wpkh" or
// "p2tr" (BIP 86 key path) for key.
func SignetChallengeFor(kind string, key *btcec.PublicKey) ([]byte, error) {
	switch kind {
	case "p2wpkh":
		return txscript.NewScriptBuilder().AddOp(txscript.OP_0).AddData(btcutil.Hash160(key.SerializeCompressed())).Script()
	case "p2tr":
		out := txscript.ComputeTaprootKeyNoScript(key)
		return txscript.PayToTaprootScript(out)
	}
	return nil, fmt.Errorf("signet key kind %q: want p2wpkh or p2tr", kind)
}

// NewSignetKey checks that key satisfies challenge as P2WPKH or P2TR key path.
func NewSignetKey(key *btcec.PrivateKey, challenge []byte) (*SignetKey, error) {
	for _, kind := range []string{"p2wpkh", "p2tr"} {
		c, err := SignetChallengeFor(kind, key.PubKey())
		if err != nil {
			return nil, err
		}
		if bytes.Equal(c, challenge) {
			return &SignetKey{Key: key, Challenge: append([]byte(nil), challenge...)}, nil
		}
	}
	return nil, fmt.Errorf("the signet key is neither the P2WPKH nor the P2TR key of challenge %x", challenge)
}

// solve signs toSign, which spends toSpend's only output (the challenge).
func (k *SignetKey) solve(toSign *wire.MsgTx) ([]byte, wire.TxWitness, error) {
	fetch := txscript.NewCannedPrevOutputFetcher(k.Challenge, 0)
	hashes := txscript.NewTxSigHashes(toSign, fetch)
	class := txscript.GetScriptClass(k.Challenge)
	switch class {
	case txscript.WitnessV0PubKeyHashTy:
		w, err := txscript.WitnessSignature(toSign, hashes, 0, 0, k.Challenge, txscript.SigHashAll, k.Key, true)
		return nil, w, err
	case txscript.WitnessV1TaprootTy:
		w, err := txscript.TaprootWitnessSignature(toSign, hashes, 0, 0, k.Challenge, txscript.SigHashDefault, k.Key)
		return nil, w, err
	}
	return nil, nil, fmt.Errorf("signet challenge of class %s is not a single key", class)
}

// signetPush is the push data of a block solution: the header, the scriptSig with its
// CompactSize length, and the witness stack as BIP 141 serializes it.
func signetPush(sigScript []byte, witness wire.TxWitness) []byte {
	var b bytes.Buffer
	b.Write(SignetHeader[:])
	_ = wire.WriteVarBytes(&b, 0, sigScript)
	_ = wire.WriteVarInt(&b, 0, uint64(len(witness)))
	for _, item := range witness {
		_ = wire.WriteVarBytes(&b, 0, item)
	}
	return b.Bytes()
}

// EmptySolutionValid tells whether the empty block solution satisfies challenge, as
// for OP_TRUE (51): such a signet needs no key and every block the same solution.
func EmptySolutionValid(challenge []byte) bool {
	toSpend, toSign := signetTxs(challenge, make([]byte, 72))
	return verifySignetSolution(challenge, toSpend, toSign) == nil
}

// signetTxs builds BIP 325's virtual transactions for block data (version, previous
// block hash, signet merkle root and time: 72 bytes).
func signetTxs(challenge, blockData []byte) (toSpend, toSign *wire.MsgTx) {
	sigScript, _ := txscript.NewScriptBuilder().AddOp(txscript.OP_0).AddData(blockData).Script()
	toSpend = &wire.MsgTx{Version: 0, LockTime: 0}
	toSpend.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex}, SignatureScript: sigScript, Sequence: 0})
	toSpend.AddTxOut(wire.NewTxOut(0, challenge))
	toSign = &wire.MsgTx{Version: 0, LockTime: 0}
	toSign.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: toSpend.TxHash(), Index: 0}, Sequence: 0})
	toSign.AddTxOut(wire.NewTxOut(0, []byte{txscript.OP_RETURN}))
	return toSpend, toSign
}

func verifySignetSolution(challenge []byte, toSpend, toSign *wire.MsgTx) error {
	fetch := txscript.NewCannedPrevOutputFetcher(challenge, 0)
	vm, err := txscript.NewEngine(challenge, toSign, 0, signetVerifyFlags, nil, txscript.NewTxSigHashes(toSign, fetch), 0, fetch)
	if err != nil {
		return err
	}
	return vm.Execute()
}

// witnessCommitmentIndex is the coinbase output Core reads the witness commitment
// from: the last one with the commitment prefix and at least 38 bytes.
func witnessCommitmentIndex(cb *wire.MsgTx) int {
	for i := len(cb.TxOut) - 1; i >= 0; i-- {
		s := cb.TxOut[i].PkScript
		if len(s) >= blockchain.CoinbaseWitnessPkScriptLength && bytes.HasPrefix(s, blockchain.WitnessMagicBytes) {
			return i
		}
	}
	return -1
}

// withSignetPush returns the commitment script with push as its signet solution
// (replacing the first push that starts with the signet header, or appended).
func withSignetPush(script, push []byte) ([]byte, error) {
	b := txscript.NewScriptBuilder()
	replaced := false
	tok := txscript.MakeScriptTokenizer(0, script)
	for tok.Next() {
		data := tok.Data()
		switch {
		case !replaced && len(data) >= len(SignetHeader) && bytes.Equal(data[:len(SignetHeader)], SignetHeader[:]):
			b.AddData(push)
			replaced = true
		case data != nil:
			b.AddData(data)
		default:
			b.AddOp(tok.Opcode())
		}
	}
	if err := tok.Err(); err != nil {
		return nil, fmt.Errorf("witness commitment script: %w", err)
	}
	if !replaced {
		b.AddData(push)
	}
	return b.Script()
}

// SignSignetBlock puts the block solution for key into block's coinbase (whose witness
// commitment output must exist) and updates the header's merkle root. The signature
// commits to the header's version, previous block and time and to every transaction
// (the coinbase with an empty solution), not to the nonce, so the block may be
// ground by nonce afterwards but by nothing else.
func SignSignetBlock(block *wire.MsgBlock, key *SignetKey) error {
	cb, idx, err := coinbaseCommitment(block)
	if err != nil {
		return err
	}
	empty, err := withSignetPush(cb.TxOut[idx].PkScript, SignetHeader[:])
	if err != nil {
		return err
	}
	cb.TxOut[idx].PkScript = empty
	toSpend, toSign := signetTxs(key.Challenge, signetBlockData(&block.Header, cb, block.Transactions[1:]))
	sigScript, witness, err := key.solve(toSign)
	if err != nil {
		return fmt.Errorf("signet: sign: %w", err)
	}
	toSign.TxIn[0].SignatureScript, toSign.TxIn[0].Witness = sigScript, witness
	if err := verifySignetSolution(key.Challenge, toSpend, toSign); err != nil {
		return fmt.Errorf("signet: the solution does not satisfy the challenge: %w", err)
	}
	solved, err := withSignetPush(cb.TxOut[idx].PkScript, signetPush(sigScript, witness))
	if err != nil {
		return err
	}
	cb.TxOut[idx].PkScript = solved
	block.Transactions[0] = cb
	block.Header.MerkleRoot = signetMerkleRoot(cb, block.Transactions[1:])
	return nil
}

func signetMerkleRoot(cb *wire.MsgTx, rest []*wire.MsgTx) chainhash.Hash {
	txs := make([]*btcutil.Tx, 0, len(rest)+1)
	txs = append(txs, btcutil.NewTx(cb))
	for _, tx := range rest {
		txs = append(txs, btcutil.NewTx(tx))
	}
	return blockchain.CalcMerkleRoot(txs, false)
}

// signetBlockData is what a block solution commits to: the header's version, previous
// block, the merkle root with cb (the coinbase with an empty solution) and time.
func signetBlockData(h *wire.BlockHeader, cb *wire.MsgTx, rest []*wire.MsgTx) []byte {
	root := signetMerkleRoot(cb, rest)
	b := make([]byte, 0, 72)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.Version))
	b = append(b, h.PrevBlock[:]...)
	b = append(b, root[:]...)
	return binary.LittleEndian.AppendUint32(b, uint32(h.Timestamp.Unix()))
}

// VerifySignetBlock checks block's signet solution against challenge as Bitcoin Core
// does (BIP 325; the solution push may be absent when the empty solution is valid),
// with taproot checked too.
func VerifySignetBlock(block *wire.MsgBlock, challenge []byte) error {
	cb, idx, err := coinbaseCommitment(block)
	if err != nil {
		return err
	}
	var sigScript []byte
	var witness wire.TxWitness
	tok := txscript.MakeScriptTokenizer(0, cb.TxOut[idx].PkScript)
	for tok.Next() {
		d := tok.Data()
		if len(d) > len(SignetHeader) && bytes.Equal(d[:len(SignetHeader)], SignetHeader[:]) {
			var err error
			if sigScript, witness, err = parseSignetSolution(d[len(SignetHeader):]); err != nil {
				return err
			}
			if cb.TxOut[idx].PkScript, err = withSignetPush(cb.TxOut[idx].PkScript, SignetHeader[:]); err != nil {
				return err
			}
			break
		}
	}
	if err := tok.Err(); err != nil {
		return fmt.Errorf("signet: witness commitment script: %w", err)
	}
	toSpend, toSign := signetTxs(challenge, signetBlockData(&block.Header, cb, block.Transactions[1:]))
	toSign.TxIn[0].SignatureScript, toSign.TxIn[0].Witness = sigScript, witness
	if err := verifySignetSolution(challenge, toSpend, toSign); err != nil {
		return fmt.Errorf("signet: block solution invalid: %w", err)
	}
	return nil
}

// parseSignetSolution reads a scriptSig and a witness stack that fill b exactly.
func parseSignetSolution(b []byte) ([]byte, wire.TxWitness, error) {
	r := bytes.NewReader(b)
	sigScript, err := wire.ReadVarBytes(r, 0, uint32(len(b)), "scriptSig")
	if err != nil {
		return nil, nil, fmt.Errorf("signet solution: %w", err)
	}
	n, err := wire.ReadVarInt(r, 0)
	if err != nil || n > uint64(len(b)) {
		return nil, nil, errors.New("signet solution: bad witness count")
	}
	var w wire.TxWitness
	for range n {
		item, err := wire.ReadVarBytes(r, 0, uint32(len(b)), "witness item")
		if err != nil {
			return nil, nil, fmt.Errorf("signet solution: %w", err)
		}
		w = append(w, item)
	}
	if r.Len() != 0 {
		return nil, nil, errors.New("signet solution: extra data")
	}
	return sigScript, w, nil
}

// coinbaseCommitment returns a copy of block's coinbase and the index of its witness
// commitment output.
func coinbaseCommitment(block *wire.MsgBlock) (*wire.MsgTx, int, error) {
	if len(block.Transactions) == 0 {
		return nil, 0, errors.New("signet: a block without transactions")
	}
	cb := block.Transactions[0].Copy()
	idx := witnessCommitmentIndex(cb)
	if idx < 0 {
		return nil, 0, errors.New("signet: the coinbase has no witness commitment")
	}
	return cb, idx, nil
}
