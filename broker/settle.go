package broker

import (
	"fmt"
	"math"

	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain/standard"
)

// Settlement says whether an order's transaction can be settled by fee: the broker
// attaching a child that spends the transaction's pay-to-anchor output and pays for
// both (a TRUC package, BIP 431/433), and at most how much the broker would spend on
// it. (The broker does not build or send that child yet; this is what qualifies.)
type Settlement struct {
	Settleable bool
	// Reason says why or why not, in words.
	Reason string
	// AnchorVout is the output a child would spend; -1 when there is none.
	AnchorVout int
	// MaxFeeSats is the most the broker would pay for the package: the order's
	// required work × Config.SatsPerWorkUnit, rounded down.
	MaxFeeSats int64
}

// settlementOf decides Settlement for tx priced at requiredWork.
func (b *Broker) settlementOf(tx *wire.MsgTx, requiredWork float64) Settlement {
	s := Settlement{AnchorVout: -1}
	for i, out := range tx.TxOut {
		if standard.IsPayToAnchor(out.PkScript) {
			s.AnchorVout = i
			break
		}
	}
	s.MaxFeeSats = int64(math.Floor(b.cfg.SatsPerWorkUnit * requiredWork))
	switch {
	case tx.Version != standard.TRUCVersion:
		s.Reason = fmt.Sprintf("the transaction is version %d, not 3 (TRUC): Bitcoin Core relays a parent that a child pays for only as a TRUC package", tx.Version)
	case s.AnchorVout < 0:
		s.Reason = "the transaction has no pay-to-anchor output (script 51024e73) for a child to spend"
	case b.cfg.SatsPerWorkUnit == 0:
		s.Reason = "the broker spends nothing on settlement (sats_per_work_unit is 0)"
	case s.MaxFeeSats < 1:
		s.Reason = fmt.Sprintf("the order's work is worth %.3g sat at %g sat per work unit, less than 1 sat", b.cfg.SatsPerWorkUnit*requiredWork, b.cfg.SatsPerWorkUnit)
	default:
		s.Settleable = true
		s.Reason = fmt.Sprintf("a version-3 transaction with a pay-to-anchor output (output %d): a child spending it may pay up to %d sat for the package", s.AnchorVout, s.MaxFeeSats)
	}
	return s
}

// orderSettlement decodes the order's stored transaction for settlementOf.
func (b *Broker) orderSettlement(o *Order) Settlement {
	tx, err := decodeTx(o.RawTx)
	if err != nil {
		return Settlement{AnchorVout: -1, Reason: "the stored transaction does not decode: " + err.Error()}
	}
	return b.settlementOf(tx, o.RequiredWork)
}
