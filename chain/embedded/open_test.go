package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/database"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/proofow/powbroker/chain"
)

func TestParams(t *testing.T) {
	regGenesis := *chaincfg.RegressionNetParams.GenesisHash
	tests := []struct {
		name      string
		net       string
		bits      uint32
		wantErr   string
		wantName  string
		wantNet   wire.BitcoinNet
		wantBits  uint32
		maturity  uint16
		regGenese bool // genesis hash equals regtest's
	}{
		{name: "regtest", net: "regtest", wantName: "regtest", wantNet: wire.TestNet, wantBits: 0x207fffff, maturity: 100, regGenese: true},
		{name: "regtest ignores bits", net: "regtest", bits: 0x1d00ffff, wantName: "regtest", wantNet: wire.TestNet, wantBits: 0x207fffff, maturity: 100, regGenese: true},
		{name: "private default bits", net: "private", wantName: "private", wantNet: PrivateNetMagic, wantBits: 0x1d3fffff, maturity: 1},
		{name: "private easy bits", net: "private", bits: 0x1f00ffff, wantName: "private", wantNet: PrivateNetMagic, wantBits: 0x1f00ffff, maturity: 1},
		{name: "private regtest bits", net: "private", bits: 0x207fffff, wantName: "private", wantNet: PrivateNetMagic, wantBits: 0x207fffff, maturity: 1},
		{name: "private easier than regtest", net: "private", bits: 0x2100ffff, wantErr: "easier than regtest"},
		{name: "private zero target", net: "private", bits: 0x1d000000, wantErr: "not positive"},
		{name: "private negative target", net: "private", bits: 0x1d800001, wantErr: "not positive"},
		{name: "private non-canonical", net: "private", bits: 0x1e0000ff, wantErr: "canonical"},
		{name: "unknown net", net: "mainnet", wantErr: "unknown network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Params(tt.net, tt.bits)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.wantName || p.Net != tt.wantNet || p.PowLimitBits != tt.wantBits || p.CoinbaseMaturity != tt.maturity {
				t.Errorf("got name %s net %x bits %08x maturity %d", p.Name, uint32(p.Net), p.PowLimitBits, p.CoinbaseMaturity)
			}
			wantLimit := blockchain.CompactToBig(tt.wantBits)
			if tt.net == "regtest" {
				wantLimit = chaincfg.RegressionNetParams.PowLimit
			}
			if p.PowLimit.Cmp(wantLimit) != 0 || !p.PoWNoRetargeting {
				t.Errorf("pow limit %x retarget off %v", p.PowLimit, p.PoWNoRetargeting)
			}
			if got := p.GenesisBlock.BlockHash(); got != *p.GenesisHash {
				t.Errorf("genesis hash %s, block hashes to %s", p.GenesisHash, got)
			}
			if (*p.GenesisHash == regGenesis) != tt.regGenese {
				t.Errorf("genesis %s vs regtest %s", p.GenesisHash, regGenesis)
			}
			if p == &chaincfg.RegressionNetParams || p.PowLimit == chaincfg.RegressionNetParams.PowLimit ||
				p.Deployments[chaincfg.DeploymentSegwit].DeploymentStarter == chaincfg.RegressionNetParams.Deployments[chaincfg.DeploymentSegwit].DeploymentStarter {
				t.Error("parameters share state with chaincfg.RegressionNetParams")
			}
		})
	}
	// The globals are untouched.
	if chaincfg.RegressionNetParams.PowLimitBits != 0x207fffff || chaincfg.RegressionNetParams.CoinbaseMaturity != 100 ||
		chaincfg.RegressionNetParams.Name != "regtest" {
		t.Fatal("chaincfg.RegressionNetParams was modified")
	}
}

// TestPrivateParamsDefaultBits checks with btcd's own validation, without mining, that
// the default private parameters give a chain whose next block needs 0x1d3fffff, whose
// template passes CheckConnectBlockTemplate, and that refuses regtest's easier bits.
func TestPrivateParamsDefaultBits(t *testing.T) {
	p, err := Params("private", 0)
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Create("ffldb", filepath.Join(t.TempDir(), "db"), p.Net)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bc, err := blockchain.New(&blockchain.Config{DB: db, ChainParams: p, TimeSource: blockchain.NewMedianTime(),
		SigCache: txscript.NewSigCache(100), HashCache: txscript.NewHashCache(100)})
	if err != nil {
		t.Fatal(err)
	}
	if bits, err := bc.CalcNextRequiredDifficulty(time.Now()); err != nil || bits != 0x1d3fffff {
		t.Fatalf("next bits %08x, %v", bits, err)
	}
	if e := chain.ExpectedHashes(p.PowLimit); e < 6e7 || e > 7e7 {
		t.Fatalf("expected hashes per block %g, want about 2^26", e)
	}
	mk := func(bits uint32) *btcutil.Block {
		c := &Chain{params: p}
		best := bc.BestSnapshot()
		b, err := c.buildBlock(wire.BlockHeader{Version: 4, PrevBlock: best.Hash, Timestamp: time.Unix(best.MedianTime.Unix()+1, 0), Bits: bits},
			1, nil, []*wire.TxOut{wire.NewTxOut(blockchain.CalcBlockSubsidy(1, p), []byte{txscript.OP_TRUE})})
		if err != nil {
			t.Fatal(err)
		}
		return btcutil.NewBlock(b)
	}
	if err := bc.CheckConnectBlockTemplate(mk(0x1d3fffff)); err != nil {
		t.Fatalf("block with the private bits: %v", err)
	}
	if err := bc.CheckConnectBlockTemplate(mk(0x207fffff)); err == nil {
		t.Fatal("block with regtest's bits passed")
	}
	_, _, err = bc.ProcessBlock(mk(0x207fffff), blockchain.BFNone)
	if err == nil || !strings.Contains(err.Error(), "higher than max") {
		t.Fatalf("ProcessBlock with regtest bits: %v", err)
	}
}

func TestOpenReopenRegtest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	start := time.Now()
	c, err := Open(ctx, Config{DataDir: dir, Net: "regtest", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fresh regtest Open: %v", time.Since(start).Round(time.Millisecond))
	tip := mustTip(t, c)
	if tip.Height != 101 || tip.Bits != 0x207fffff {
		t.Fatalf("fresh tip height %d bits %08x, want 101 and 207fffff", tip.Height, tip.Bits)
	}
	// Block 1 pays the subsidy to the faucet in faucetSplit equal outputs.
	b1hash, err := c.bc.BlockHashByHeight(1)
	if err != nil {
		t.Fatal(err)
	}
	b1, h1, err := c.Block(ctx, *b1hash)
	if err != nil || h1 != 1 {
		t.Fatalf("Block(1): height %d, %v", h1, err)
	}
	cb := b1.Transactions[0]
	if len(cb.TxOut) != faucetSplit {
		t.Fatalf("block 1 coinbase has %d outputs", len(cb.TxOut))
	}
	var sum int64
	for _, o := range cb.TxOut {
		if string(o.PkScript) != string(c.faucetScript) || o.Value != cb.TxOut[1].Value {
			t.Fatalf("block 1 output %v does not pay the faucet equally", o)
		}
		sum += o.Value
	}
	if sum != blockchain.CalcBlockSubsidy(1, c.params) {
		t.Fatalf("block 1 pays %d", sum)
	}
	total, avail, err := c.FaucetBalance(ctx)
	if err != nil || avail < sum || total <= avail {
		t.Fatalf("faucet balance total %d available %d (%v)", total, avail, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "regtest", "faucet.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("faucet key file: %v %v", fi, err)
	}
	addr := c.FaucetAddress().String()
	if _, err := c.Generate(ctx, 3, nil); err != nil {
		t.Fatal(err)
	}
	tip = mustTip(t, c)
	if tip.Height != 104 {
		t.Fatalf("height after Generate(3) = %d", tip.Height)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Tip(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Tip after Close: %v", err)
	}
	if _, err := c.Generate(ctx, 1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Generate after Close: %v", err)
	}
	if _, ok := <-c.Tips(ctx); ok {
		t.Fatal("Tips after Close delivered an event")
	}

	start = time.Now()
	c2 := openTest(t, dir, "regtest", 0)
	t.Logf("regtest reopen: %v", time.Since(start).Round(time.Millisecond))
	if got := mustTip(t, c2); got != tip {
		t.Fatalf("reopened tip %+v, want %+v", got, tip)
	}
	if c2.FaucetAddress().String() != addr {
		t.Fatalf("faucet address changed: %s vs %s", c2.FaucetAddress(), addr)
	}
	// The faucet still works after the restart, and the chain grows on.
	tx := mustFaucet(t, c2, 1e6, 0)
	if _, err := c2.CheckTx(ctx, tx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Generate(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	if got := mustTip(t, c2).Height; got != 105 {
		t.Fatalf("height %d", got)
	}
	// Opening the same directory twice at once fails cleanly.
	if c3, err := Open(ctx, Config{DataDir: dir, Net: "regtest"}); err == nil {
		c3.Close()
		t.Fatal("second Open of a directory in use succeeded")
	}
}

func TestPrivateNet(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := openTest(t, dir, "private", testBits)
	tip := mustTip(t, c)
	if tip.Height != 2 || tip.Bits != testBits {
		t.Fatalf("private tip height %d bits %08x", tip.Height, tip.Bits)
	}
	if c.Params().Net != PrivateNetMagic || c.Params().Name != "private" {
		t.Fatalf("params %s %x", c.Params().Name, uint32(c.Params().Net))
	}
	// Block 1's outputs are spendable in block 3 (maturity 1).
	tx := mustFaucet(t, c, 5e8, 0)
	if _, err := c.CheckTx(ctx, tx, nil); err != nil {
		t.Fatalf("faucet tx on the private net: %v", err)
	}
	tmpl, err := c.Template(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Bits != testBits || tmpl.Height != 3 {
		t.Fatalf("template bits %08x height %d", tmpl.Bits, tmpl.Height)
	}
	hs, err := c.GenerateOn(ctx, tip.Hash, 1, []*wire.MsgTx{tx})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.TxStatus(ctx, tx.TxHash(), chainhashZero); err != nil || !st.Confirmed || st.BlockHash != hs[0] {
		t.Fatalf("TxStatus %+v %v", st, err)
	}

	// A block carrying regtest's easier bits is refused by Propose and SubmitBlock.
	tip = mustTip(t, c)
	easy, err := c.buildBlock(wire.BlockHeader{Version: tmpl.Version, PrevBlock: tip.Hash, Timestamp: time.Unix(tip.MedianTime.Unix()+1, 0).Add(time.Minute), Bits: 0x207fffff},
		tip.Height+1, nil, []*wire.TxOut{wire.NewTxOut(blockchain.CalcBlockSubsidy(tip.Height+1, c.params), c.faucetScript)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.solve(ctx, &easy.Header, tip.Height+1); err != nil {
		t.Fatal(err)
	}
	var be *chain.BlockError
	if err := c.Propose(ctx, easy); !errors.As(err, &be) {
		t.Fatalf("Propose with regtest bits: %v", err)
	}
	if err := c.SubmitBlock(ctx, easy); !errors.As(err, &be) || !strings.Contains(be.Reason, "higher than max") {
		t.Fatalf("SubmitBlock with regtest bits: %v", err)
	}
	if got := mustTip(t, c); got.Hash != tip.Hash {
		t.Fatal("tip moved")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The same directory with another difficulty is another chain: refused.
	if c2, err := Open(ctx, Config{DataDir: dir, Net: "private", PrivateBits: 0x1f00fff0}); err == nil {
		c2.Close()
		t.Fatal("reopen with other bits succeeded")
	} else if !strings.Contains(err.Error(), "genesis") {
		t.Fatalf("reopen with other bits: %v", err)
	}
	// The same bits reopen at the same tip.
	c3 := openTest(t, dir, "private", testBits)
	if got := mustTip(t, c3); got.Hash != tip.Hash {
		t.Fatalf("reopened private tip %s, want %s", got.Hash, tip.Hash)
	}
}

// TestCrashRecovery closes the database without flushing the UTXO cache, as a killed
// process would leave it, and checks that the chain reopens at the same tip with a
// consistent UTXO set.
func TestCrashRecovery(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := Open(ctx, Config{DataDir: dir, Net: "regtest"})
	if err != nil {
		t.Fatal(err)
	}
	tx := mustFaucet(t, c, 1e6, 0)
	if _, err := c.GenerateOn(ctx, mustTip(t, c).Hash, 1, []*wire.MsgTx{tx}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(ctx, 5, nil); err != nil {
		t.Fatal(err)
	}
	tip := mustTip(t, c)
	// Crash: no FlushUtxoCache.
	c.cancel()
	c.mu.Lock()
	c.closed = true
	if err := c.db.Close(); err != nil {
		t.Fatal(err)
	}
	c.mu.Unlock()

	c2 := openTest(t, dir, "regtest", 0)
	if got := mustTip(t, c2); got != tip {
		t.Fatalf("tip after crash %+v, want %+v", got, tip)
	}
	again := c2.spend(t, []wire.OutPoint{tx.TxIn[0].PreviousOutPoint}, []*wire.TxOut{wire.NewTxOut(1000, c2.faucetScript)}, 0, wire.MaxTxInSequenceNum)
	if _, err := c2.CheckTx(ctx, again, nil); reasonOf(err) != chain.TxInputSpent {
		t.Fatalf("spent output after crash: %v", err)
	}
	if _, err := c2.CheckTx(ctx, mustFaucet(t, c2, 1e6, 0), nil); err != nil {
		t.Fatalf("faucet after crash: %v", err)
	}
}
