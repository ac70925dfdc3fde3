package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/rpcnode"
	"github.com/proofow/powbroker/chain/rpcnode/bitcoindtest"
	"github.com/proofow/powbroker/miner"
)

// The custom signet with challenge 51 used by the signet tests starts from a fixed
// chain of signetChainBlocks blocks (testdata/signet51-chain.txt, one block in hex per
// line), each paying its coinbase to signetChainWIF's P2WPKH address. Mining it takes
// bitcoind's generatetoaddress about 3 s a block on this machine (5 min in all); loading
// it takes submitblock about 1 s, and Core validates every block as it would a mined
// one. The blocks are old, so the node runs with -maxtipage to leave initial block
// download (getblocktemplate refuses to work in it). POWBROKER_REGEN_SIGNET=1 mines the
// chain anew (with the miner package's kernels) and rewrites the file.
const (
	signetChainBlocks = 110 // coinbases 1..10 are mature for block 111
	signetChainWIF    = "cTVdEqaAtwRHt3w7te9R1Yns8634buBKiCx3WDZYvSxiEyH2DDRo"
	signetChainAddr   = "tb1qhhtup5tevfgcnwseqt8gpczu8dztjjentdm0vw"
	envRegenSignet    = "POWBROKER_REGEN_SIGNET"
)

// signetArgs are the bitcoind arguments the signet tests need on top of bitcoindtest's.
var signetArgs = []string{"-maxtipage=2000000000"}

// A signet test chain: its file and its challenge ("" for signetChainWIF's P2WPKH key,
// whose blocks the same key signs).
type signetChain struct{ file, challenge string }

var (
	signet51  = signetChain{"testdata/signet51-chain.txt", "51"}
	signetKey = signetChain{"testdata/signet-p2wpkh-chain.txt", ""}
)

// challengeHex is the chain's challenge in hex and, for a key challenge, the key.
func (c signetChain) challengeHex(t *testing.T) (string, *chain.SignetKey) {
	t.Helper()
	if c.challenge != "" {
		return c.challenge, nil
	}
	wif, err := btcutil.DecodeWIF(signetChainWIF)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := chain.SignetChallengeFor("p2wpkh", wif.PrivKey.PubKey())
	if err != nil {
		t.Fatal(err)
	}
	k, err := chain.NewSignetKey(wif.PrivKey, ch)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(ch), k
}

// signetNode starts bitcoind on the custom signet 51 with the fixed chain loaded and
// its key imported into the default wallet, so that the wallet has mature coins.
func signetNode(t *testing.T, sc signetChain, args ...string) *bitcoindtest.Node {
	t.Helper()
	challenge, _ := sc.challengeHex(t)
	b := bitcoindtest.Start(t, bitcoindtest.Options{Signet: true, SignetChallenge: challenge, Args: append(append([]string{}, signetArgs...), args...)})
	if os.Getenv(envRegenSignet) == "1" {
		writeSignetChain(t, b, sc)
	}
	f, err := os.Open(sc.file)
	if err != nil {
		t.Fatalf("signet test chain: %v (%s=1 mines it)", err, envRegenSignet)
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		raw, err := hex.DecodeString(strings.TrimSpace(lines.Text()))
		if err != nil {
			t.Fatal(err)
		}
		var blk wire.MsgBlock
		if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		if ans := b.SubmitBlock(&blk); ans != "" && ans != "duplicate" {
			t.Fatalf("bitcoind refused block %s of the signet test chain: %s", blk.BlockHash(), ans)
		}
	}
	if b.Height() != signetChainBlocks {
		t.Fatalf("signet test chain at height %d, want %d", b.Height(), signetChainBlocks)
	}
	// getdescriptorinfo answers with the public form; the checksum covers the private one.
	var sum struct {
		Checksum string `json:"checksum"`
	}
	b.Call(&sum, "getdescriptorinfo", "wpkh("+signetChainWIF+")")
	var res []struct {
		Success bool `json:"success"`
	}
	b.WalletCall(bitcoindtest.DefaultWallet, &res, "importdescriptors", []map[string]any{
		{"desc": "wpkh(" + signetChainWIF + ")#" + sum.Checksum, "timestamp": 0},
	})
	if len(res) != 1 || !res[0].Success {
		t.Fatalf("importdescriptors: %+v", res)
	}
	return b
}

// writeSignetChain mines signetChainBlocks blocks on b (a fresh node) paying the
// fixed key and writes them to signetChainFile.
func writeSignetChain(t *testing.T, b *bitcoindtest.Node, sc signetChain) {
	t.Helper()
	ctx := context.Background()
	challenge, key := sc.challengeHex(t)
	raw, _ := hex.DecodeString(challenge)
	n, err := rpcnode.New(ctx, rpcnode.Config{URL: b.URL(), User: b.User, Pass: b.Pass, Kind: rpcnode.KindBitcoind,
		NetName: "signet", SignetChallenge: raw, SignetKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	addr, err := btcutil.DecodeAddress(signetChainAddr, &chaincfg.SigNetParams)
	if err != nil {
		t.Fatal(err)
	}
	payout, _ := txscript.PayToAddrScript(addr)
	var out bytes.Buffer
	for i := 0; i < signetChainBlocks; i++ {
		tmpl, err := n.Template(ctx)
		if err != nil {
			t.Fatal(err)
		}
		asm, err := chain.Assemble(chain.AssembleSpec{Template: tmpl, PayoutScript: payout, Tag: []byte("/powbroker test chain/")})
		if err != nil {
			t.Fatal(err)
		}
		en1, en2 := make([]byte, chain.Extranonce1Size), make([]byte, asm.Extranonce2Size)
		hdr := asm.Header(en1, en2, tmpl.Version, uint32(tmpl.CurTime.Unix()), 0)
		var h miner.Header
		var hb bytes.Buffer
		_ = hdr.Serialize(&hb)
		copy(h[:], hb.Bytes())
		target := miner.TargetFromBig(tmpl.Target())
		found := false
		sctx, stop := context.WithCancel(ctx)
		_, err = miner.ScanParallel(sctx, miner.Best(), 2, &h, 0, 1<<32, &target, func(f miner.Found) {
			if !found {
				found, hdr.Nonce = true, f.Nonce
				stop()
			}
		})
		stop()
		if !found {
			t.Fatalf("grind block %d: no nonce (%v)", i+1, err)
		}
		blk, err := asm.Block(en1, en2, hdr)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.SubmitBlock(ctx, blk); err != nil {
			t.Fatal(err)
		}
		var raw bytes.Buffer
		_ = blk.Serialize(&raw)
		out.WriteString(hex.EncodeToString(raw.Bytes()) + "\n")
	}
	if err := os.MkdirAll(filepath.Dir(sc.file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sc.file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d blocks to %s", signetChainBlocks, sc.file)
}

// TestSignetChainLoads: the fixed chains load into bitcoind and the wallet can spend
// their coins. (Run with POWBROKER_REGEN_SIGNET=1 to mine the chains anew; the key
// chain's blocks are signed by chain.Assemble with the key, as the broker signs them.)
func TestSignetChainLoads(t *testing.T) {
	for _, sc := range []signetChain{signet51, signetKey} {
		t.Run(sc.file, func(t *testing.T) {
			b := signetNode(t, sc)
			tx := b.ZeroFeeTx(b.NewAddress(bitcoindtest.DefaultWallet, "bech32m"))
			if len(tx.TxIn) != 1 || tx.TxOut[0].Value != 50e8 {
				t.Fatalf("zero-fee spend of a signet coinbase: %v", tx)
			}
		})
	}
}
