package rpcnode_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/rpcnode"
	"github.com/proofow/powbroker/chain/rpcnode/bitcoindtest"
	"github.com/proofow/powbroker/chain/rpcnode/btcdtest"
)

// liveCore connects a Node to a bitcoind.
func liveCore(t *testing.T, b *bitcoindtest.Node) *rpcnode.Node {
	t.Helper()
	n, err := rpcnode.New(context.Background(), rpcnode.Config{
		URL: b.URL(), User: b.User, Pass: b.Pass, Kind: rpcnode.KindBitcoind, NetName: "regtest",
		PollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// multisigWallets creates two descriptor wallets of one 2-of-3 multisig (P2WSH,
// sortedmulti): each holds one of the three private keys and the others' public keys.
// It returns the wallet names and the multisig's first receive address.
func multisigWallets(t *testing.T, b *bitcoindtest.Node) ([2]string, string) {
	t.Helper()
	var priv, pub [3]string
	for i := range priv {
		seed := sha256.Sum256([]byte{'m', 's', byte(i)})
		k, err := hdkeychain.NewMaster(seed[:], &chaincfg.RegressionNetParams)
		if err != nil {
			t.Fatal(err)
		}
		nk, err := k.Neuter()
		if err != nil {
			t.Fatal(err)
		}
		priv[i], pub[i] = k.String(), nk.String()
	}
	names := [2]string{"ms0", "ms1"}
	var addr string
	for w, name := range names {
		keys := slices.Clone(pub[:])
		keys[w] = priv[w]
		desc := "wsh(sortedmulti(2," + keys[0] + "/0/*," + keys[1] + "/0/*," + keys[2] + "/0/*))"
		var info struct {
			Descriptor string `json:"descriptor"`
			Checksum   string `json:"checksum"`
		}
		b.Call(&info, "getdescriptorinfo", desc)
		b.CreateWallet(name, true)
		var res []struct {
			Success bool `json:"success"`
			Error   any  `json:"error"`
		}
		b.WalletCall(name, &res, "importdescriptors", []map[string]any{{
			"desc": desc + "#" + info.Checksum, "timestamp": "now", "active": false, "range": []int{0, 4},
		}})
		if len(res) != 1 || !res[0].Success {
			t.Fatalf("importdescriptors into %s: %+v", name, res)
		}
		var addrs []string
		b.Call(&addrs, "deriveaddresses", info.Descriptor, []int{0, 0})
		if addr != "" && addrs[0] != addr {
			t.Fatalf("the two wallets derive different multisig addresses: %s and %s", addr, addrs[0])
		}
		addr = addrs[0]
	}
	return names, addr
}

// multisigSpend spends coin (paying the 2-of-3 multisig) entirely to addr: a PSBT
// signed by each wallet with its one key, combined and finalized by Core.
func multisigSpend(t *testing.T, b *bitcoindtest.Node, wallets [2]string, coin bitcoindtest.Unspent, addr string) *wire.MsgTx {
	t.Helper()
	var psbt string
	b.Call(&psbt, "createpsbt", []map[string]any{{"txid": coin.Txid, "vout": coin.Vout}},
		[]map[string]any{{addr: coin.Amount}})
	var signed []string
	for _, w := range wallets {
		var r struct {
			PSBT     string `json:"psbt"`
			Complete bool   `json:"complete"`
		}
		b.WalletCall(w, &r, "walletprocesspsbt", psbt, true, "ALL", true, false)
		if r.Complete {
			t.Fatalf("wallet %s alone completed a 2-of-3 multisig", w)
		}
		signed = append(signed, r.PSBT)
	}
	var combined string
	b.Call(&combined, "combinepsbt", signed)
	var fin struct {
		Hex      string `json:"hex"`
		Complete bool   `json:"complete"`
	}
	b.Call(&fin, "finalizepsbt", combined)
	if !fin.Complete {
		t.Fatal("two of three signatures did not complete the multisig")
	}
	tx, err := bitcoindtest.DecodeTx(fin.Hex)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// TestBitcoindLive runs against one real bitcoind v30 on regtest: zero-fee
// transactions built and signed by Core's own wallet (P2WPKH, P2TR key path,
// P2SH-P2WPKH, and a 2-of-3 multisig of two descriptor wallets) pass CheckTx, are mined
// in one block through Propose and SubmitBlock, and Core finds them in it; then every
// submitblock answer Core gives, and the node answers the fixtures used to fake.
func TestBitcoindLive(t *testing.T) {
	ctx := context.Background()
	b := bitcoindtest.Start(t, bitcoindtest.Options{})
	b.Generate(110)
	n := liveCore(t, b)
	ms, msAddr := multisigWallets(t, b)

	w := bitcoindtest.DefaultWallet
	var txs []*wire.MsgTx
	kinds := []string{"P2WPKH", "P2TR", "P2SH-P2WPKH", "2-of-3 P2WSH multisig"}
	var coins []bitcoindtest.Unspent
	for _, typ := range []string{"bech32", "bech32m", "p2sh-segwit"} {
		coins = append(coins, b.Fund(b.NewAddress(w, typ), 1e8))
	}
	coins = append(coins, b.Fund(msAddr, 1e8))
	for i, c := range coins[:3] {
		txs = append(txs, b.ZeroFeeSpend(w, c, b.NewAddress(w, "bech32")))
		if len(txs[i].TxIn[0].Witness) == 0 {
			t.Fatalf("%s spend has no witness", kinds[i])
		}
	}
	txs = append(txs, multisigSpend(t, b, ms, coins[3], b.NewAddress(w, "bech32m")))
	if len(txs[1].TxIn[0].Witness) != 1 || len(txs[1].TxIn[0].Witness[0]) != 64 {
		t.Fatalf("the P2TR spend is not a key-path spend: witness %x", txs[1].TxIn[0].Witness)
	}
	if len(txs[2].TxIn[0].SignatureScript) != 23 {
		t.Fatalf("the P2SH-P2WPKH spend has a %d-byte scriptSig, want the 23-byte redeem script push", len(txs[2].TxIn[0].SignatureScript))
	}
	if len(txs[3].TxIn[0].Witness) != 4 {
		t.Fatalf("the multisig spend has %d witness items, want empty, two signatures, script", len(txs[3].TxIn[0].Witness))
	}
	extra := make([]chain.TemplateTx, len(txs))
	for i, tx := range txs {
		c, err := n.CheckTx(ctx, tx, nil)
		if err != nil {
			t.Fatalf("CheckTx of the %s spend: %v", kinds[i], err)
		}
		if c.Fee != 0 {
			t.Fatalf("%s spend: fee %d, want 0", kinds[i], c.Fee)
		}
		extra[i] = chain.TemplateTx{Tx: tx, Weight: c.Weight, SigOpCost: c.SigOpCost}
	}
	tmpl, err := n.Template(ctx)
	if err != nil {
		t.Fatal(err)
	}
	blk := (&env{key: mustKey(t)}).assemble(t, tmpl, extra...)
	if err := n.Propose(ctx, blk); err != nil {
		t.Fatalf("Propose: %v", err)
	}
	solve(t, blk)
	if err := n.SubmitBlock(ctx, blk); err != nil {
		t.Fatalf("SubmitBlock: %v", err)
	}
	info := b.Info(blk.BlockHash())
	if info.Confirmations != 1 {
		t.Fatalf("Core has the block with %d confirmations, want 1 (its tip)", info.Confirmations)
	}
	for i, tx := range txs {
		if !slices.Contains(info.Tx, tx.TxHash().String()) {
			t.Fatalf("Core's block lacks the %s spend %s", kinds[i], tx.TxHash())
		}
		st, err := n.TxStatus(ctx, tx.TxHash(), chainhashZero)
		if err != nil || !st.Confirmed || st.BlockHash != blk.BlockHash() {
			t.Fatalf("TxStatus of the %s spend: %+v %v", kinds[i], st, err)
		}
	}

	t.Run("submitblock answers", func(t *testing.T) { liveSubmitAnswers(t, b, n, blk) })
	t.Run("node answers", func(t *testing.T) { liveNodeAnswers(t, b, n) })
}

var chainhashZero chainhash.Hash

func mustKey(t *testing.T) *btcdtest.Key {
	t.Helper()
	k, err := btcdtest.NewKey("bitcoind live")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// liveSubmitAnswers: Core's own answers to submitblock, and what SubmitBlock makes of
// them: null (the tip), "duplicate" (the tip again: success; a stored side-branch
// block again: stale), "inconclusive" (a valid block at the tip's height: stale),
// a consensus reason (rejected), "duplicate-invalid" (that block again) and an RPC
// error for a block that does not decode.
func liveSubmitAnswers(t *testing.T, b *bitcoindtest.Node, n *rpcnode.Node, tipBlock *wire.MsgBlock) {
	ctx := context.Background()
	if got := b.SubmitBlock(tipBlock); got != "duplicate" {
		t.Fatalf("submitblock of the tip again: %q, want duplicate", got)
	}
	if err := n.SubmitBlock(ctx, tipBlock); err != nil {
		t.Fatalf("SubmitBlock of the tip again (duplicate): %v", err)
	}
	e := &env{key: mustKey(t)}
	tmpl, err := n.Template(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A competitor of the tip: same parent, same height.
	rival := *tmpl
	rival.PrevHash, rival.Height, rival.Transactions = tipBlock.Header.PrevBlock, tmpl.Height-1, nil
	rival.CoinbaseValue = blockchain.CalcBlockSubsidy(rival.Height, &chaincfg.RegressionNetParams)
	stale := e.assemble(t, &rival)
	solve(t, stale)
	if got := b.SubmitBlock(stale); got != "inconclusive" {
		t.Fatalf("submitblock of a block at the tip's height: %q, want inconclusive", got)
	}
	for _, again := range []bool{false, true} {
		err := n.SubmitBlock(ctx, stale)
		var be *chain.BlockError
		if !errors.As(err, &be) || !be.Stale {
			t.Fatalf("SubmitBlock of the stale block (again %v): %v, want stale", again, err)
		}
	}
	if got := b.SubmitBlock(stale); got != "duplicate" {
		t.Fatalf("submitblock of the stored side-branch block: %q, want duplicate", got)
	}
	over := *tmpl
	over.CoinbaseValue++
	bad := e.assemble(t, &over)
	solve(t, bad)
	err = n.SubmitBlock(ctx, bad)
	var be *chain.BlockError
	if !errors.As(err, &be) || be.Stale || be.Reason != "bad-cb-amount" {
		t.Fatalf("SubmitBlock of an overpaying block: %v, want rejected with bad-cb-amount", err)
	}
	if got := b.SubmitBlock(bad); got != "duplicate-invalid" {
		t.Fatalf("submitblock of the invalid block again: %q, want duplicate-invalid", got)
	}
	if err := n.SubmitBlock(ctx, bad); !errors.As(err, &be) || be.Stale || be.Reason != "duplicate-invalid" {
		t.Fatalf("SubmitBlock of the invalid block again: %v", err)
	}
	truncated := &wire.MsgBlock{Header: tipBlock.Header} // no transactions: does not decode
	if err := n.SubmitBlock(ctx, truncated); !errors.As(err, &be) || be.Stale || errors.Is(err, chain.ErrUnavailable) {
		t.Fatalf("SubmitBlock of an undecodable block: %v", err)
	}
	if b.BestHash() != tipBlock.BlockHash() {
		t.Fatal("the tip moved")
	}
}

// liveNodeAnswers: a real node's answers that were fixtures: the wrong chain, wrong
// credentials, and "block not found" as an answer rather than an outage.
func liveNodeAnswers(t *testing.T, b *bitcoindtest.Node, n *rpcnode.Node) {
	ctx := context.Background()
	_, err := rpcnode.New(ctx, rpcnode.Config{URL: b.URL(), User: b.User, Pass: b.Pass, Kind: rpcnode.KindBitcoind, NetName: "mainnet"})
	if err == nil || !strings.Contains(err.Error(), "another chain") || errors.Is(err, chain.ErrUnavailable) {
		t.Fatalf("New with mainnet against a regtest node: %v", err)
	}
	_, err = rpcnode.New(ctx, rpcnode.Config{URL: b.URL(), User: b.User, Pass: "wrong", Kind: rpcnode.KindBitcoind, NetName: "regtest"})
	if !errors.Is(err, chain.ErrUnavailable) || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("New with a wrong password: %v", err)
	}
	_, _, err = n.Block(ctx, chainhash.Hash{7})
	var re *rpcnode.RPCError
	if !errors.As(err, &re) || re.Code != -5 || errors.Is(err, chain.ErrUnavailable) {
		t.Fatalf("Block of an unknown hash: %v, want the node's -5 answer", err)
	}
}
