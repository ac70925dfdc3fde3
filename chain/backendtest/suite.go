package backendtest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
)

// Driver is what the suite needs from a backend besides chain.Backend.
type Driver interface {
	// Backend is the backend under test, on a regtest chain.
	Backend() chain.Backend
	// Mine mines n blocks on the tip with the node's own means (not through
	// SubmitBlock), the coinbase's first output paying payout, and returns their
	// hashes. The node may include its mempool's transactions.
	Mine(t testing.TB, n int, payout btcutil.Address) []chainhash.Hash
	// MempoolAdd puts tx, which pays a relay fee, into the node's mempool.
	MempoolAdd(t testing.TB, tx *wire.MsgTx)
	// SegwitHeight is the height from which the chain has segwit active (432 on
	// btcd's regtest, 0 on Core's).
	SegwitHeight() int32
	// Lacks names the behaviours (the suite's names) the backend cannot show, each
	// with the reason.
	Lacks() map[string]string
}

// Behaviour is one entry of the suite's table.
type Behaviour struct {
	Name string
	Run  func(t *testing.T, f *Fixture)
}

// Behaviours is the suite's table, in the order Run runs it.
func Behaviours() []Behaviour {
	return []Behaviour{
		{"tip", testTip},
		{"template-node-txs", testTemplateNodeTxs},
		{"checktx-conflict", testCheckConflict},
		{"checktx-valid", testCheckValid},
		{"checktx-missing", testCheckMissing},
		{"checktx-bad-script", testCheckBadScript},
		{"checktx-immature", testCheckImmature},
		{"checktx-not-final", testCheckNotFinal},
		{"propose-valid", testProposeValid},
		{"propose-invalid", testProposeInvalid},
		{"submit-accepted", testSubmitAccepted},
		{"checktx-already-mined", testCheckAlreadyMined},
		{"checktx-spent", testCheckSpent},
		{"block", testBlock},
		{"txstatus", testTxStatus},
		{"submit-rejected", testSubmitRejected},
		{"submit-stale", testSubmitStale},
		{"tips-reorg", testTipsReorg},
	}
}

// Fixture is the state the behaviours share: the driver, the suite's key, and the
// blocks and transactions earlier behaviours made.
type Fixture struct {
	D       Driver
	B       chain.Backend
	Params  *chaincfg.Params
	priv    *btcec.PrivateKey
	Addr    btcutil.Address
	Script  []byte
	coins   []*wire.MsgTx // mature coinbases paying the key, oldest first, not yet used
	recent  *wire.MsgTx   // an immature coinbase paying the key
	tips    <-chan chain.TipEvent
	mined   *wire.MsgTx    // a zero-fee spend mined by submit-accepted
	minedIn chainhash.Hash // its block
	pooled  *wire.MsgTx    // the fee-paying transaction in the node's mempool
}

// Run runs every behaviour against the driver's backend, in order.
func Run(t *testing.T, name string, d Driver) {
	f := setup(t, d)
	lacks := d.Lacks()
	var shown, notShown []string
	for _, b := range Behaviours() {
		if why, ok := lacks[b.Name]; ok {
			notShown = append(notShown, b.Name+" ("+why+")")
			t.Run(b.Name, func(t *testing.T) { t.Skipf("%s cannot show %s: %s", name, b.Name, why) })
			continue
		}
		ok := t.Run(b.Name, func(t *testing.T) { b.Run(t, f) })
		if ok {
			shown = append(shown, b.Name)
		}
	}
	for n := range lacks {
		if !knownBehaviour(n) {
			t.Errorf("driver %s lacks %q, which is not a behaviour of the suite", name, n)
		}
	}
	sort.Strings(notShown)
	t.Logf("backendtest %s: %d behaviours shown (%s); not shown: %s", name, len(shown), strings.Join(shown, ", "), orNone(notShown))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "; ")
}

func knownBehaviour(name string) bool {
	for _, b := range Behaviours() {
		if b.Name == name {
			return true
		}
	}
	return false
}

func suiteKey() *btcec.PrivateKey {
	priv, _ := btcec.PrivKeyFromBytes(chainhash.HashB([]byte("backendtest key")))
	return priv
}

// Address is the P2WPKH address of the suite's key on the network of params: a driver
// whose node mines to a fixed address (btcd's --miningaddr) starts it with this one.
func Address(params *chaincfg.Params) btcutil.Address {
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(suiteKey().PubKey().SerializeCompressed()), params)
	if err != nil {
		panic(err) // a 20-byte hash is always a valid witness program
	}
	return addr
}

func setup(t *testing.T, d Driver) *Fixture {
	t.Helper()
	b := d.Backend()
	f := &Fixture{D: d, B: b, Params: b.Params(), priv: suiteKey(), Addr: Address(b.Params())}
	addr := f.Addr
	var err error
	if f.Script, err = txscript.PayToAddrScript(addr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.tips = b.Tips(ctx)
	// Coins: 12 coinbases paying the key, matured by 100 more blocks, after segwit.
	tip := f.tip(t)
	if pre := d.SegwitHeight() - tip.Height; pre > 0 {
		d.Mine(t, int(pre), addr)
	}
	for _, h := range d.Mine(t, 12, addr) {
		f.coins = append(f.coins, f.block(t, h).Transactions[0])
	}
	hashes := d.Mine(t, 100, addr)
	f.recent = f.block(t, hashes[len(hashes)-1]).Transactions[0]
	return f
}

func (f *Fixture) tip(t testing.TB) chain.Tip {
	t.Helper()
	tip, err := f.B.Tip(context.Background())
	if err != nil {
		t.Fatalf("Tip: %v", err)
	}
	return tip
}

func (f *Fixture) block(t testing.TB, h chainhash.Hash) *wire.MsgBlock {
	t.Helper()
	b, _, err := f.B.Block(context.Background(), h)
	if err != nil {
		t.Fatalf("Block %s: %v", h, err)
	}
	return b
}

// coin takes the next unused mature coinbase.
func (f *Fixture) coin(t testing.TB) *wire.MsgTx {
	t.Helper()
	if len(f.coins) == 0 {
		t.Fatal("backendtest: out of coins")
	}
	c := f.coins[0]
	f.coins = f.coins[1:]
	return c
}

// spend builds a version 2 transaction spending output 0 of prev to the key with fee,
// with lockTime and sequence, signed.
func (f *Fixture) spend(t testing.TB, prev *wire.MsgTx, fee int64, lockTime, sequence uint32) *wire.MsgTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	tx.LockTime = lockTime
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: prev.TxHash(), Index: 0}, Sequence: sequence})
	tx.AddTxOut(wire.NewTxOut(prev.TxOut[0].Value-fee, f.Script))
	f.sign(t, tx, prev.TxOut[0])
	return tx
}

func (f *Fixture) sign(t testing.TB, tx *wire.MsgTx, prevOut *wire.TxOut) {
	t.Helper()
	fetcher := txscript.NewCannedPrevOutputFetcher(prevOut.PkScript, prevOut.Value)
	w, err := txscript.WitnessSignature(tx, txscript.NewTxSigHashes(tx, fetcher), 0, prevOut.Value, prevOut.PkScript, txscript.SigHashAll, f.priv, true)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].Witness = w
}

func (f *Fixture) zeroFee(t testing.TB) *wire.MsgTx {
	return f.spend(t, f.coin(t), 0, 0, wire.MaxTxInSequenceNum)
}

func (f *Fixture) checkReason(t *testing.T, tx *wire.MsgTx, want chain.TxReason) {
	t.Helper()
	_, err := f.B.CheckTx(context.Background(), tx, nil)
	var te *chain.TxError
	if !errors.As(err, &te) || te.Reason != want {
		t.Fatalf("CheckTx: %v, want a %s rejection", err, want)
	}
}

func (f *Fixture) template(t testing.TB) *chain.Template {
	t.Helper()
	tmpl, err := f.B.Template(context.Background())
	if err != nil {
		t.Fatalf("Template: %v", err)
	}
	return tmpl
}

func templateTx(tx *wire.MsgTx) chain.TemplateTx {
	return chain.TemplateTx{Tx: tx, Weight: blockchain.GetTransactionWeight(btcutil.NewTx(tx)), SigOpCost: 1}
}

// assemble builds a block on tmpl holding extra after the template's transactions,
// with a zero nonce.
func (f *Fixture) assemble(t testing.TB, tmpl *chain.Template, tag string, extra ...*wire.MsgTx) *wire.MsgBlock {
	t.Helper()
	ttx := make([]chain.TemplateTx, len(extra))
	for i, tx := range extra {
		ttx[i] = templateTx(tx)
	}
	a, err := chain.Assemble(chain.AssembleSpec{Template: tmpl, Extra: ttx, PayoutScript: f.Script, Tag: []byte(tag)})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Dropped) > 0 {
		t.Fatalf("assemble dropped %v", a.Dropped)
	}
	en1 := []byte{1, 2, 3, 4}
	en2 := make([]byte, a.Extranonce2Size)
	b, err := a.Block(en1, en2, a.Header(en1, en2, tmpl.Version, uint32(tmpl.CurTime.Unix()), 0))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// on returns a template for a block on parent (at parentHeight), without the node's
// transactions: for blocks off the tip.
func (f *Fixture) on(t testing.TB, parent chainhash.Hash, parentHeight int32) *chain.Template {
	t.Helper()
	tmpl := *f.template(t)
	tmpl.PrevHash = parent
	tmpl.Height = parentHeight + 1
	tmpl.Transactions = nil
	tmpl.CoinbaseValue = blockchain.CalcBlockSubsidy(tmpl.Height, f.Params)
	tmpl.SegwitActive = true
	return &tmpl
}

// solve finds a nonce meeting the block's target (regtest: about two tries).
func solve(t testing.TB, b *wire.MsgBlock) {
	t.Helper()
	target := blockchain.CompactToBig(b.Header.Bits)
	for nonce := uint32(0); nonce < 1<<22; nonce++ {
		b.Header.Nonce = nonce
		h := b.Header.BlockHash()
		if blockchain.HashToBig(&h).Cmp(target) <= 0 {
			return
		}
	}
	t.Fatal("no nonce found")
}

// nextTip waits for a Tips event whose tip is want and returns the events seen.
func (f *Fixture) nextTip(t testing.TB, want chainhash.Hash) []chain.TipEvent {
	t.Helper()
	var evs []chain.TipEvent
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev := <-f.tips:
			evs = append(evs, ev)
			if ev.Tip.Hash == want {
				return evs
			}
		case <-timeout:
			t.Fatalf("no Tips event for %s within 15 s (saw %d events)", want, len(evs))
		}
	}
}

func describe(err error) string {
	if err == nil {
		return "nil"
	}
	return fmt.Sprintf("%T: %v", err, err)
}
