package standard

import (
	"bytes"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/mempool"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Policy constants, Bitcoin Core v30's.
const (
	// TRUCVersion is the transaction version that opts into TRUC relay (BIP 431).
	TRUCVersion = 3
	// MaxTxVersion is the highest standard transaction version.
	MaxTxVersion = TRUCVersion
	// MaxTRUCVSize is the most virtual bytes a TRUC transaction may have.
	MaxTRUCVSize = 10000
	// MaxTRUCChildVSize is the most virtual bytes a TRUC child of an unconfirmed TRUC
	// parent may have.
	MaxTRUCChildVSize = 1000
	// P2ADustThreshold is Core's dust threshold of a P2A output at its dust relay feerate
	// of 3 sat/vB: (13-byte output + 67-byte witness input) × 3.
	P2ADustThreshold = 240
)

// payToAnchor is the P2A output script: OP_1 PUSH2 0x4e73, witness v1 program 4e73.
var payToAnchor = []byte{txscript.OP_1, txscript.OP_DATA_2, 0x4e, 0x73}

// PayToAnchorScript returns a new copy of the P2A output script.
func PayToAnchorScript() []byte { return bytes.Clone(payToAnchor) }

// IsPayToAnchor reports whether script is exactly the P2A output script.
func IsPayToAnchor(script []byte) bool { return bytes.Equal(script, payToAnchor) }

// CheckTx applies the standardness policy that needs no inputs: version 1 to 3, a
// TRUC transaction at most MaxTRUCVSize, and btcd's policy (finality, size, input
// scripts, output forms, dust) for everything else, with P2A outputs standard and at
// most one dust output among them. The error is btcd's mempool.TxRuleError or one
// worded the same way.
func CheckTx(tx *btcutil.Tx, nextHeight int32, mtp time.Time) error {
	msg := tx.MsgTx()
	if msg.Version == TRUCVersion {
		if vs := mempool.GetTxVirtualSize(tx); vs > MaxTRUCVSize {
			return fmt.Errorf("version-3 (TRUC) transaction is %d vB, above the TRUC limit of %d vB", vs, MaxTRUCVSize)
		}
	}
	// btcd's policy sees the transaction without its P2A outputs, which it would call
	// non-standard (an unknown witness program) or dust; they are checked here.
	rest := msg
	dust := 0
	for i, out := range msg.TxOut {
		if !IsPayToAnchor(out.PkScript) {
			continue
		}
		if out.Value < P2ADustThreshold {
			dust++
			if dust > 1 {
				return fmt.Errorf("transaction output %d: a second dust pay-to-anchor output (%d sat); at most one is allowed", i, out.Value)
			}
		}
		if rest == msg {
			rest = msg.Copy()
			rest.TxOut = nil
			for _, o := range msg.TxOut {
				if !IsPayToAnchor(o.PkScript) {
					rest.TxOut = append(rest.TxOut, o)
				}
			}
		}
	}
	return mempool.CheckTransactionStandard(btcutil.NewTx(rest), nextHeight, mtp, mempool.DefaultMinRelayTxFee, MaxTxVersion)
}

// CheckDust applies the ephemeral dust rule once the fee is known: a transaction with
// a dust P2A output must pay no fee (Core 29+), since its child must spend the dust.
func CheckDust(msg *wire.MsgTx, fee int64) error {
	for i, out := range msg.TxOut {
		if IsPayToAnchor(out.PkScript) && out.Value < P2ADustThreshold && fee != 0 {
			return fmt.Errorf("transaction output %d: dust pay-to-anchor output (%d sat) on a transaction paying a fee of %d sat; ephemeral dust needs a zero fee", i, out.Value, fee)
		}
	}
	return nil
}

// AnchorInputs reports which inputs of msg spend a P2A output (nil when none does),
// whose spent outputs prevOut gives. The error names a P2A input with a scriptSig or
// a witness (Core's policy wants both empty), or another input spending an unknown
// witness program, which is not standard.
func AnchorInputs(msg *wire.MsgTx, prevOut txscript.PrevOutputFetcher) ([]bool, error) {
	var anchors []bool
	for i, in := range msg.TxIn {
		if out := prevOut.FetchPrevOutput(in.PreviousOutPoint); out != nil && IsPayToAnchor(out.PkScript) {
			if anchors == nil {
				anchors = make([]bool, len(msg.TxIn))
			}
			anchors[i] = true
		}
	}
	if anchors == nil {
		return nil, nil
	}
	for i, in := range msg.TxIn {
		out := prevOut.FetchPrevOutput(in.PreviousOutPoint)
		switch {
		case anchors[i]:
			if err := checkAnchorSpend(msg, i); err != nil {
				return anchors, err
			}
		case out != nil && unknownWitnessProgram(out.PkScript):
			return anchors, fmt.Errorf("input %d spends an output with an unknown witness program version, which is not standard", i)
		}
	}
	return anchors, nil
}

// VerifyScripts runs the script of every input of msg with btcd's standard flags,
// except the inputs marked in anchors: a P2A output is spendable by anyone by consensus
// (an unknown witness version), but btcd's engine refuses such a spend under its
// clean-stack and upgradeable-program policy flags, which Core does not apply to P2A.
// It returns the index of the first failing input and the engine's error.
func VerifyScripts(msg *wire.MsgTx, prevOut txscript.PrevOutputFetcher, anchors []bool, sigCache *txscript.SigCache) (int, error) {
	hashes := txscript.NewTxSigHashes(msg, prevOut)
	for i, in := range msg.TxIn {
		if anchors != nil && anchors[i] {
			continue
		}
		out := prevOut.FetchPrevOutput(in.PreviousOutPoint)
		if out == nil {
			return i, fmt.Errorf("input %d: the spent output %v is unknown", i, in.PreviousOutPoint)
		}
		vm, err := txscript.NewEngine(out.PkScript, msg, i, txscript.StandardVerifyFlags, sigCache, hashes, out.Value, prevOut)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return i, err
		}
	}
	return -1, nil
}

// unknownWitnessProgram reports a witness program that is neither v0 (20 or 32 bytes)
// nor v1 taproot (32 bytes).
func unknownWitnessProgram(script []byte) bool {
	if !txscript.IsWitnessProgram(script) {
		return false
	}
	version, program, err := txscript.ExtractWitnessProgramInfo(script)
	if err != nil {
		return false
	}
	switch {
	case version == 0 && (len(program) == 20 || len(program) == 32):
		return false
	case version == 1 && len(program) == 32:
		return false
	}
	return true
}

// checkAnchorSpend checks input i of msg, which spends a P2A output: an empty scriptSig
// and an empty witness, as Core's policy requires.
func checkAnchorSpend(msg *wire.MsgTx, i int) error {
	in := msg.TxIn[i]
	if len(in.SignatureScript) != 0 || len(in.Witness) != 0 {
		return fmt.Errorf("input %d spends a pay-to-anchor output, which needs an empty scriptSig and an empty witness (has %d scriptSig bytes, %d witness items)",
			i, len(in.SignatureScript), len(in.Witness))
	}
	return nil
}
