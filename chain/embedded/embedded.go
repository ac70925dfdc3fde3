package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/blockchain/indexers"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/database"
	_ "github.com/btcsuite/btcd/database/ffldb" // registers the ffldb driver
	"github.com/btcsuite/btcd/mempool"
	"github.com/btcsuite/btcd/mining"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/chain/standard"
	"github.com/proofow/powbroker/miner"
)

// Config configures an embedded chain.
type Config struct {
	// DataDir holds the chain: DataDir/<net>/ keeps the block database and the faucet
	// key, and survives restarts.
	DataDir string
	// Net is "regtest" or "private".
	Net string
	// PrivateBits is the fixed compact difficulty of the private network; 0 means
	// DefaultPrivateBits. Ignored on regtest.
	PrivateBits uint32
	// Logger receives progress and events; nil discards them.
	Logger *slog.Logger
	// AcceptNonStandard makes CheckTx skip btcd's standardness policy (version,
	// script forms, dust, standard size). Consensus rules are always checked.
	AcceptNonStandard bool
	// Threads is the number of goroutines that solve proof of work in Generate;
	// 0 means one per CPU.
	Threads int
	// CheckpointBlocks is how many blocks the journal takes before the chain writes
	// btcd's caches to the database and starts a new journal (closing and opening the
	// database, under the write lock), so that the journal and a replay after a crash
	// stay short; 0 means DefaultCheckpointBlocks.
	CheckpointBlocks int
}

// DefaultCheckpointBlocks is Config.CheckpointBlocks when it is 0.
const DefaultCheckpointBlocks = 2000

// Errors of the embedded chain besides *chain.TxError and *chain.BlockError.
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("embedded chain is closed")
	// ErrUnknownBlock is wrapped when a block hash is not known to the chain.
	ErrUnknownBlock = errors.New("unknown block")
	// ErrNoFaucetCoin is wrapped when no mature, unreserved faucet output is large enough.
	ErrNoFaucetCoin = errors.New("no spendable faucet coin large enough")
)

const (
	dbDirName       = "blocks_ffldb"
	faucetKeyName   = "faucet.key"
	utxoCacheBytes  = 32 << 20
	faucetSplit     = 500 // outputs of block 1's coinbase
	maxQueuedEvents = 64  // per Tips subscriber before events are merged
)

// Chain is an in-process, fully validating chain built from btcd's blockchain,
// ffldb, mempool and mining packages. It implements chain.Backend.
type Chain struct {
	cfg    Config
	log    *slog.Logger
	params *chaincfg.Params
	dir    string

	db      database.DB
	journal *journal
	// journaled counts the blocks in the journal (guarded by mu, written with it held
	// for writing).
	journaled  int
	bc         *blockchain.BlockChain
	txIndex    *indexers.TxIndex
	pool       *mempool.TxPool
	gen        *mining.BlkTmplGenerator
	sigCache   *txscript.SigCache
	hashCache  *txscript.HashCache
	timeSource blockchain.MedianTimeSource
	kernel     miner.Kernel
	threads    int

	faucetKey    *btcec.PrivateKey
	faucetAddr   btcutil.Address
	faucetScript []byte

	// ctx ends when the chain closes; it stops mining and Tips subscribers.
	ctx    context.Context
	cancel context.CancelFunc

	// mu is held for writing while blocks are processed and at Close, and for
	// reading by everything that needs one consistent view of the chain.
	mu        sync.RWMutex
	closed    bool
	closeOnce sync.Once
	closeErr  error

	// noteMu guards notes, the blockchain notifications of the ProcessBlock call in
	// progress (the callback runs under btcd's chain lock and only appends here).
	noteMu sync.Mutex
	notes  []blockchain.Notification

	subMu sync.Mutex
	subs  map[*subscriber]struct{}

	faucetMu sync.Mutex
	coins    map[wire.OutPoint]faucetCoin  // unspent faucet outputs of the main chain
	reserved map[wire.OutPoint]reservation // outputs handed out by Faucet

	nonceMu    sync.Mutex
	extraNonce uint64
}

var _ chain.Backend = (*Chain)(nil)

// Open opens the chain in cfg.DataDir/<net>, creating it when it does not exist. A new
// chain mines its first blocks to the faucet key before Open returns: block 1 pays its
// coinbase in 500 equal outputs, then blocks are mined until block 1 is spendable. An
// existing chain comes back with every block it accepted, also after a crash (see the
// journal); a data directory whose chain cannot be recovered is an error, never a new
// chain.
func Open(ctx context.Context, cfg Config) (*Chain, error) {
	start := time.Now()
	c, err := newChain(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.openStorage(ctx); err != nil {
		c.cancel()
		c.closeStorage()
		return nil, err
	}
	c.bc.Subscribe(c.onNotification)
	if err := c.rescanCoins(); err == nil {
		err = c.initialBlocks(ctx)
	}
	if err != nil {
		c.cancel()
		c.closeStorage()
		return nil, err
	}
	best := c.bc.BestSnapshot()
	c.log.Info("embedded chain open", "dir", c.dir, "height", best.Height, "tip", best.Hash.String(),
		"bits", fmt.Sprintf("%08x", c.params.PowLimitBits), "faucet", c.faucetAddr.String(),
		"kernel", c.kernel.Name(), "elapsed", time.Since(start).Round(time.Millisecond))
	return c, nil
}

// newChain checks cfg, creates the chain's directory and loads (or creates) the faucet
// key: everything before the databases.
func newChain(cfg Config) (*Chain, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("embedded: no data directory")
	}
	params, err := Params(cfg.Net, cfg.PrivateBits)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	threads := cfg.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	dir := filepath.Join(cfg.DataDir, params.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded: create data directory: %w", err)
	}
	key, err := loadOrCreateKey(filepath.Join(dir, faucetKeyName), params)
	if err != nil {
		return nil, err
	}
	addr, err := btcutil.NewAddressPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), params)
	if err != nil {
		return nil, fmt.Errorf("embedded: faucet address: %w", err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded: faucet script: %w", err)
	}
	c := &Chain{
		cfg:          cfg,
		log:          log.With("component", "chain/embedded", "net", params.Name),
		params:       params,
		dir:          dir,
		sigCache:     txscript.NewSigCache(10000),
		hashCache:    txscript.NewHashCache(10000),
		timeSource:   blockchain.NewMedianTime(),
		kernel:       miner.Best(),
		threads:      threads,
		faucetKey:    key,
		faucetAddr:   addr,
		faucetScript: script,
		subs:         make(map[*subscriber]struct{}),
		coins:        make(map[wire.OutPoint]faucetCoin),
		reserved:     make(map[wire.OutPoint]reservation),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// openChain opens the block database (creating it when create is set and it does not
// exist) and builds btcd's chain, mempool and template generator on it. btcd repairs an
// unclean shutdown here: ffldb cuts its block files back to its metadata, and the chain
// rebuilds its UTXO set and transaction index up to its best block.
func (c *Chain) openChain(ctx context.Context, create bool) error {
	c.db, c.bc = nil, nil
	db, err := openDB(filepath.Join(c.dir, dbDirName), c.params.Net, create)
	if err != nil {
		return err
	}
	c.db = db
	c.txIndex = indexers.NewTxIndex(db)
	c.bc, err = blockchain.New(&blockchain.Config{
		DB:               db,
		ChainParams:      c.params,
		TimeSource:       c.timeSource,
		SigCache:         c.sigCache,
		HashCache:        c.hashCache,
		IndexManager:     indexers.NewManager(db, []indexers.Indexer{c.txIndex}),
		UtxoCacheMaxSize: utxoCacheBytes,
		Interrupt:        ctx.Done(),
	})
	if err != nil {
		return fmt.Errorf("embedded: open chain in %s: %w", c.dir, err)
	}
	if g, err := c.bc.BlockHashByHeight(0); err != nil {
		return fmt.Errorf("embedded: read genesis: %w", err)
	} else if *g != *c.params.GenesisHash {
		return fmt.Errorf("embedded: %s holds a chain with genesis %s, not the %s network's %s (another network or difficulty?)",
			c.dir, g, c.params.Name, c.params.GenesisHash)
	}
	c.pool = mempool.New(&mempool.Config{
		Policy: mempool.Policy{
			MaxTxVersion:         standard.MaxTxVersion,
			DisableRelayPriority: true,
			AcceptNonStd:         true,
			FreeTxRelayLimit:     15,
			MaxOrphanTxs:         100,
			MaxOrphanTxSize:      100000,
			MaxSigOpCostPerTx:    blockchain.MaxBlockSigOpsCost / 4,
			MinRelayTxFee:        0, // zero-fee transactions are the product
		},
		ChainParams:    c.params,
		FetchUtxoView:  c.bc.FetchUtxoView,
		BestHeight:     func() int32 { return c.bc.BestSnapshot().Height },
		MedianTimePast: func() time.Time { return c.bc.BestSnapshot().MedianTime },
		CalcSequenceLock: func(tx *btcutil.Tx, view *blockchain.UtxoViewpoint) (*blockchain.SequenceLock, error) {
			return c.bc.CalcSequenceLock(tx, view, true)
		},
		IsDeploymentActive: c.bc.IsDeploymentActive,
		SigCache:           c.sigCache,
		HashCache:          c.hashCache,
	})
	c.gen = mining.NewBlkTmplGenerator(&mining.Policy{
		BlockMaxWeight:    blockchain.MaxBlockWeight - 4000,
		BlockMaxSize:      blockchain.MaxBlockBaseSize - 1000,
		BlockPrioritySize: mempool.DefaultBlockPrioritySize,
		TxMinFreeFee:      0,
	}, c.params, c.pool, c.bc, c.timeSource, c.sigCache, c.hashCache)
	return nil
}

// openDB opens the ffldb database at path; with create, it creates one that does not
// exist (also when a crash cut its creation short).
func openDB(path string, net wire.BitcoinNet, create bool) (database.DB, error) {
	db, err := database.Open("ffldb", path, net)
	var dbErr database.Error
	if err != nil && create && errors.As(err, &dbErr) && dbErr.ErrorCode == database.ErrDbDoesNotExist {
		db, err = database.Create("ffldb", path, net)
		if err != nil {
			return nil, fmt.Errorf("embedded: create block database %s: %w", path, err)
		}
		return db, nil
	}
	if err != nil {
		return nil, fmt.Errorf("embedded: open block database %s: %w", path, err)
	}
	return db, nil
}

// initialBlocks mines the first blocks of a new chain (or finishes that work when a
// previous first start was interrupted).
func (c *Chain) initialBlocks(ctx context.Context) error {
	want := int32(c.params.CoinbaseMaturity) + 1
	height := c.bc.BestSnapshot().Height
	if height >= want {
		return nil
	}
	c.log.Info("mining the initial blocks to the faucet", "from", height+1, "to", want,
		"expected_hashes_per_block", chain.ExpectedHashes(c.params.PowLimit), "threads", c.threads)
	for height < want {
		outs := func(value int64) []*wire.TxOut {
			return []*wire.TxOut{wire.NewTxOut(value, c.faucetScript)}
		}
		if height == 0 {
			outs = func(value int64) []*wire.TxOut {
				each := value / faucetSplit
				o := make([]*wire.TxOut, faucetSplit)
				for i := range o {
					o[i] = wire.NewTxOut(each, c.faucetScript)
				}
				o[0].Value += value - each*faucetSplit
				return o
			}
		}
		if _, err := c.mineOnTip(ctx, outs); err != nil {
			return fmt.Errorf("embedded: mine initial block %d: %w", height+1, err)
		}
		height = c.bc.BestSnapshot().Height
	}
	return nil
}

// Close writes btcd's caches to the block database and closes it, rewrites the journal
// without the blocks the database now holds, and ends every Tips channel. It is safe to
// call more than once.
func (c *Chain) Close() error {
	c.closeOnce.Do(func() {
		c.cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		c.closed = true
		var err error
		if c.db != nil { // nil after a checkpoint that could not open the database again
			tip := c.bc.BestSnapshot()
			txs := c.mempoolInOrder()
			if err = c.closeDB(); err == nil {
				err = c.rewriteJournal(tip, txs)
			}
		}
		if cerr := c.journal.close(); err == nil && cerr != nil {
			err = fmt.Errorf("chain journal: %w", cerr)
		}
		if err != nil {
			c.closeErr = fmt.Errorf("embedded: close: %w", err)
		}
		c.log.Info("embedded chain closed")
	})
	return c.closeErr
}

// rlock takes the read lock and fails when the chain is closed or ctx has ended.
func (c *Chain) rlock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// lock takes the write lock and fails when the chain is closed or ctx has ended.
func (c *Chain) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Params returns the chain's consensus parameters.
func (c *Chain) Params() *chaincfg.Params { return c.params }

// Dir is the directory that holds this network's database and faucet key.
func (c *Chain) Dir() string { return c.dir }

// Tip returns the best block.
func (c *Chain) Tip(ctx context.Context) (chain.Tip, error) {
	if err := c.rlock(ctx); err != nil {
		return chain.Tip{}, err
	}
	defer c.mu.RUnlock()
	return c.tipLocked(), nil
}

func (c *Chain) tipLocked() chain.Tip {
	b := c.bc.BestSnapshot()
	return chain.Tip{Hash: b.Hash, Height: b.Height, Bits: b.Bits, MedianTime: b.MedianTime}
}

// Template returns what the node would mine on the tip now: header fields, the
// coinbase value (subsidy plus the fees of the node's mempool transactions) and those
// transactions.
func (c *Chain) Template(ctx context.Context) (*chain.Template, error) {
	if err := c.rlock(ctx); err != nil {
		return nil, err
	}
	defer c.mu.RUnlock()
	bt, err := c.gen.NewBlockTemplate(nil)
	if err != nil {
		return nil, fmt.Errorf("embedded: block template: %w", err)
	}
	segwit, err := c.bc.IsDeploymentActive(chaincfg.DeploymentSegwit)
	if err != nil {
		return nil, fmt.Errorf("embedded: segwit state: %w", err)
	}
	best := c.bc.BestSnapshot()
	h := bt.Block.Header
	t := &chain.Template{
		PrevHash:      h.PrevBlock,
		Height:        bt.Height,
		Version:       h.Version,
		Bits:          h.Bits,
		CurTime:       h.Timestamp,
		MinTime:       best.MedianTime.Add(time.Second),
		CoinbaseValue: bt.Block.Transactions[0].TxOut[0].Value,
		SegwitActive:  segwit,
	}
	for i, tx := range bt.Block.Transactions[1:] {
		t.Transactions = append(t.Transactions, chain.TemplateTx{
			Tx:        tx,
			Fee:       bt.Fees[i+1],
			SigOpCost: bt.SigOpCosts[i+1],
			Weight:    blockchain.GetTransactionWeight(btcutil.NewTx(tx)),
		})
	}
	return t, nil
}

// Propose validates block against the tip: everything except proof of work.
func (c *Chain) Propose(ctx context.Context, block *wire.MsgBlock) error {
	if err := c.rlock(ctx); err != nil {
		return err
	}
	defer c.mu.RUnlock()
	b := btcutil.NewBlock(block)
	if err := c.bc.CheckConnectBlockTemplate(b); err != nil {
		return &chain.BlockError{Hash: *b.Hash(), Reason: err.Error(), Err: err}
	}
	return nil
}

// SubmitBlock processes a solved block. It returns nil only when the block is the tip
// afterwards (submitting the current tip again is not an error).
func (c *Chain) SubmitBlock(ctx context.Context, block *wire.MsgBlock) error {
	if err := c.lock(ctx); err != nil {
		return err
	}
	defer c.mu.Unlock()
	b := btcutil.NewBlock(block)
	hash := *b.Hash()
	isMain, isOrphan, err := c.processLocked(b)
	best := c.bc.BestSnapshot()
	var re blockchain.RuleError
	switch {
	case err != nil && errors.As(err, &re) && re.ErrorCode == blockchain.ErrDuplicateBlock:
		switch {
		case best.Hash == hash:
			return nil
		case c.bc.MainChainHasBlock(&hash):
			h, _ := c.bc.BlockHeightByHash(&hash)
			return &chain.BlockError{Hash: hash, Reason: fmt.Sprintf("already in the main chain at height %d, below the tip %s at height %d", h, best.Hash, best.Height), Err: err}
		default:
			return &chain.BlockError{Hash: hash, Reason: fmt.Sprintf("already known on a side chain; the tip is %s at height %d", best.Hash, best.Height), Stale: true, Err: err}
		}
	case err != nil:
		return &chain.BlockError{Hash: hash, Reason: err.Error(), Err: err}
	case isOrphan:
		return &chain.BlockError{Hash: hash, Reason: fmt.Sprintf("orphan: its parent %s is unknown", block.Header.PrevBlock)}
	case !isMain || best.Hash != hash:
		return &chain.BlockError{Hash: hash, Reason: fmt.Sprintf("valid but stored on a side chain; the tip is %s at height %d", best.Hash, best.Height), Stale: true}
	}
	return nil
}

// processLocked runs ProcessBlock and then what follows every change of the best
// chain: the mempool, the faucet's coins and the Tips subscribers. c.mu must be held
// for writing.
//
// A block is in the journal (synced) before ProcessBlock sees it, so that every block
// ProcessBlock accepts is still there after a crash at any moment.
func (c *Chain) processLocked(b *btcutil.Block) (isMain, isOrphan bool, err error) {
	journaled, err := c.journalBlock(b)
	if err != nil {
		return false, false, err
	}
	isMain, isOrphan, err = c.bc.ProcessBlock(b, blockchain.BFNone)
	if journaled && err == nil && !isOrphan {
		// Not synced: it only tells a replay that a refusal then is damage; the next
		// synced record or Close writes it.
		if jerr := c.journal.append(recAccepted, b.Hash()[:], false); jerr != nil {
			c.log.Error("chain journal", "err", jerr)
		}
	}
	if journaled {
		c.journaled++
	}
	c.afterProcess()
	if c.journaled >= c.checkpointBlocks() {
		c.checkpointRunning()
	}
	return isMain, isOrphan, err
}

// onNotification is btcd's callback; it runs under the chain lock and only records.
func (c *Chain) onNotification(n *blockchain.Notification) {
	if n.Type != blockchain.NTBlockConnected && n.Type != blockchain.NTBlockDisconnected {
		return
	}
	c.noteMu.Lock()
	c.notes = append(c.notes, *n)
	c.noteMu.Unlock()
}

// afterProcess handles the notifications of the ProcessBlock call that just returned
// as one change of the best chain. c.mu must be held for writing.
func (c *Chain) afterProcess() {
	c.noteMu.Lock()
	notes := c.notes
	c.notes = nil
	c.noteMu.Unlock()
	if len(notes) == 0 {
		return
	}
	var (
		ev                      chain.TipEvent
		connected, disconnected []*btcutil.Block
	)
	for _, n := range notes {
		b, ok := n.Data.(*btcutil.Block)
		if !ok {
			continue
		}
		switch n.Type {
		case blockchain.NTBlockConnected:
			ev.Connected = append(ev.Connected, *b.Hash())
			connected = append(connected, b)
		case blockchain.NTBlockDisconnected:
			if k := len(connected); k > 0 && *connected[k-1].Hash() == *b.Hash() {
				connected = connected[:k-1]
				ev.Connected = ev.Connected[:k-1]
				continue
			}
			ev.Disconnected = append(ev.Disconnected, *b.Hash())
			disconnected = append(disconnected, b)
		}
	}
	// What btcd's server does for each connected block: drop the mined transactions,
	// their double spends and orphans, and accept the orphans they unlock. Transactions
	// of disconnected blocks are not put back: the broker re-adds its own orders, and a
	// transaction in both the mempool and an order would appear twice in a block.
	for _, b := range connected {
		for _, tx := range b.Transactions()[1:] {
			c.pool.RemoveTransaction(tx, false)
			c.pool.RemoveDoubleSpends(tx)
			c.pool.RemoveOrphan(tx)
			c.pool.ProcessOrphans(tx)
		}
	}
	if len(disconnected) > 0 {
		if err := c.rescanCoins(); err != nil {
			c.log.Error("faucet rescan after reorg", "err", err)
		}
	} else {
		for _, b := range connected {
			c.trackCoins(b)
		}
	}
	ev.Tip = c.tipLocked()
	if len(ev.Disconnected) > 0 {
		c.log.Info("reorganization", "disconnected", len(ev.Disconnected), "connected", len(ev.Connected),
			"tip", ev.Tip.Hash.String(), "height", ev.Tip.Height)
	} else {
		c.log.Debug("new tip", "tip", ev.Tip.Hash.String(), "height", ev.Tip.Height)
	}
	if len(ev.Connected) > 0 || len(ev.Disconnected) > 0 {
		c.publish(ev)
	}
}

// Block returns a stored block (main or side chain) and its height, -1 when it is not
// in the main chain.
func (c *Chain) Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, int32, error) {
	if err := c.rlock(ctx); err != nil {
		return nil, 0, err
	}
	defer c.mu.RUnlock()
	var raw []byte
	err := c.db.View(func(tx database.Tx) error {
		b, err := tx.FetchBlock(&hash)
		raw = bytes.Clone(b)
		return err
	})
	if err != nil {
		var dbErr database.Error
		if errors.As(err, &dbErr) && dbErr.ErrorCode == database.ErrBlockNotFound {
			return nil, 0, fmt.Errorf("embedded: block %s: %w", hash, ErrUnknownBlock)
		}
		return nil, 0, fmt.Errorf("embedded: block %s: %w", hash, err)
	}
	var mb wire.MsgBlock
	if err := mb.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, 0, fmt.Errorf("embedded: decode block %s: %w", hash, err)
	}
	height := int32(-1)
	if c.bc.MainChainHasBlock(&hash) {
		if h, err := c.bc.BlockHeightByHash(&hash); err == nil {
			height = h
		}
	}
	return &mb, height, nil
}

// TxStatus reports where txid is confirmed in the main chain, from the transaction
// index; hint, when not zero, is searched when the index does not know txid.
func (c *Chain) TxStatus(ctx context.Context, txid chainhash.Hash, hint chainhash.Hash) (chain.TxStatus, error) {
	if err := c.rlock(ctx); err != nil {
		return chain.TxStatus{}, err
	}
	defer c.mu.RUnlock()
	best := c.bc.BestSnapshot()
	status := func(block chainhash.Hash) (chain.TxStatus, bool) {
		if !c.bc.MainChainHasBlock(&block) {
			return chain.TxStatus{}, false
		}
		h, err := c.bc.BlockHeightByHash(&block)
		if err != nil {
			return chain.TxStatus{}, false
		}
		return chain.TxStatus{Confirmed: true, BlockHash: block, Height: h, Confirmations: best.Height - h + 1}, true
	}
	region, err := c.txIndex.TxBlockRegion(&txid)
	if err != nil {
		return chain.TxStatus{}, fmt.Errorf("embedded: transaction index: %w", err)
	}
	if region != nil {
		if s, ok := status(*region.Hash); ok {
			return s, nil
		}
	}
	if hint != (chainhash.Hash{}) && c.bc.MainChainHasBlock(&hint) {
		b, err := c.bc.BlockByHash(&hint)
		if err == nil {
			for _, tx := range b.Transactions() {
				if *tx.Hash() == txid {
					if s, ok := status(hint); ok {
						return s, nil
					}
				}
			}
		}
	}
	return chain.TxStatus{}, nil
}

// AcceptToMempool checks tx like CheckTx and adds it to the node's mempool, so that
// templates and Generate include it. The transaction is in the journal before it is
// added: after a crash, Open puts it back until a block confirms it.
func (c *Chain) AcceptToMempool(ctx context.Context, tx *wire.MsgTx) error {
	if _, err := c.CheckTx(ctx, tx, nil); err != nil {
		return err
	}
	if err := c.rlock(ctx); err != nil {
		return err
	}
	defer c.mu.RUnlock()
	if err := c.journalTx(tx); err != nil {
		return err
	}
	if _, err := c.pool.ProcessTransaction(btcutil.NewTx(tx), false, false, 0); err != nil {
		return &chain.TxError{Reason: chain.TxInvalid, Message: "mempool refused it: " + err.Error(), Err: err}
	}
	return nil
}

// MempoolTxids lists the transactions in the node's mempool.
func (c *Chain) MempoolTxids() []chainhash.Hash {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []chainhash.Hash
	for _, h := range c.pool.TxHashes() {
		out = append(out, *h)
	}
	return out
}
