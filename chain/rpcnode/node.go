package rpcnode

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/netparams"
)

// Node kinds.
const (
	KindBtcd     = "btcd"
	KindBitcoind = "bitcoind"
)

// Defaults for Config.
const (
	DefaultPollInterval = 250 * time.Millisecond
	DefaultTimeout      = 5 * time.Second
)

// Config says how to reach a node.
type Config struct {
	URL        string // http://127.0.0.1:PORT, without credentials in it
	User, Pass string
	// Cookie is the path of Bitcoin Core's cookie file: user and password are read
	// from it (and read again when the node refuses them, as after a restart of
	// bitcoind, which writes a new cookie). It excludes User and Pass.
	Cookie  string
	Kind    string           // KindBtcd (default) or KindBitcoind
	Net     *chaincfg.Params // the chain the node must be on; nil means NetName
	NetName string           // "regtest", "testnet3", "testnet4", "signet", "mainnet"; used when Net is nil
	// SignetChallenge is the block challenge of a custom signet (NetName "signet"):
	// the node must run with it, and templates carry it for the block solution.
	// Empty on signet means the default signet.
	SignetChallenge []byte
	// SignetKey signs the block solutions of a signet whose challenge needs a
	// signature (P2WPKH or P2TR key path); templates carry it to chain.Assemble.
	SignetKey *chain.SignetKey
	// ZMQ is the address of bitcoind's ZMQ hashblock publisher (-zmqpubhashblock),
	// e.g. tcp://127.0.0.1:28332: every announced block makes the tip poller poll at
	// once. Polling stays the source of truth. Empty: polling only.
	ZMQ string
	// PollInterval is the period of getbestblockhash polling for Tips.
	PollInterval time.Duration
	// Timeout bounds every request.
	Timeout time.Duration
	// DisableWebsocket turns off btcd block notifications over the RPC websocket,
	// leaving tip changes to polling alone. Bitcoin Core never uses the websocket.
	DisableWebsocket bool
	Logger           *slog.Logger
	// ObserveRPC, when set, sees every request's method, duration and error (metrics).
	ObserveRPC func(method string, d time.Duration, err error)
}

// Node is a chain.Backend backed by a btcd or bitcoind node over JSON-RPC.
type Node struct {
	cfg    Config
	params *chaincfg.Params
	net    *netparams.Network
	rpc    *client
	log    *slog.Logger

	// Tip tracking limits (defaultWindow, defaultWalkLimit; smaller in tests).
	window, walkLimit int32

	mu      sync.Mutex
	mempool map[chainhash.Hash][]wire.OutPoint // btcd mempool spend index: txid -> inputs

	healthMu sync.Mutex
	pollErr  error // the tip poller's last failure; nil after a success (see Health)
}

var _ chain.Backend = (*Node)(nil)

// ParamsByName returns the parameters of a network by its btcd or Bitcoin Core name
// (the default signet for "signet"; see netparams for custom signets).
func ParamsByName(name string) (*chaincfg.Params, error) {
	return netparams.ByName(name, nil)
}

// New connects to the node described by cfg and checks that it serves the expected
// chain (its genesis block). A node that does not answer fails within cfg.Timeout with
// an error wrapping chain.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Kind == "" {
		cfg.Kind = KindBtcd
	}
	if cfg.Kind != KindBtcd && cfg.Kind != KindBitcoind {
		return nil, fmt.Errorf("rpcnode: unknown node kind %q (want %s or %s)", cfg.Kind, KindBtcd, KindBitcoind)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rpcnode: RPC URL %q is not an http(s) URL", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("rpcnode: RPC URL %s carries credentials: give them as user and password or cookie instead", u.Redacted())
	}
	if cfg.Cookie != "" && (cfg.User != "" || cfg.Pass != "") {
		return nil, errors.New("rpcnode: a cookie file and a user or password exclude each other")
	}
	if cfg.ZMQ != "" {
		if err := CheckZMQ(cfg.ZMQ); err != nil {
			return nil, fmt.Errorf("rpcnode: %w", err)
		}
	}
	network, err := resolveNet(cfg)
	if err != nil {
		return nil, fmt.Errorf("rpcnode: %w", err)
	}
	params := network.Params
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	version := "1.0"
	if cfg.Kind == KindBitcoind {
		version = "2.0"
	}
	creds, err := newCredentials(cfg.User, cfg.Pass, cfg.Cookie)
	if err != nil {
		return nil, fmt.Errorf("rpcnode: %w", err)
	}
	n := &Node{
		cfg:     cfg,
		params:  params,
		net:     network,
		rpc:     newClient(cfg.URL, creds, version, cfg.Timeout),
		log:     cfg.Logger.With("component", "rpcnode", "url", cfg.URL, "kind", cfg.Kind),
		mempool: make(map[chainhash.Hash][]wire.OutPoint),
		window:  defaultWindow, walkLimit: defaultWalkLimit,
	}
	n.rpc.observe = cfg.ObserveRPC
	var genesis string
	if err := n.rpc.call(ctx, "getblockhash", &genesis, 0); err != nil {
		n.rpc.close()
		return nil, fmt.Errorf("rpcnode: connect to %s: %w", cfg.URL, asUnavailable(err))
	}
	if genesis != params.GenesisHash.String() {
		n.rpc.close()
		return nil, fmt.Errorf("rpcnode: the node at %s serves another chain, not %s: its genesis block is %s, %s's is %s", cfg.URL, network.Name, genesis, network.Name, params.GenesisHash)
	}
	if err := n.checkSignet(ctx); err != nil {
		n.rpc.close()
		return nil, err
	}
	return n, nil
}

// resolveNet finds the network of cfg.
func resolveNet(cfg Config) (*netparams.Network, error) {
	if cfg.Net != nil {
		if len(cfg.SignetChallenge) > 0 {
			return nil, errors.New("a signet challenge with explicit parameters")
		}
		n := &netparams.Network{Name: netparams.Canonical(cfg.Net.Name), Params: cfg.Net}
		if n.Name == "" {
			n.Name = cfg.Net.Name
		}
		return n, nil
	}
	name := cfg.NetName
	if name == "" {
		name = netparams.Regtest
	}
	return netparams.Lookup(name, cfg.SignetChallenge)
}

// checkSignet makes sure a bitcoind on signet runs with our block challenge: all
// signets share one genesis block, so only the challenge (getblockchaininfo's
// signet_challenge) tells them apart.
func (n *Node) checkSignet(ctx context.Context) error {
	if !n.signet() || n.cfg.Kind != KindBitcoind {
		return nil
	}
	ci, err := n.chainInfo(ctx)
	if err != nil {
		return fmt.Errorf("rpcnode: connect to %s: %w", n.cfg.URL, err)
	}
	want := hex.EncodeToString(n.net.Challenge)
	if !strings.EqualFold(ci.SignetChallenge, want) {
		return fmt.Errorf("rpcnode: the node at %s runs the signet with challenge %q, not %s: give its challenge with --signet-challenge (bitcoind -signetchallenge)", n.cfg.URL, ci.SignetChallenge, want)
	}
	return nil
}

// Network is the chain the node is on, with a signet's challenge.
func (n *Node) Network() *netparams.Network { return n.net }

// Close releases idle connections. Tips goroutines end with their contexts.
func (n *Node) Close() error {
	n.rpc.close()
	return nil
}

// Params are the chain's parameters.
func (n *Node) Params() *chaincfg.Params { return n.params }

// asUnavailable turns an unexpected RPC error answer into an unavailable error: the
// node answered, but not with what the operation needs.
func asUnavailable(err error) error {
	if err == nil || errors.Is(err, chain.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", chain.ErrUnavailable, err)
}

// isNotFound tells whether err is the node's "block/transaction not found" answer.
func isNotFound(err error) bool {
	code, ok := rpcCode(err)
	return ok && code == codeNotFound
}

// isOutOfRange tells whether err is getblockhash's answer for a height above the tip
// (btcd -1, Core -8).
func isOutOfRange(err error) bool {
	code, ok := rpcCode(err)
	return ok && (code == -1 || code == -8)
}

func rpcCode(err error) (int, bool) {
	var e *RPCError
	if errors.As(err, &e) {
		return e.Code, true
	}
	return 0, false
}

// chainInfo is the part of getblockchaininfo this package reads (btcd and Core).
type chainInfo struct {
	Chain           string `json:"chain"`
	SignetChallenge string `json:"signet_challenge"` // Core on signet
	Blocks          int32  `json:"blocks"`
	BestBlockHash   string `json:"bestblockhash"`
	MedianTime      int64  `json:"mediantime"`
	// btcd (and Core before 0.19) report BIP 9 deployments here.
	Bip9SoftForks map[string]struct {
		Status string `json:"status"`
	} `json:"bip9_softforks"`
	// Core 0.19..0.23 report them here.
	SoftForks json.RawMessage `json:"softforks"`
}

func (n *Node) chainInfo(ctx context.Context) (*chainInfo, error) {
	var ci chainInfo
	if err := n.rpc.call(ctx, "getblockchaininfo", &ci); err != nil {
		return nil, asUnavailable(err)
	}
	return &ci, nil
}

type headerVerbose struct {
	Hash          string `json:"hash"`
	Confirmations int64  `json:"confirmations"`
	Height        int32  `json:"height"`
	Bits          string `json:"bits"`
	Time          int64  `json:"time"`
	PreviousHash  string `json:"previousblockhash"`
}

// Tip returns the best block.
func (n *Node) Tip(ctx context.Context) (chain.Tip, error) {
	ci, err := n.chainInfo(ctx)
	if err != nil {
		return chain.Tip{}, err
	}
	hash, err := chainhash.NewHashFromStr(ci.BestBlockHash)
	if err != nil {
		return chain.Tip{}, unavailable("getblockchaininfo: best block hash %q: %v", ci.BestBlockHash, err)
	}
	hdr, err := n.rawHeader(ctx, *hash)
	if err != nil {
		return chain.Tip{}, asUnavailable(err)
	}
	return chain.Tip{Hash: *hash, Height: ci.Blocks, Bits: hdr.Bits, MedianTime: time.Unix(ci.MedianTime, 0)}, nil
}

// rawHeader fetches a header in its serialized form, which btcd serves for blocks of
// any branch (its verbose form only for the main chain).
func (n *Node) rawHeader(ctx context.Context, hash chainhash.Hash) (*wire.BlockHeader, error) {
	var s string
	if err := n.rpc.call(ctx, "getblockheader", &s, hash.String(), false); err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != wire.MaxBlockHeaderPayload {
		return nil, unavailable("getblockheader %s: malformed header %.200q", hash, s)
	}
	var h wire.BlockHeader
	if err := h.Deserialize(bytes.NewReader(b)); err != nil {
		return nil, unavailable("getblockheader %s: %v", hash, err)
	}
	if h.BlockHash() != hash {
		return nil, unavailable("getblockheader %s: the node returned header %s", hash, h.BlockHash())
	}
	return &h, nil
}

// mainChainHeight returns the height of hash when it is in the main chain and -1
// when the node knows it only on a side branch. An unknown block is an *RPCError with
// codeNotFound; any other failure wraps chain.ErrUnavailable.
func (n *Node) mainChainHeight(ctx context.Context, hash chainhash.Hash) (int32, error) {
	var hv headerVerbose
	if err := n.rpc.call(ctx, "getblockheader", &hv, hash.String(), true); err != nil {
		if _, ok := rpcCode(err); !ok {
			return 0, err
		}
		// btcd answers the verbose form only for main-chain blocks; check the
		// block exists at all.
		if _, err2 := n.rawHeader(ctx, hash); err2 != nil {
			if isNotFound(err2) {
				return 0, err2
			}
			return 0, asUnavailable(err2)
		}
		return -1, nil
	}
	if hv.Confirmations < 0 {
		return -1, nil // Core: a block not in the main chain
	}
	var at string
	if err := n.rpc.call(ctx, "getblockhash", &at, hv.Height); err != nil {
		if isOutOfRange(err) {
			return -1, nil // the chain got shorter meanwhile
		}
		return 0, asUnavailable(err)
	}
	if at != hash.String() {
		return -1, nil
	}
	return hv.Height, nil
}

// gbtResult is getblocktemplate's answer (BIP 22/23/9/145), btcd and Core.
type gbtResult struct {
	Bits          string   `json:"bits"`
	CurTime       int64    `json:"curtime"`
	MinTime       int64    `json:"mintime"`
	Height        int64    `json:"height"`
	PreviousHash  string   `json:"previousblockhash"`
	Version       int32    `json:"version"`
	CoinbaseValue *int64   `json:"coinbasevalue"`
	Rules         []string `json:"rules"`
	Transactions  []struct {
		Data   string `json:"data"`
		TxID   string `json:"txid"`
		Hash   string `json:"hash"`
		Fee    int64  `json:"fee"`
		SigOps int64  `json:"sigops"`
		Weight int64  `json:"weight"`
	} `json:"transactions"`
	// DefaultWitnessCommitment is a raw 32-byte hash on btcd and a full output
	// script on Core. It is never used: chain.Assemble computes the commitment
	// over the block's actual transactions.
	DefaultWitnessCommitment string `json:"default_witness_commitment"`
}

// rules are the getblocktemplate rules the broker supports: Bitcoin Core on signet
// refuses a request without "signet" (error -8).
func (n *Node) rules() []string {
	if n.signet() {
		return []string{"segwit", "signet"}
	}
	return []string{"segwit"}
}

// Template asks the node for a block template. Core states the segwit rule in the
// template; btcd does not, so its deployment state is read from getblockchaininfo
// for the same tip (the template is fetched again if the tip moved in between).
func (n *Node) Template(ctx context.Context) (*chain.Template, error) {
	for attempt := 0; ; attempt++ {
		var r gbtResult
		req := map[string]any{"rules": n.rules(), "capabilities": []string{"coinbasevalue", "proposal"}}
		if err := n.rpc.call(ctx, "getblocktemplate", &r, req); err != nil {
			return nil, asUnavailable(err)
		}
		t, err := parseTemplate(&r)
		if err != nil {
			return nil, unavailable("getblocktemplate: %v", err)
		}
		if n.signet() {
			t.SignetChallenge, t.SignetKey = n.net.Challenge, n.cfg.SignetKey
		}
		if r.Rules != nil {
			for _, rule := range r.Rules {
				if strings.TrimPrefix(rule, "!") == "segwit" {
					t.SegwitActive = true
				}
			}
			return t, nil
		}
		ci, err := n.chainInfo(ctx)
		if err != nil {
			return nil, err
		}
		if ci.BestBlockHash != r.PreviousHash {
			if attempt < 3 {
				continue
			}
			return nil, unavailable("the tip keeps moving while fetching a template")
		}
		if t.SegwitActive, err = n.segwitActive(ctx, ci); err != nil {
			return nil, err
		}
		return t, nil
	}
}

// segwitActive reads the segwit deployment state for the block after ci's tip:
// btcd and older Core report it in getblockchaininfo, Core 23+ in getdeploymentinfo.
func (n *Node) segwitActive(ctx context.Context, ci *chainInfo) (bool, error) {
	if d, ok := ci.Bip9SoftForks["segwit"]; ok {
		return d.Status == "active", nil
	}
	if len(ci.SoftForks) > 0 && ci.SoftForks[0] == '{' {
		var m map[string]struct {
			Active bool `json:"active"`
		}
		if json.Unmarshal(ci.SoftForks, &m) == nil {
			if d, ok := m["segwit"]; ok {
				return d.Active, nil
			}
		}
	}
	var di struct {
		Deployments map[string]struct {
			Active bool `json:"active"`
		} `json:"deployments"`
	}
	if err := n.rpc.call(ctx, "getdeploymentinfo", &di, ci.BestBlockHash); err != nil {
		return false, asUnavailable(err)
	}
	d, ok := di.Deployments["segwit"]
	if !ok {
		return false, unavailable("getdeploymentinfo: no segwit deployment")
	}
	return d.Active, nil
}

func parseTemplate(r *gbtResult) (*chain.Template, error) {
	prev, err := chainhash.NewHashFromStr(r.PreviousHash)
	if err != nil || len(r.PreviousHash) != 64 {
		return nil, fmt.Errorf("previousblockhash %q is not a block hash", r.PreviousHash)
	}
	bits, err := strconv.ParseUint(r.Bits, 16, 32)
	if err != nil {
		return nil, fmt.Errorf("bits %q: %w", r.Bits, err)
	}
	if r.CoinbaseValue == nil || *r.CoinbaseValue < 0 || *r.CoinbaseValue > btcutil.MaxSatoshi {
		return nil, errors.New("no valid coinbasevalue")
	}
	if r.Height <= 0 || r.Height > 1<<31-1 {
		return nil, fmt.Errorf("height %d out of range", r.Height)
	}
	if r.CurTime <= 0 {
		return nil, fmt.Errorf("curtime %d out of range", r.CurTime)
	}
	t := &chain.Template{
		PrevHash:      *prev,
		Height:        int32(r.Height),
		Version:       r.Version,
		Bits:          uint32(bits),
		CurTime:       time.Unix(r.CurTime, 0),
		MinTime:       time.Unix(r.MinTime, 0),
		CoinbaseValue: *r.CoinbaseValue,
	}
	if r.MinTime == 0 {
		t.MinTime = t.CurTime
	}
	for i, x := range r.Transactions {
		raw, err := hex.DecodeString(x.Data)
		if err != nil {
			return nil, fmt.Errorf("transaction %d: %w", i, err)
		}
		tx := new(wire.MsgTx)
		if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("transaction %d: %w", i, err)
		}
		if x.TxID != "" && tx.TxHash().String() != x.TxID {
			return nil, fmt.Errorf("transaction %d: txid %s does not match its data (%s)", i, x.TxID, tx.TxHash())
		}
		w := x.Weight
		if w <= 0 {
			w = blockchain.GetTransactionWeight(btcutil.NewTx(tx))
		}
		if x.Fee < 0 || x.SigOps < 0 {
			return nil, fmt.Errorf("transaction %d: negative fee or sigops", i)
		}
		t.Transactions = append(t.Transactions, chain.TemplateTx{Tx: tx, Fee: x.Fee, SigOpCost: x.SigOps, Weight: w})
	}
	return t, nil
}

func blockHex(block *wire.MsgBlock) (string, error) {
	var buf bytes.Buffer
	buf.Grow(block.SerializeSize())
	if err := block.Serialize(&buf); err != nil {
		return "", fmt.Errorf("serialize block: %w", err)
	}
	return hex.EncodeToString(buf.Bytes()), nil
}

// Propose validates block against the tip without the proof of work (BIP 23).
func (n *Node) Propose(ctx context.Context, block *wire.MsgBlock) error {
	data, err := blockHex(block)
	if err != nil {
		return err
	}
	hash := block.BlockHash()
	req := map[string]any{"mode": "proposal", "data": data, "rules": n.rules()}
	raw, err := n.rpc.callRaw(ctx, "getblocktemplate", req)
	if err != nil {
		if code, ok := rpcCode(err); ok && (code == codeDeserialize || code == codeVerify) {
			return &chain.BlockError{Hash: hash, Reason: err.Error(), Err: err}
		}
		return asUnavailable(err)
	}
	reason, err := resultReason(raw)
	if err != nil {
		return unavailable("getblocktemplate proposal: %v", err)
	}
	if reason == "" {
		return nil
	}
	return &chain.BlockError{Hash: hash, Reason: reason}
}

// resultReason reads a null-or-string result: "" for null.
func resultReason(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("unexpected result %.200s", raw)
	}
	if s == "" {
		s = "rejected (empty reason)"
	}
	return s, nil
}

// SubmitBlock submits a solved block and returns nil once the node has it in its main
// chain. btcd reports failures as a result string ("rejected: ...") and may report
// success for a block it only stored on a side branch or as an orphan; Core answers
// null, "duplicate", "inconclusive" or a reason. In every case the main chain is
// checked afterwards, and only a block in it is a success.
func (n *Node) SubmitBlock(ctx context.Context, block *wire.MsgBlock) error {
	data, err := blockHex(block)
	if err != nil {
		return err
	}
	hash := block.BlockHash()
	raw, err := n.rpc.callRaw(ctx, "submitblock", data)
	if err != nil {
		if code, ok := rpcCode(err); ok && code == codeDeserialize {
			return &chain.BlockError{Hash: hash, Reason: err.Error(), Err: err}
		}
		return asUnavailable(err)
	}
	reason, err := resultReason(raw)
	if err != nil {
		return unavailable("submitblock: %v", err)
	}
	switch {
	case reason == "", reason == "duplicate", reason == "inconclusive", reason == "duplicate-inconclusive",
		strings.HasPrefix(reason, "rejected: already have block"):
		// Accepted, already known (Core "duplicate", btcd "already have block"), or
		// stored on a side branch: the main chain decides.
	default:
		return &chain.BlockError{Hash: hash, Reason: reason}
	}
	var best string
	if err := n.rpc.call(ctx, "getbestblockhash", &best); err != nil {
		return asUnavailable(err)
	}
	if best == hash.String() {
		return nil
	}
	height, err := n.mainChainHeight(ctx, hash)
	if err != nil {
		if isNotFound(err) {
			return &chain.BlockError{Hash: hash, Reason: fmt.Sprintf("the node does not have the block after submitblock answered %s", answer(reason))}
		}
		return asUnavailable(err)
	}
	if height < 0 {
		return &chain.BlockError{Hash: hash, Reason: fmt.Sprintf("not in the main chain after submitblock answered %s (stale or side-branch block; the tip is %s)", answer(reason), best), Stale: true}
	}
	return nil // in the main chain, already built upon
}

func answer(reason string) string {
	if reason == "" {
		return "success"
	}
	return strconv.Quote(reason)
}

// Block returns a block and its main-chain height (-1 when it is not in the main chain).
func (n *Node) Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, int32, error) {
	var s string
	if err := n.rpc.call(ctx, "getblock", &s, hash.String(), 0); err != nil {
		if code, ok := rpcCode(err); ok && code == codeNotFound {
			return nil, 0, fmt.Errorf("block %s: %w", hash, err)
		}
		return nil, 0, asUnavailable(err)
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, 0, unavailable("getblock %s: %v", hash, err)
	}
	b := new(wire.MsgBlock)
	if err := b.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, 0, unavailable("getblock %s: %v", hash, err)
	}
	if b.BlockHash() != hash {
		return nil, 0, unavailable("getblock %s: the node returned block %s", hash, b.BlockHash())
	}
	height, err := n.mainChainHeight(ctx, hash)
	if err != nil {
		return nil, 0, asUnavailable(err)
	}
	return b, height, nil
}

// TxStatus reports where txid is confirmed in the main chain: in hint's block when
// hint is set and holds it, otherwise where the node's transaction index puts it
// (btcd needs --txindex, Core -txindex; without an index only the hint works).
func (n *Node) TxStatus(ctx context.Context, txid chainhash.Hash, hint chainhash.Hash) (chain.TxStatus, error) {
	var zero chainhash.Hash
	if hint != zero {
		st, found, err := n.txInBlock(ctx, txid, hint)
		if err != nil {
			return chain.TxStatus{}, err
		}
		if found {
			return st, nil
		}
	}
	var r struct {
		BlockHash string `json:"blockhash"`
	}
	if err := n.rpc.call(ctx, "getrawtransaction", &r, txid.String(), 1); err != nil {
		if code, ok := rpcCode(err); ok && code == codeNotFound {
			return chain.TxStatus{}, nil // unknown to the node (or no index): not confirmed
		}
		return chain.TxStatus{}, asUnavailable(err)
	}
	if r.BlockHash == "" {
		return chain.TxStatus{}, nil // in the mempool
	}
	bh, err := chainhash.NewHashFromStr(r.BlockHash)
	if err != nil {
		return chain.TxStatus{}, unavailable("getrawtransaction %s: block hash %q", txid, r.BlockHash)
	}
	st, found, err := n.txInBlock(ctx, txid, *bh)
	if err != nil || !found {
		return chain.TxStatus{}, err
	}
	return st, nil
}

// txInBlock tells whether block (in the main chain) holds txid.
func (n *Node) txInBlock(ctx context.Context, txid, block chainhash.Hash) (chain.TxStatus, bool, error) {
	var r struct {
		Tx []string `json:"tx"`
	}
	if err := n.rpc.call(ctx, "getblock", &r, block.String(), 1); err != nil {
		if _, ok := rpcCode(err); !ok {
			return chain.TxStatus{}, false, err
		}
		if isNotFound(err) {
			return chain.TxStatus{}, false, nil
		}
		// btcd answers verbose getblock only for main-chain blocks (an internal
		// error otherwise): find out whether that is why.
		height, err2 := n.mainChainHeight(ctx, block)
		switch {
		case isNotFound(err2):
			return chain.TxStatus{}, false, nil
		case err2 != nil:
			return chain.TxStatus{}, false, err2
		case height < 0:
			return chain.TxStatus{}, false, nil
		}
		return chain.TxStatus{}, false, asUnavailable(err)
	}
	found := false
	want := txid.String()
	for _, id := range r.Tx {
		if id == want {
			found = true
			break
		}
	}
	if !found {
		return chain.TxStatus{}, false, nil
	}
	height, err := n.mainChainHeight(ctx, block)
	if err != nil {
		if isNotFound(err) {
			return chain.TxStatus{}, false, nil
		}
		return chain.TxStatus{}, false, asUnavailable(err)
	}
	if height < 0 {
		return chain.TxStatus{}, false, nil
	}
	var count int32
	if err := n.rpc.call(ctx, "getblockcount", &count); err != nil {
		return chain.TxStatus{}, false, asUnavailable(err)
	}
	conf := count - height + 1
	if conf < 1 {
		conf = 1
	}
	return chain.TxStatus{Confirmed: true, BlockHash: block, Height: height, Confirmations: conf}, true, nil
}

// signet tells whether the node's chain is a signet (default or custom).
func (n *Node) signet() bool { return n.net != nil && n.net.Name == netparams.Signet }
