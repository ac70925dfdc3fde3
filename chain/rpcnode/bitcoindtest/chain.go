package bitcoindtest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain/rpcnode/internal/nodeproc"
)

// maxTries bounds generatetoaddress's nonce search; signet blocks at the minimum
// difficulty need about 4.8 million hashes.
const maxTries = 1 << 30

func (n *Node) hash(s string) chainhash.Hash {
	n.tb.Helper()
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		n.tb.Fatalf("bitcoindtest: hash %q: %v", s, err)
	}
	return *h
}

// Generate mines count blocks to the default wallet's MiningAddr.
func (n *Node) Generate(count int) []chainhash.Hash {
	n.tb.Helper()
	if n.MiningAddr == "" {
		n.tb.Fatal("bitcoindtest: Generate needs the default wallet (use GenerateTo)")
	}
	return n.GenerateTo(count, n.MiningAddr)
}

// GenerateTo mines count blocks paying addr and returns their hashes.
func (n *Node) GenerateTo(count int, addr string) []chainhash.Hash {
	n.tb.Helper()
	var ids []string
	n.Call(&ids, "generatetoaddress", count, addr, maxTries)
	hashes := make([]chainhash.Hash, len(ids))
	for i, s := range ids {
		hashes[i] = n.hash(s)
	}
	return hashes
}

// GenerateBlock mines one block holding exactly txs (hex, or txids of mempool
// transactions) and pays addr: a block carrying transactions the mempool would refuse.
func (n *Node) GenerateBlock(addr string, txs ...*wire.MsgTx) chainhash.Hash {
	n.tb.Helper()
	raw := make([]string, len(txs))
	for i, tx := range txs {
		raw[i] = TxHex(tx)
	}
	var r struct {
		Hash string `json:"hash"`
	}
	n.Call(&r, "generateblock", addr, raw)
	return n.hash(r.Hash)
}

// BestHash is the node's tip.
func (n *Node) BestHash() chainhash.Hash {
	n.tb.Helper()
	var s string
	n.Call(&s, "getbestblockhash")
	return n.hash(s)
}

// Height is the node's block count.
func (n *Node) Height() int32 {
	n.tb.Helper()
	var h int32
	n.Call(&h, "getblockcount")
	return h
}

// HashAt is the main-chain block hash at height.
func (n *Node) HashAt(height int32) chainhash.Hash {
	n.tb.Helper()
	var s string
	n.Call(&s, "getblockhash", height)
	return n.hash(s)
}

// Block returns a block by hash (of any branch).
func (n *Node) Block(hash chainhash.Hash) *wire.MsgBlock {
	n.tb.Helper()
	var raw string
	n.Call(&raw, "getblock", hash.String(), 0)
	return nodeproc.DecodeBlock(n.tb, raw)
}

// BlockAt returns the main-chain block at height.
func (n *Node) BlockAt(height int32) *wire.MsgBlock {
	n.tb.Helper()
	return n.Block(n.HashAt(height))
}

// BlockInfo is getblock verbosity 1, the fields tests look at.
type BlockInfo struct {
	Hash          string   `json:"hash"`
	Height        int32    `json:"height"`
	Confirmations int32    `json:"confirmations"` // -1 off the main chain
	Tx            []string `json:"tx"`
}

// Info is getblock HASH 1.
func (n *Node) Info(hash chainhash.Hash) BlockInfo {
	n.tb.Helper()
	var bi BlockInfo
	n.Call(&bi, "getblock", hash.String(), 1)
	return bi
}

// Invalidate marks a block invalid (invalidateblock): the chain goes back to its parent.
func (n *Node) Invalidate(hash chainhash.Hash) {
	n.tb.Helper()
	n.Call(nil, "invalidateblock", hash.String())
}

// Reconsider undoes Invalidate (reconsiderblock).
func (n *Node) Reconsider(hash chainhash.Hash) {
	n.tb.Helper()
	n.Call(nil, "reconsiderblock", hash.String())
}

// TxHex serializes tx with its witness.
func TxHex(tx *wire.MsgTx) string {
	var buf bytes.Buffer
	_ = tx.Serialize(&buf)
	return hex.EncodeToString(buf.Bytes())
}

// DecodeTx parses a transaction from hex.
func DecodeTx(s string) (*wire.MsgTx, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	tx := new(wire.MsgTx)
	if err := tx.Deserialize(bytes.NewReader(b)); err != nil {
		return nil, err
	}
	return tx, nil
}

// SendTx submits tx to the node's mempool (sendrawtransaction; the node's fee policy
// applies, so a zero-fee transaction is refused there).
func (n *Node) SendTx(tx *wire.MsgTx) chainhash.Hash {
	n.tb.Helper()
	var s string
	n.Call(&s, "sendrawtransaction", TxHex(tx))
	return n.hash(s)
}

// CreateWallet creates (and loads) a descriptor wallet; blank makes one without keys,
// for imported descriptors.
func (n *Node) CreateWallet(name string, blank bool) {
	n.tb.Helper()
	n.Call(nil, "createwallet", name, false, blank, "", false, true, true)
}

// NewAddress returns a new address of the wallet: addrType is "bech32" (P2WPKH),
// "bech32m" (P2TR), "p2sh-segwit" (P2SH-P2WPKH) or "legacy" (P2PKH).
func (n *Node) NewAddress(wallet, addrType string) string {
	n.tb.Helper()
	var a string
	n.WalletCall(wallet, &a, "getnewaddress", "", addrType)
	return a
}

// Unspent is one coin of listunspent.
type Unspent struct {
	Txid          string  `json:"txid"`
	Vout          uint32  `json:"vout"`
	Address       string  `json:"address"`
	Amount        float64 `json:"amount"`
	Confirmations int64   `json:"confirmations"`
	Spendable     bool    `json:"spendable"`
	ScriptPubKey  string  `json:"scriptPubKey"`
}

// Sats is the coin's amount in satoshi.
func (u Unspent) Sats() int64 {
	a, _ := btcutil.NewAmount(u.Amount)
	return int64(a)
}

// OutPoint is the coin's outpoint.
func (u Unspent) OutPoint() wire.OutPoint {
	h, _ := chainhash.NewHashFromStr(u.Txid)
	return wire.OutPoint{Hash: *h, Index: u.Vout}
}

// Coin picks a confirmed, spendable coin of the wallet that is not locked, paying addr
// when addr is not empty, and locks it (lockunspent) so that the next pick differs.
func (n *Node) Coin(wallet, addr string) Unspent {
	n.tb.Helper()
	var coins []Unspent
	filter := []string{}
	if addr != "" {
		filter = append(filter, addr)
	}
	n.WalletCall(wallet, &coins, "listunspent", 1, 9999999, filter)
	for _, c := range coins {
		if !c.Spendable && addr == "" {
			continue
		}
		n.WalletCall(wallet, nil, "lockunspent", false, []map[string]any{{"txid": c.Txid, "vout": c.Vout}})
		return c
	}
	n.tb.Fatalf("bitcoindtest: wallet %s has no unlocked confirmed coin (address %q)", wallet, addr)
	return Unspent{}
}

// ZeroFeeTx spends one confirmed coin of the default wallet entirely to addr (no
// fee): createrawtransaction, then signrawtransactionwithwallet. The coin is locked
// in the wallet. Nothing is broadcast (the node's policy would refuse it).
func (n *Node) ZeroFeeTx(addr string) *wire.MsgTx {
	n.tb.Helper()
	return n.ZeroFeeSpend(DefaultWallet, n.Coin(DefaultWallet, ""), addr)
}

// ZeroFeeSpend spends coin entirely to addr, signed by wallet.
func (n *Node) ZeroFeeSpend(wallet string, coin Unspent, addr string) *wire.MsgTx {
	n.tb.Helper()
	var unsigned string
	n.Call(&unsigned, "createrawtransaction",
		[]map[string]any{{"txid": coin.Txid, "vout": coin.Vout}},
		[]map[string]any{{addr: btcutil.Amount(coin.Sats()).ToBTC()}})
	return n.SignTx(wallet, unsigned)
}

// SignTx signs a raw transaction (hex) with the wallet's keys and fails the test
// unless it is complete.
func (n *Node) SignTx(wallet, unsigned string) *wire.MsgTx {
	n.tb.Helper()
	var signed struct {
		Hex      string            `json:"hex"`
		Complete bool              `json:"complete"`
		Errors   []json.RawMessage `json:"errors"`
	}
	n.WalletCall(wallet, &signed, "signrawtransactionwithwallet", unsigned)
	if !signed.Complete {
		n.tb.Fatalf("bitcoindtest: wallet %s did not sign completely: %s", wallet, signed.Errors)
	}
	tx, err := DecodeTx(signed.Hex)
	if err != nil {
		n.tb.Fatal(err)
	}
	return tx
}

// Fund sends amount (satoshi) from the default wallet to addr with a normal fee and
// mines a block with it: the returned coin is confirmed, and locked when it is the
// default wallet's own (so that the wallet does not spend it).
func (n *Node) Fund(addr string, amount int64) Unspent {
	n.tb.Helper()
	var txid string
	n.WalletCall(DefaultWallet, &txid, "sendtoaddress", addr, btcutil.Amount(amount).ToBTC())
	n.Generate(1)
	var tx struct {
		Vout []struct {
			N            uint32  `json:"n"`
			Value        float64 `json:"value"`
			ScriptPubKey struct {
				Address string `json:"address"`
				Hex     string `json:"hex"`
			} `json:"scriptPubKey"`
		} `json:"vout"`
	}
	n.Call(&tx, "getrawtransaction", txid, 1)
	var mine struct {
		IsMine bool `json:"ismine"`
	}
	n.WalletCall(DefaultWallet, &mine, "getaddressinfo", addr)
	for _, o := range tx.Vout {
		if o.ScriptPubKey.Address == addr {
			if mine.IsMine { // keep the wallet from spending it in the next Fund
				n.WalletCall(DefaultWallet, nil, "lockunspent", false, []map[string]any{{"txid": txid, "vout": o.N}})
			}
			return Unspent{Txid: txid, Vout: o.N, Address: addr, Amount: o.Value, Confirmations: 1, Spendable: true, ScriptPubKey: o.ScriptPubKey.Hex}
		}
	}
	n.tb.Fatalf("bitcoindtest: funding transaction %s has no output to %s", txid, addr)
	return Unspent{}
}

// Connect makes n connect to other (addnode onetry) and waits until both see the peer.
func (n *Node) Connect(other *Node) {
	n.tb.Helper()
	n.Call(nil, "addnode", other.P2PAddr, "onetry")
	n.waitPeer(func(p peer) bool { return p.Addr == other.P2PAddr }, true)
	other.waitPeer(func(p peer) bool { return p.Inbound }, true)
}

// Disconnect drops n's connection to other (made by Connect).
func (n *Node) Disconnect(other *Node) {
	n.tb.Helper()
	n.Call(nil, "disconnectnode", other.P2PAddr)
	n.waitPeer(func(p peer) bool { return p.Addr == other.P2PAddr }, false)
	other.waitPeer(func(p peer) bool { return p.Inbound }, false)
}

type peer struct {
	Addr    string `json:"addr"`
	Inbound bool   `json:"inbound"`
	Synced  int64  `json:"synced_headers"`
}

func (n *Node) waitPeer(match func(peer) bool, want bool) {
	n.tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var peers []peer
		n.Call(&peers, "getpeerinfo")
		has := false
		for _, p := range peers {
			if match(p) {
				has = true
			}
		}
		if has == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.tb.Fatalf("bitcoindtest: peer connected=%v not reached within 15 s", want)
}

// WaitTip waits until every node has the same best block as n and returns it.
func (n *Node) WaitTip(others ...*Node) chainhash.Hash {
	n.tb.Helper()
	best := []func() string{func() string { return n.BestHash().String() }}
	for _, o := range others {
		best = append(best, func() string { return o.BestHash().String() })
	}
	return n.hash(nodeproc.WaitSame(n.tb, 20*time.Second, best...))
}

// SubmitBlock sends a block with submitblock and returns Core's answer ("" for null).
func (n *Node) SubmitBlock(b *wire.MsgBlock) string {
	n.tb.Helper()
	var buf bytes.Buffer
	if err := b.Serialize(&buf); err != nil {
		n.tb.Fatal(err)
	}
	var r *string
	n.Call(&r, "submitblock", hex.EncodeToString(buf.Bytes()))
	if r == nil {
		return ""
	}
	return *r
}

// Args is the command line (for logs).
func (n *Node) Args() string {
	return fmt.Sprintf("%s %s (start %d)", n.bin, strings.Join(n.args, " "), n.starts)
}
