package api_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/proofow/powbroker/chain/standard"
)

// anchoredTx returns a zero-fee transaction of the given version spending a freshly
// mined P2SH(OP_TRUE) output to another such output, with a 0-value P2A output when
// anchor is set.
func (e *env) anchoredTx(version int32, anchor bool) string {
	e.t.Helper()
	redeem := []byte{txscript.OP_TRUE}
	addr, err := btcutil.NewAddressScriptHash(redeem, e.chain.Params())
	if err != nil {
		e.t.Fatal(err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		e.t.Fatal(err)
	}
	fund, err := e.chain.FaucetTo(e.ctx(), script, 1e6, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	tip, err := e.chain.Tip(e.ctx())
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.chain.GenerateOn(e.ctx(), tip.Hash, 1, []*wire.MsgTx{fund}); err != nil {
		e.t.Fatal(err)
	}
	vout := uint32(0)
	for i, o := range fund.TxOut {
		if bytes.Equal(o.PkScript, script) {
			vout = uint32(i)
		}
	}
	sig, err := txscript.NewScriptBuilder().AddData(redeem).Script()
	if err != nil {
		e.t.Fatal(err)
	}
	tx := wire.NewMsgTx(version)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: fund.TxHash(), Index: vout}, sig, nil))
	tx.AddTxOut(wire.NewTxOut(1e6, script))
	if anchor {
		tx.AddTxOut(wire.NewTxOut(0, standard.PayToAnchorScript()))
	}
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		e.t.Fatal(err)
	}
	return hex.EncodeToString(buf.Bytes())
}

// TestSettleable checks the settlement section of quotes and orders: a zero-fee v3
// transaction with a P2A output is settleable with a fee cap of required work ×
// sats_per_work_unit; a v2 one, one without an anchor, or a broker with no budget is
// not, each with its reason.
func TestSettleable(t *testing.T) {
	const perUnit = 2e6
	cfg := testConfig()
	cfg.SatsPerWorkUnit = perUnit
	e := newEnv(t, cfg)
	cases := []struct {
		name       string
		version    int32
		anchor     bool
		settleable bool
		reason     string
	}{
		{"v3 with anchor", 3, true, true, "pay-to-anchor output (output 1)"},
		{"v2 with anchor", 2, true, false, "version 2, not 3"},
		{"v3 without anchor", 3, false, false, "no pay-to-anchor output"},
	}
	for _, c := range cases {
		txHex := e.anchoredTx(c.version, c.anchor)
		q, err := e.client.Quote(e.ctx(), txHex)
		if err != nil {
			t.Fatalf("%s: quote: %v", c.name, err)
		}
		s := q.Settlement
		if s == nil || s.Settleable != c.settleable || !strings.Contains(s.Reason, c.reason) {
			t.Fatalf("%s: quote settlement %+v, want settleable=%v with %q", c.name, s, c.settleable, c.reason)
		}
		if want := int64(perUnit * q.RequiredWork); s.MaxFeeSats != want || want < 1 {
			t.Errorf("%s: max_fee_sats %d, want %d", c.name, s.MaxFeeSats, want)
		}
		if c.anchor != (s.AnchorVout != nil) || (c.anchor && *s.AnchorVout != 1) {
			t.Errorf("%s: anchor_vout %v", c.name, s.AnchorVout)
		}
		if !c.settleable {
			continue
		}
		r, err := e.client.CreateOrder(e.ctx(), txHex, "")
		if err != nil {
			t.Fatalf("%s: order: %v", c.name, err)
		}
		o, err := e.client.Order(e.ctx(), r.ID, r.Token)
		if err != nil {
			t.Fatal(err)
		}
		if os := o.Settlement; os == nil || os.Settleable != s.Settleable || os.MaxFeeSats != s.MaxFeeSats || os.Reason != s.Reason {
			t.Errorf("%s: order settlement %+v, quote's %+v", c.name, o.Settlement, s)
		}
	}

	// With the default budget of 0 nothing is settleable.
	e0 := newEnv(t, testConfig())
	q, err := e0.client.Quote(e0.ctx(), e0.anchoredTx(3, true))
	if err != nil {
		t.Fatal(err)
	}
	if q.Settlement.Settleable || q.Settlement.MaxFeeSats != 0 || !strings.Contains(q.Settlement.Reason, "sats_per_work_unit is 0") {
		t.Errorf("no budget: %+v", q.Settlement)
	}
}
