package chain

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/mining"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Limits on the extranonce parts of the coinbase.
const (
	Extranonce1Size    = 4
	DefaultExtranonce2 = 4
	MaxExtranonce2     = 8
	// coinbaseWeightReserve is the block weight kept free for the coinbase.
	coinbaseWeightReserve = 4000
	// coinbaseSigOpReserve is the sigop cost kept free for the coinbase.
	coinbaseSigOpReserve = 400
)

// AssembleSpec says how to turn a node Template into a block under construction.
type AssembleSpec struct {
	Template *Template
	// Extra transactions (the orders'), parents before children. They are added after
	// the template's own transactions while the block's weight and sigop limits allow.
	Extra           []TemplateTx
	PayoutScript    []byte
	Tag             []byte // a short text after the extranonce in the coinbase script
	Extranonce2Size int    // 0 means DefaultExtranonce2
}

// Dropped is an extra transaction that was left out of the block, with the reason.
type Dropped struct {
	Txid   chainhash.Hash
	Reason string
}

// Assembly is a block under construction: everything a mining job needs. The coinbase
// is split around extranonce1 ‖ extranonce2 into two halves in legacy serialization,
// and the merkle branch lets a miner compute the root from the coinbase txid.
type Assembly struct {
	Template        *Template
	Txs             []*wire.MsgTx // block transactions after the coinbase
	Included        []chainhash.Hash
	Dropped         []Dropped
	Coinb1, Coinb2  []byte
	Extranonce2Size int
	Branch          []chainhash.Hash
	Witness         bool  // the coinbase carries a witness commitment and reserved value
	Fees            int64 // of the extra transactions
	Weight          int64 // of the non-coinbase transactions
	SigOpCost       int64

	signetKey *SignetKey // signs the block solution per coinbase (see CoinbaseLegacy)
}

// Assemble builds the block parts for spec.
func Assemble(spec AssembleSpec) (*Assembly, error) {
	en2, err := checkSpec(spec)
	if err != nil {
		return nil, err
	}
	t := spec.Template
	a := &Assembly{Template: t, Extranonce2Size: en2}
	a.selectTxs(t.Transactions, spec.Extra)
	for _, tx := range a.Txs {
		if tx.HasWitness() {
			a.Witness = true
			break
		}
	}
	if a.Witness && !t.SegwitActive {
		return nil, errors.New("assemble: a witness transaction in a block before segwit is active")
	}
	signet := len(t.SignetChallenge) > 0
	if signet {
		// BIP 325: every signet block has a witness commitment, with the block
		// solution in it.
		a.Witness = true
		switch {
		case t.SignetKey != nil:
			if !bytes.Equal(t.SignetKey.Challenge, t.SignetChallenge) {
				return nil, errors.New("assemble: the signet key is not for the template's challenge")
			}
			a.signetKey = t.SignetKey
		case !EmptySolutionValid(t.SignetChallenge):
			return nil, fmt.Errorf("assemble: signet challenge %x needs a block signature and the template has no signet key", t.SignetChallenge)
		}
	}
	if err := a.coinbase(spec, t.CoinbaseValue+a.Fees, signet); err != nil {
		return nil, err
	}
	return a, nil
}

// checkSpec checks an assembly's inputs and returns the extranonce2 size.
func checkSpec(spec AssembleSpec) (en2 int, err error) {
	if spec.Template == nil {
		return 0, errors.New("assemble: no template")
	}
	en2 = spec.Extranonce2Size
	if en2 == 0 {
		en2 = DefaultExtranonce2
	}
	if en2 < 1 || en2 > MaxExtranonce2 {
		return 0, fmt.Errorf("assemble: extranonce2 size %d outside 1..%d", en2, MaxExtranonce2)
	}
	if len(spec.PayoutScript) == 0 {
		return 0, errors.New("assemble: no payout script")
	}
	if len(spec.Tag) > 32 {
		return 0, fmt.Errorf("assemble: coinbase tag of %d bytes is longer than 32", len(spec.Tag))
	}
	return en2, nil
}

// selectTxs takes every template transaction, then the extra ones that fit: not mined
// by the node already, parents included, no input spent twice, within the block's
// weight and sigop limits (the others are Dropped with the reason).
func (a *Assembly) selectTxs(node, extras []TemplateTx) {
	spent := make(map[wire.OutPoint]bool)
	seen := make(map[chainhash.Hash]bool)
	weight := int64(coinbaseWeightReserve)
	sigops := int64(coinbaseSigOpReserve)
	add := func(tt TemplateTx) {
		a.Txs = append(a.Txs, tt.Tx)
		txid := tt.Tx.TxHash()
		a.Included = append(a.Included, txid)
		seen[txid] = true
		for _, in := range tt.Tx.TxIn {
			spent[in.PreviousOutPoint] = true
		}
		a.Weight += tt.Weight
		a.SigOpCost += tt.SigOpCost
		weight += tt.Weight
		sigops += tt.SigOpCost
	}
	for _, tt := range node {
		add(tt)
	}
	dropped := make(map[chainhash.Hash]bool)
extra:
	for _, tt := range extras {
		txid := tt.Tx.TxHash()
		if seen[txid] {
			continue // the node already mines it
		}
		for _, in := range tt.Tx.TxIn {
			if dropped[in.PreviousOutPoint.Hash] {
				a.drop(dropped, txid, "its parent transaction is not in the block")
				continue extra
			}
			if spent[in.PreviousOutPoint] {
				a.drop(dropped, txid, fmt.Sprintf("input %s is spent by another transaction of the block", in.PreviousOutPoint))
				continue extra
			}
		}
		if weight+tt.Weight > blockchain.MaxBlockWeight {
			a.drop(dropped, txid, "the block is full (weight limit)")
			continue
		}
		if sigops+tt.SigOpCost > blockchain.MaxBlockSigOpsCost {
			a.drop(dropped, txid, "the block is full (sigop limit)")
			continue
		}
		add(tt)
		a.Fees += tt.Fee // the template's coinbase value already has its own fees
	}
}

// coinbase builds the coinbase paying value, its halves around the extranonces and
// the merkle branch.
func (a *Assembly) coinbase(spec AssembleSpec, value int64, signet bool) error {
	en2 := a.Extranonce2Size
	cb, prefix, err := coinbaseTemplate(a.Template.Height, en2, spec.Tag, value, spec.PayoutScript)
	if err != nil {
		return err
	}
	txs := make([]*btcutil.Tx, 0, len(a.Txs)+1)
	txs = append(txs, btcutil.NewTx(cb))
	for _, tx := range a.Txs {
		txs = append(txs, btcutil.NewTx(tx))
	}
	if a.Witness {
		mining.AddWitnessCommitment(txs[0], txs)
	}
	if signet {
		out := cb.TxOut[len(cb.TxOut)-1]
		if out.PkScript, err = withSignetPush(out.PkScript, signetPush(nil, nil)); err != nil {
			return fmt.Errorf("assemble: %w", err)
		}
	}
	var legacy bytes.Buffer
	if err := cb.SerializeNoWitness(&legacy); err != nil {
		return fmt.Errorf("assemble: serialize coinbase: %w", err)
	}
	raw := legacy.Bytes()
	a.Coinb1 = append([]byte(nil), raw[:prefix]...)
	a.Coinb2 = append([]byte(nil), raw[prefix+Extranonce1Size+en2:]...)
	a.Branch = merkleBranch(txs)
	return nil
}

func (a *Assembly) drop(dropped map[chainhash.Hash]bool, txid chainhash.Hash, reason string) {
	dropped[txid] = true
	a.Dropped = append(a.Dropped, Dropped{Txid: txid, Reason: reason})
}

// coinbaseTemplate builds the coinbase with a zero extranonce and returns it with the
// offset of the extranonce in its legacy serialization. The script is
// <height> <push of extranonce1‖extranonce2> <push of tag>: BIP 34 first, and every
// part a proper push so explorers can read it.
func coinbaseTemplate(height int32, en2 int, tag []byte, value int64, payout []byte) (*wire.MsgTx, int, error) {
	heightPush, err := txscript.NewScriptBuilder().AddInt64(int64(height)).Script()
	if err != nil {
		return nil, 0, fmt.Errorf("assemble: height script: %w", err)
	}
	enLen := Extranonce1Size + en2
	script := append([]byte(nil), heightPush...)
	script = append(script, byte(enLen)) // OP_DATA_n for n <= 75
	script = append(script, make([]byte, enLen)...)
	if len(tag) > 0 {
		script = append(script, byte(len(tag)))
		script = append(script, tag...)
	}
	if len(script) > blockchain.MaxCoinbaseScriptLen {
		return nil, 0, fmt.Errorf("assemble: coinbase script of %d bytes is too long", len(script))
	}
	tx := wire.NewMsgTx(1)
	tx.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex},
		SignatureScript:  script,
		Sequence:         wire.MaxTxInSequenceNum,
	})
	tx.AddTxOut(wire.NewTxOut(value, payout))
	// version(4) ‖ input count(1) ‖ outpoint(36) ‖ script length ‖ height push ‖ push opcode
	prefix := 4 + 1 + 36 + wire.VarIntSerializeSize(uint64(len(script))) + len(heightPush) + 1
	return tx, prefix, nil
}

// merkleBranch returns the hashes that, folded into the coinbase txid from the left,
// give the merkle root: at each level of btcd's merkle tree store, the sibling of the
// leftmost node.
func merkleBranch(txs []*btcutil.Tx) []chainhash.Hash {
	store := blockchain.BuildMerkleTreeStore(txs, false)
	var branch []chainhash.Hash
	offset := 0
	for width := len(store)/2 + 1; width > 1; width /= 2 {
		sib := store[offset+1]
		if sib == nil {
			sib = store[offset]
		}
		branch = append(branch, *sib)
		offset += width
	}
	return branch
}

// MerkleRootFromBranch folds branch into the coinbase txid from the left.
func MerkleRootFromBranch(coinbaseTxid chainhash.Hash, branch []chainhash.Hash) chainhash.Hash {
	acc := coinbaseTxid
	for i := range branch {
		acc = blockchain.HashMerkleBranches(&acc, &branch[i])
	}
	return acc
}

// CoinbaseLegacy returns the coinbase in legacy serialization for the extranonces.
//
// On a signet with a key (Template.SignetKey) the block solution in it is signed for
// the extranonces and the template's version, previous block and time: such a block
// is valid only with exactly that version and time in its header, and only its nonce
// may be ground. Signatures are deterministic, so the same extranonces always give the
// same coinbase. Should signing fail, the coinbase keeps the empty solution (and the
// node refuses the block).
func (a *Assembly) CoinbaseLegacy(en1, en2 []byte) []byte {
	b := make([]byte, 0, len(a.Coinb1)+len(en1)+len(en2)+len(a.Coinb2))
	b = append(b, a.Coinb1...)
	b = append(b, en1...)
	b = append(b, en2...)
	b = append(b, a.Coinb2...)
	if a.signetKey == nil {
		return b
	}
	signed, err := a.signCoinbase(b)
	if err != nil {
		return b
	}
	return signed
}

// signCoinbase returns the legacy coinbase raw with the block solution for a's key.
func (a *Assembly) signCoinbase(raw []byte) ([]byte, error) {
	cb := new(wire.MsgTx)
	if err := cb.DeserializeNoWitness(bytes.NewReader(raw)); err != nil {
		return nil, err
	}
	t := a.Template
	blk := &wire.MsgBlock{
		Header:       wire.BlockHeader{Version: t.Version, PrevBlock: t.PrevHash, Timestamp: t.CurTime, Bits: t.Bits},
		Transactions: append([]*wire.MsgTx{cb}, a.Txs...),
	}
	if err := SignSignetBlock(blk, a.signetKey); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := blk.Transactions[0].SerializeNoWitness(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// MerkleRoot is the block's merkle root for the extranonces.
func (a *Assembly) MerkleRoot(en1, en2 []byte) chainhash.Hash {
	return MerkleRootFromBranch(chainhash.DoubleHashH(a.CoinbaseLegacy(en1, en2)), a.Branch)
}

// Header renders the block header for the extranonces, version, time and nonce.
func (a *Assembly) Header(en1, en2 []byte, version int32, ntime, nonce uint32) wire.BlockHeader {
	return wire.BlockHeader{
		Version:    version,
		PrevBlock:  a.Template.PrevHash,
		MerkleRoot: a.MerkleRoot(en1, en2),
		Timestamp:  time.Unix(int64(ntime), 0),
		Bits:       a.Template.Bits,
		Nonce:      nonce,
	}
}

// Coinbase returns the full coinbase transaction for the extranonces, with the
// witness reserved value when the block carries a witness commitment.
func (a *Assembly) Coinbase(en1, en2 []byte) (*wire.MsgTx, error) {
	if len(en1) != Extranonce1Size || len(en2) != a.Extranonce2Size {
		return nil, fmt.Errorf("extranonce sizes %d+%d, want %d+%d", len(en1), len(en2), Extranonce1Size, a.Extranonce2Size)
	}
	tx := new(wire.MsgTx)
	if err := tx.DeserializeNoWitness(bytes.NewReader(a.CoinbaseLegacy(en1, en2))); err != nil {
		return nil, fmt.Errorf("coinbase: %w", err)
	}
	if a.Witness {
		tx.TxIn[0].Witness = wire.TxWitness{make([]byte, blockchain.CoinbaseWitnessDataLen)}
	}
	return tx, nil
}

// Block returns the full block for the extranonces and a solved header.
func (a *Assembly) Block(en1, en2 []byte, header wire.BlockHeader) (*wire.MsgBlock, error) {
	cb, err := a.Coinbase(en1, en2)
	if err != nil {
		return nil, err
	}
	b := &wire.MsgBlock{Header: header, Transactions: make([]*wire.MsgTx, 0, len(a.Txs)+1)}
	b.Transactions = append(b.Transactions, cb)
	b.Transactions = append(b.Transactions, a.Txs...)
	return b, nil
}
