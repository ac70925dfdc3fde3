package rpcnode_test

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/rpcnode"
	"github.com/proofow/powbroker/chain/rpcnode/bitcoindtest"
	"github.com/proofow/powbroker/chain/rpcnode/internal/nodeproc"
	"github.com/proofow/powbroker/miner"
)

// coreWith connects a Node to a bitcoindtest node with its rpcauth credentials.
func coreWith(t testing.TB, b *bitcoindtest.Node, cfg rpcnode.Config) (*rpcnode.Node, error) {
	t.Helper()
	cfg.URL, cfg.Kind = b.URL(), rpcnode.KindBitcoind
	if cfg.Cookie == "" && cfg.User == "" {
		cfg.User, cfg.Pass = b.User, b.Pass
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	n, err := rpcnode.New(context.Background(), cfg)
	if err == nil {
		t.Cleanup(func() { n.Close() })
	}
	return n, err
}

// TestBitcoindCookie: the Node logs in with bitcoind's cookie file and keeps working
// after bitcoind restarts and writes a new cookie.
func TestBitcoindCookie(t *testing.T) {
	b := bitcoindtest.Start(t, bitcoindtest.Options{NoWallet: true})
	n, err := coreWith(t, b, rpcnode.Config{Cookie: b.CookiePath(), NetName: "regtest"})
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(b.CookiePath())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Tip(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	after, err := os.ReadFile(b.CookiePath())
	if err != nil || string(after) == string(before) {
		t.Fatalf("bitcoind did not write a new cookie on restart (%v)", err)
	}
	if tip, err := n.Tip(context.Background()); err != nil || tip.Height != 0 {
		t.Fatalf("after the restart with a new cookie: %+v %v", tip, err)
	}
	// A wrong password (no cookie to re-read) is refused as unavailable, by name.
	bad, err := coreWith(t, b, rpcnode.Config{User: b.User, Pass: "wrong", NetName: "regtest"})
	if err == nil || !errors.Is(err, chain.ErrUnavailable) || !strings.Contains(err.Error(), "refused the RPC credentials") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v %v", bad, err)
	}
}

// TestBitcoindNetworkMismatch: a node on another chain, or a signet with another
// challenge, is refused at the start with one line that says which.
func TestBitcoindNetworkMismatch(t *testing.T) {
	reg := bitcoindtest.Start(t, bitcoindtest.Options{NoWallet: true})
	sig := bitcoindtest.Start(t, bitcoindtest.Options{NoWallet: true, Signet: true, SignetChallenge: "51"})
	for _, tc := range []struct {
		name      string
		node      *bitcoindtest.Node
		net       string
		challenge []byte
		want      string // "" = accepted
	}{
		{"regtest as signet", reg, "signet", nil, "not signet: its genesis block is 0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"},
		{"regtest as testnet4", reg, "testnet4", nil, "serves another chain, not testnet4"},
		{"regtest as mainnet", reg, "mainnet", nil, "not mainnet"},
		{"custom signet as the default signet", sig, "signet", nil, `runs the signet with challenge "51"`},
		{"custom signet with another challenge", sig, "signet", []byte{txscript.OP_TRUE, txscript.OP_TRUE}, `runs the signet with challenge "51", not 5151`},
		{"custom signet as regtest", sig, "regtest", nil, "not regtest"},
		{"custom signet 51", sig, "signet", []byte{txscript.OP_TRUE}, ""},
		{"regtest", reg, "regtest", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := coreWith(t, tc.node, rpcnode.Config{NetName: tc.net, SignetChallenge: tc.challenge})
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n")):
				t.Fatalf("got %v, want one line with %q", err, tc.want)
			}
		})
	}
}

// grind finds a nonce for blk's header below its target.
func grind(t testing.TB, blk *wire.MsgBlock) {
	t.Helper()
	var h miner.Header
	copy(h[:], headerBytes(t, &blk.Header))
	target := miner.TargetFromBig(chain.CompactToTarget(blk.Header.Bits))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	found := false
	_, err := miner.ScanParallel(ctx, miner.Best(), 2, &h, 0, 1<<32, &target, func(f miner.Found) {
		if !found {
			found, blk.Header.Nonce = true, f.Nonce
			stop()
		}
	})
	if !found {
		t.Fatalf("no nonce found: %v", err)
	}
}

func headerBytes(t testing.TB, h *wire.BlockHeader) []byte {
	var b strings.Builder
	if err := h.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

// mineSignet asks n for a template, assembles a block paying OP_TRUE, lets sign
// change it (nil: none), grinds it and submits it through n.
func mineSignet(t *testing.T, n *rpcnode.Node, sign func(*wire.MsgBlock)) (*wire.MsgBlock, error) {
	t.Helper()
	ctx := context.Background()
	tmpl, err := n.Template(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tmpl.SignetChallenge) == 0 {
		t.Fatal("a signet template without the challenge")
	}
	spec := chain.AssembleSpec{Template: tmpl, PayoutScript: []byte{txscript.OP_TRUE}, Tag: []byte("/corenet/")}
	if sign != nil {
		c := *tmpl
		c.SignetChallenge = []byte{txscript.OP_TRUE} // assemble with the empty solution; sign adds the real one
		spec.Template = &c
	}
	asm, err := chain.Assemble(spec)
	if err != nil {
		t.Fatal(err)
	}
	en1, en2 := []byte{0, 0, 0, 1}, make([]byte, asm.Extranonce2Size)
	blk, err := asm.Block(en1, en2, asm.Header(en1, en2, tmpl.Version, uint32(tmpl.CurTime.Unix()), 0))
	if err != nil {
		t.Fatal(err)
	}
	if sign != nil {
		sign(blk)
	}
	if err := n.Propose(ctx, blk); err != nil && sign == nil {
		t.Fatalf("proposal: %v", err)
	}
	grind(t, blk)
	return blk, n.SubmitBlock(ctx, blk)
}

// TestBitcoindSignetMining: on custom signets run by bitcoind, blocks assembled by
// chain.Assemble and solved for the challenge are accepted onto the best chain: the
// OP_TRUE challenge with the empty solution, and single-key challenges (P2WPKH and
// P2TR key path) signed with SignSignetBlock. A P2WPKH block whose header time changed
// after signing is refused with bad-signet-blksig.
func TestBitcoindSignetMining(t *testing.T) {
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"op_true", "p2wpkh", "p2tr"} {
		t.Run(kind, func(t *testing.T) {
			challenge := []byte{txscript.OP_TRUE}
			if kind != "op_true" {
				if challenge, err = chain.SignetChallengeFor(kind, key.PubKey()); err != nil {
					t.Fatal(err)
				}
			}
			b := bitcoindtest.Start(t, bitcoindtest.Options{NoWallet: true, Signet: true, SignetChallenge: hex.EncodeToString(challenge)})
			n, err := coreWith(t, b, rpcnode.Config{NetName: "signet", SignetChallenge: challenge})
			if err != nil {
				t.Fatal(err)
			}
			var sign func(*wire.MsgBlock)
			if kind != "op_true" {
				sk, err := chain.NewSignetKey(key, challenge)
				if err != nil {
					t.Fatal(err)
				}
				sign = func(blk *wire.MsgBlock) {
					if err := chain.SignSignetBlock(blk, sk); err != nil {
						t.Fatal(err)
					}
				}
			}
			blk, err := mineSignet(t, n, sign)
			if err != nil {
				t.Fatalf("submit: %v\n%s", err, b.LogTail())
			}
			if b.BestHash() != blk.BlockHash() || b.Height() != 1 {
				t.Fatalf("bitcoind's tip %s at %d, want our block %s", b.BestHash(), b.Height(), blk.BlockHash())
			}
			if kind == "p2wpkh" {
				_, err := mineSignet(t, n, func(blk *wire.MsgBlock) {
					sign(blk)
					blk.Header.Timestamp = blk.Header.Timestamp.Add(time.Second)
				})
				var be *chain.BlockError
				if !errors.As(err, &be) || !strings.Contains(be.Reason, "bad-signet-blksig") {
					t.Fatalf("a block signed for another time: %v", err)
				}
			}
		})
	}
}

// TestBitcoindZMQTips: with a poll interval of a minute, a block mined on bitcoind
// reaches the Tips channel within seconds only through the ZMQ hashblock publisher,
// also after bitcoind restarted.
func TestBitcoindZMQTips(t *testing.T) {
	zmq := "tcp://" + nodeproc.FreePort(t)
	b := bitcoindtest.Start(t, bitcoindtest.Options{Args: []string{"-zmqpubhashblock=" + zmq}})
	n, err := coreWith(t, b, rpcnode.Config{NetName: "regtest", ZMQ: zmq, PollInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tips := n.Tips(ctx)
	if ev := <-tips; ev.Tip.Height != 0 {
		t.Fatalf("first event %+v", ev)
	}
	time.Sleep(300 * time.Millisecond) // let the subscription settle (ZMQ drops messages before it)
	for i := 1; i <= 4; i++ {
		if i == 3 {
			// bitcoind restarts (same ports): the subscriber reconnects by itself.
			b.Restart()
			time.Sleep(1500 * time.Millisecond) // zmq4 redials every second
		}
		h := b.Generate(1)[0]
		select {
		case ev := <-tips:
			if ev.Tip.Hash != h || ev.Tip.Height != int32(i) {
				t.Fatalf("event %+v, want %s at %d", ev.Tip, h, i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("block %d not announced within 10 s with a 1 min poll interval: ZMQ did not wake the poller", i)
		}
	}
}

// BenchmarkTipNotify measures tip-to-notify latency against a real bitcoind on
// regtest: from the start of generatetoaddress (one block) to the block's event on the
// Tips channel, with the default poll interval (250 ms) alone and with ZMQ hashblock
// wake-ups. Reported: ms/notify (the latency) and gen-ms (the generatetoaddress call
// itself, which bounds how early the block exists).
func BenchmarkTipNotify(b *testing.B) {
	for _, mode := range []string{"poll", "zmq"} {
		b.Run(mode, func(b *testing.B) {
			zmq := "tcp://" + nodeproc.FreePort(b)
			node := bitcoindtest.Start(b, bitcoindtest.Options{NoWallet: true, Args: []string{"-zmqpubhashblock=" + zmq}})
			cfg := rpcnode.Config{NetName: "regtest"}
			if mode == "zmq" {
				cfg.ZMQ = zmq
			}
			n, err := coreWith(b, node, cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tips := n.Tips(ctx)
			<-tips
			time.Sleep(300 * time.Millisecond) // the ZMQ subscription settles
			a, _ := btcutil.NewAddressWitnessPubKeyHash(make([]byte, 20), &chaincfg.RegressionNetParams)
			addr := a.EncodeAddress()
			var total, gen time.Duration
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				var hashes []string
				node.Call(&hashes, "generatetoaddress", 1, addr)
				gen += time.Since(t0)
				ev := <-tips
				total += time.Since(t0)
				if ev.Tip.Hash.String() != hashes[0] {
					b.Fatalf("event for %s, mined %s", ev.Tip.Hash, hashes[0])
				}
				// Spread the blocks over the poll phase.
				time.Sleep(time.Duration(i%5) * 37 * time.Millisecond)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/notify")
			b.ReportMetric(float64(gen.Microseconds())/1000/float64(b.N), "gen-ms")
		})
	}
}
