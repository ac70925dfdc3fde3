package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// openStorage opens the journal and the block database, creating both for a new chain
// (the journal first, so that a data directory with a block database and no journal
// is one from before the journal), replays the blocks the database lost and restores
// the mempool and the faucet's reservations.
func (c *Chain) openStorage(ctx context.Context) error {
	jpath := filepath.Join(c.dir, journalName)
	jExists, err := pathExists(jpath)
	if err != nil {
		return err
	}
	dbExists, err := pathExists(filepath.Join(c.dir, dbDirName))
	if err != nil {
		return err
	}
	genesis := *c.params.GenesisHash
	var st *journalState
	switch {
	case jExists:
		if st, err = readJournal(jpath); err != nil {
			return err
		}
		if st.genesis != genesis {
			return fmt.Errorf("embedded: the chain journal in %s belongs to a chain with genesis %s, not the %s network's %s (another network or difficulty?)",
				c.dir, st.genesis, c.params.Name, genesis)
		}
		if st.dropped > 0 {
			c.log.Warn("chain journal ended with a torn record (a crash while writing it); cut off", "bytes", st.dropped)
		}
		if !dbExists && st.baseHeight > 0 {
			return fmt.Errorf("embedded: the block database %s is missing; the chain journal only holds blocks above height %d (block %s), so the chain cannot be rebuilt: %w",
				filepath.Join(c.dir, dbDirName), st.baseHeight, st.base, errJournalDamaged)
		}
	case !dbExists:
		st = newJournalState(genesis, genesis, 0)
		if c.journal, err = writeJournal(jpath, st); err != nil {
			return err
		}
	}
	// The database may be created when the journal holds every block since genesis.
	if err := c.openChain(ctx, st != nil && st.baseHeight == 0); err != nil {
		return err
	}
	if st == nil {
		return c.adoptChain(jpath)
	}
	if len(st.blocks) > 0 {
		if err := c.replay(st); err != nil {
			return err
		}
	}
	if _, err := c.bc.HeaderByHash(&st.base); err != nil {
		best := c.bc.BestSnapshot()
		return fmt.Errorf("embedded: the block database in %s lost blocks the chain journal relies on: it does not know block %s at height %d (its tip is %s at height %d): %w",
			c.dir, st.base, st.baseHeight, best.Hash, best.Height, errJournalDamaged)
	}
	if len(st.blocks) > 0 {
		// Make the replayed blocks durable in the database and start a short journal.
		if err := c.checkpoint(ctx, st); err != nil {
			return err
		}
	} else if c.journal == nil {
		if c.journal, err = openJournal(jpath); err != nil {
			return err
		}
	}
	c.restore(st)
	return nil
}

// adoptChain starts a journal for a block database from before the journal existed.
// One at height 0 is refused: it is either a chain that lost its blocks or a first start
// that never finished, and which of the two cannot be told.
func (c *Chain) adoptChain(jpath string) error {
	best := c.bc.BestSnapshot()
	if best.Height == 0 {
		return fmt.Errorf("embedded: the block database in %s holds only the genesis block and there is no chain journal: its blocks were lost (a crash of a powbroker older than the journal) or its first start never finished; move %s away to start a new chain: %w",
			c.dir, c.dir, errJournalDamaged)
	}
	var err error
	c.journal, err = writeJournal(jpath, newJournalState(*c.params.GenesisHash, best.Hash, best.Height))
	if err == nil {
		c.log.Info("chain journal started for an existing block database", "height", best.Height, "tip", best.Hash.String())
	}
	return err
}

// replay processes the journal's blocks that the database does not hold, in the order
// they were first processed, so that btcd picks the same best chain. A block that was
// accepted before and is refused now means the data directory is damaged.
func (c *Chain) replay(st *journalState) error {
	var stored []chainhash.Hash // in the block index, not on the main chain
	replayed, refused := 0, 0
	for _, mb := range st.blocks {
		b := btcutil.NewBlock(mb)
		hash := *b.Hash()
		if c.bc.MainChainHasBlock(&hash) {
			continue
		}
		_, isOrphan, err := c.bc.ProcessBlock(b, blockchain.BFNone)
		var re blockchain.RuleError
		switch {
		case err != nil && errors.As(err, &re) && re.ErrorCode == blockchain.ErrDuplicateBlock:
			stored = append(stored, hash)
		case err != nil && st.accepted[hash]:
			return fmt.Errorf("embedded: replaying the chain journal: block %s was accepted before and is refused now: %v: %w",
				hash, err, errJournalDamaged)
		case err != nil:
			refused++ // refused the first time too (or never decided: a crash during ProcessBlock)
			c.log.Debug("journal block refused again", "block", hash.String(), "err", err)
		case isOrphan:
			refused++
		default:
			replayed++
		}
	}
	// A block whose index entry reached the database while its connection did not is
	// known but not connected: btcd's reconsider connects its branch when it has the
	// most work.
	for i := range stored {
		if !c.bc.MainChainHasBlock(&stored[i]) {
			if err := c.bc.ReconsiderBlock(&stored[i]); err != nil {
				return fmt.Errorf("embedded: replaying the chain journal: reconsider block %s: %w", stored[i], err)
			}
		}
	}
	for h := range st.accepted {
		if _, err := c.bc.HeaderByHash(&h); err != nil {
			return fmt.Errorf("embedded: replaying the chain journal: block %s was accepted before and is unknown now: %w", h, errJournalDamaged)
		}
	}
	best := c.bc.BestSnapshot()
	c.log.Info("chain journal replayed after an unclean shutdown", "journal_blocks", len(st.blocks),
		"replayed", replayed, "refused", refused, "height", best.Height, "tip", best.Hash.String())
	return nil
}

// checkpoint closes the database cleanly (btcd writes its caches), rewrites the journal
// from the tip with st's transactions and reservations, and opens the database again.
func (c *Chain) checkpoint(ctx context.Context, st *journalState) error {
	best := c.bc.BestSnapshot()
	if err := c.closeDB(); err != nil {
		return fmt.Errorf("embedded: checkpoint: %w", err)
	}
	c.db = nil
	next := newJournalState(st.genesis, best.Hash, best.Height)
	next.txs, next.reserved = st.txs, st.reserved
	if c.journal != nil {
		_ = c.journal.close()
	}
	var err error
	if c.journal, err = writeJournal(filepath.Join(c.dir, journalName), next); err != nil {
		return err
	}
	return c.openChain(ctx, false)
}

func (c *Chain) checkpointBlocks() int {
	if c.cfg.CheckpointBlocks > 0 {
		return c.cfg.CheckpointBlocks
	}
	return DefaultCheckpointBlocks
}

// checkpointRunning is checkpoint for a running chain: the database is closed cleanly
// and opened again, the journal rewritten from the tip, and the mempool's transactions
// put back into the new mempool. When the database cannot be closed the journal is
// kept whole; when it cannot be opened again the chain closes (every call then fails
// with ErrClosed; the next Open recovers from the journal). c.mu must be held for
// writing.
func (c *Chain) checkpointRunning() {
	start := time.Now()
	best := c.bc.BestSnapshot()
	txs := c.mempoolInOrder()
	err := c.closeDB()
	if err == nil {
		err = c.rewriteJournal(best, txs)
		c.journaled = 0
	}
	if err != nil {
		c.log.Error("checkpoint: the journal keeps every block", "err", err)
	}
	if err := c.openChain(c.ctx, false); err != nil {
		c.log.Error("checkpoint: the block database did not open again; the chain is closed", "err", err)
		c.closed = true
		c.cancel()
		return
	}
	c.bc.Subscribe(c.onNotification)
	c.restore(&journalState{txs: txs})
	c.log.Info("checkpoint", "height", best.Height, "tip", best.Hash.String(), "mempool", len(txs),
		"elapsed", time.Since(start).Round(time.Millisecond))
}

// restore puts the journal's transactions back into the mempool (in the order they
// first came, so parents come before children) and restores the faucet's
// reservations. Transactions the chain confirmed or now refuses are left out.
func (c *Chain) restore(st *journalState) {
	back := 0
	for _, tx := range st.txs {
		if region, err := c.txIndex.TxBlockRegion(ptr(tx.TxHash())); err == nil && region != nil {
			continue
		}
		if _, err := c.pool.ProcessTransaction(btcutil.NewTx(tx), false, false, 0); err != nil {
			c.log.Debug("journal transaction not restored", "txid", tx.TxHash().String(), "err", err)
			continue
		}
		back++
	}
	c.faucetMu.Lock()
	for op, at := range st.reserved {
		c.reserved[op] = reservation{at: at}
	}
	c.faucetMu.Unlock()
	if back > 0 || len(st.reserved) > 0 {
		c.log.Info("mempool and faucet reservations restored", "transactions", back, "reservations", len(st.reserved))
	}
}

func ptr[T any](v T) *T { return &v }

// closeDB writes btcd's UTXO cache and ffldb's metadata cache (ffldb writes it at
// Close) and syncs the database files.
func (c *Chain) closeDB() error {
	err := c.bc.FlushUtxoCache(blockchain.FlushRequired)
	if cerr := c.db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncTree(filepath.Join(c.dir, dbDirName))
	}
	return err
}

// closeStorage closes what openStorage opened, after a failed Open.
func (c *Chain) closeStorage() {
	if c.db != nil {
		if c.bc != nil {
			_ = c.bc.FlushUtxoCache(blockchain.FlushRequired)
		}
		_ = c.db.Close()
	}
	if c.journal != nil {
		_ = c.journal.close()
	}
}

// rewriteJournal replaces the journal by one based on tip, holding the mempool's
// transactions txs and the faucet's reservations. The database must hold tip durably.
func (c *Chain) rewriteJournal(tip *blockchain.BestState, txs []*wire.MsgTx) error {
	st := newJournalState(*c.params.GenesisHash, tip.Hash, tip.Height)
	st.txs = txs
	c.faucetMu.Lock()
	now := time.Now()
	for op, r := range c.reserved {
		if r.taken(now) {
			st.reserved[op] = r.at
		}
	}
	c.faucetMu.Unlock()
	_ = c.journal.close()
	j, err := writeJournal(filepath.Join(c.dir, journalName), st)
	if err != nil {
		return err
	}
	c.journal = j
	return nil
}

// mempoolInOrder lists the mempool's transactions with every parent before its
// children.
func (c *Chain) mempoolInOrder() []*wire.MsgTx {
	descs := c.pool.TxDescs()
	sort.Slice(descs, func(i, j int) bool {
		if !descs[i].Added.Equal(descs[j].Added) {
			return descs[i].Added.Before(descs[j].Added)
		}
		return bytes.Compare(descs[i].Tx.Hash()[:], descs[j].Tx.Hash()[:]) < 0
	})
	byID := make(map[chainhash.Hash]*wire.MsgTx, len(descs))
	for _, d := range descs {
		byID[*d.Tx.Hash()] = d.Tx.MsgTx()
	}
	out := make([]*wire.MsgTx, 0, len(descs))
	done := make(map[chainhash.Hash]bool, len(descs))
	var visit func(id chainhash.Hash, tx *wire.MsgTx)
	visit = func(id chainhash.Hash, tx *wire.MsgTx) {
		if done[id] {
			return
		}
		done[id] = true
		for _, in := range tx.TxIn {
			if p, ok := byID[in.PreviousOutPoint.Hash]; ok {
				visit(in.PreviousOutPoint.Hash, p)
			}
		}
		out = append(out, tx)
	}
	for _, d := range descs {
		visit(*d.Tx.Hash(), d.Tx.MsgTx())
	}
	return out
}

// journalBlock records b in the journal, synced, before ProcessBlock sees it. Blocks
// ProcessBlock would not store are not recorded: known blocks, orphans (btcd keeps
// those in memory only) and blocks that fail btcd's sanity checks.
func (c *Chain) journalBlock(b *btcutil.Block) (bool, error) {
	if have, err := c.bc.HaveBlock(b.Hash()); err != nil || have {
		return false, nil
	}
	prev := b.MsgBlock().Header.PrevBlock
	if have, err := c.bc.HaveBlock(&prev); err != nil || !have {
		return false, nil
	}
	if err := blockchain.CheckBlockSanity(b, c.params.PowLimit, c.timeSource); err != nil {
		return false, nil
	}
	raw, err := b.Bytes()
	if err != nil {
		return false, fmt.Errorf("embedded: serialize block: %w", err)
	}
	if err := c.journal.append(recBlock, raw, true); err != nil {
		return false, fmt.Errorf("embedded: block %s not processed: %w", b.Hash(), err)
	}
	return true, nil
}

// journalTx records tx in the journal, synced, before it enters the mempool.
func (c *Chain) journalTx(tx *wire.MsgTx) error {
	var raw bytes.Buffer
	if err := tx.Serialize(&raw); err != nil {
		return fmt.Errorf("embedded: serialize transaction: %w", err)
	}
	if err := c.journal.append(recTx, raw.Bytes(), true); err != nil {
		return fmt.Errorf("embedded: transaction %s not added to the mempool: %w", tx.TxHash(), err)
	}
	return nil
}

func pathExists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("embedded: %w", err)
	}
}
