package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	_ "github.com/mattn/go-sqlite3" // the store's SQLite file, read directly

	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/chain/embedded"
)

// cycleCheck is what one check found.
type cycleCheck struct {
	Cycle     int      `json:"cycle"`
	UpSeconds float64  `json:"up_seconds"`
	Acked     int64    `json:"shares_acknowledged"` // newly read from the share logs
	Lost      int64    `json:"shares_lost"`
	Orders    int      `json:"orders"`
	Blocks    int      `json:"blocks"` // counted as found before the kill, checked on the chain
	Tip       int32    `json:"tip_height"`
	CheckSec  float64  `json:"check_seconds"`
	Problems  []string `json:"problems,omitempty"`
	completed int      // orders mined or confirmed
}

func (c *cycleCheck) line() string {
	p := "ok"
	if len(c.Problems) > 0 {
		p = fmt.Sprintf("%d problems: %s", len(c.Problems), strings.Join(c.Problems[:min(3, len(c.Problems))], "; "))
	}
	return fmt.Sprintf("cycle %d: up %.1f s, %d shares acknowledged (%d lost), %d orders, %d blocks found, tip %d, checked in %.1f s: %s",
		c.Cycle, c.UpSeconds, c.Acked, c.Lost, c.Orders, c.Blocks, c.Tip, c.CheckSec, p)
}

func (c *cycleCheck) problem(format string, args ...any) {
	if len(c.Problems) < 50 {
		c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
	}
}

func (s *soak) storePath() string { return filepath.Join(s.datadir, "private", "powbroker.sqlite") }

// check reads the share logs and the store (while the daemon runs: SQLite readers see
// committed transactions) and opens the chain in chainRoot (a copy of the data
// directory's chain as the kill left it, or the data directory itself at the end).
// Blocks counted as found before are checked on it.
func (s *soak) check(ctx context.Context, chainRoot string, before time.Time) (*cycleCheck, error) {
	c := &cycleCheck{}
	t0 := time.Now()
	defer func() { c.CheckSec = time.Since(t0).Seconds() }()
	db, err := sql.Open("sqlite3", "file:"+s.storePath()+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	if err := s.checkShares(ctx, db, c); err != nil {
		return nil, err
	}
	blocks, err := s.checkOrders(ctx, db, c)
	if err != nil {
		return nil, err
	}
	if err := s.checkBlocks(ctx, chainRoot, blocks, before, c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkShares reads every share log from where the last check stopped; every share
// the pool acknowledged as accepted must be a row of the store for the miner's order.
func (s *soak) checkShares(ctx context.Context, db *sql.DB, c *cycleCheck) error {
	stmt, err := db.PrepareContext(ctx, `SELECT order_id FROM shares WHERE header_hash = ?`)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer stmt.Close()
	s.mu.Lock()
	orders := append([]*soakOrder(nil), s.orders...)
	s.mu.Unlock()
	for _, o := range orders {
		s.mu.Lock()
		logs := append([]*shareLogFile(nil), o.logs...)
		s.mu.Unlock()
		for _, lf := range logs {
			hashes, err := lf.readAccepted()
			if err != nil {
				return err
			}
			for _, h := range hashes {
				var owner string
				switch err := stmt.QueryRowContext(ctx, h[:]).Scan(&owner); {
				case err == sql.ErrNoRows:
					c.Lost++
					c.problem("share %s acknowledged to order %s is not in the store", displayHex(h), o.id)
				case err != nil:
					return fmt.Errorf("store: %w", err)
				case owner != o.id:
					c.Lost++
					c.problem("share %s acknowledged to order %s is stored for order %s", displayHex(h), o.id, owner)
				}
			}
			c.Acked += int64(len(hashes))
			o.acked += int64(len(hashes))
		}
	}
	return nil
}

// readAccepted reads the whole lines added since the last read and returns the header
// hashes (internal byte order) of the accepted shares.
func (lf *shareLogFile) readAccepted() ([][32]byte, error) {
	f, err := os.Open(lf.path)
	if os.IsNotExist(err) {
		return nil, nil // the miner has not started yet
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(lf.off, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	end := bytes.LastIndexByte(data, '\n') + 1
	lf.off += int64(end)
	var out [][32]byte
	sc := bufio.NewScanner(bytes.NewReader(data[:end]))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[1] != "accepted" {
			continue
		}
		raw, err := hex.DecodeString(f[0])
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("%s: bad share line %q", lf.path, sc.Text())
		}
		var h [32]byte
		for i := range raw {
			h[i] = raw[31-i]
		}
		out = append(out, h)
	}
	return out, nil
}

func displayHex(h [32]byte) string {
	var d [32]byte
	for i := range h {
		d[i] = h[31-i]
	}
	return hex.EncodeToString(d[:])
}

// storedOrder is an order row with its shares and events.
type storedOrder struct {
	id, state, blockHash    string
	required, credited, sum float64
	shares, rows            int64
	events                  [][2]string // from, to
}

// checkOrders reads the orders, their shares and events and the blocks in one read
// transaction and checks that every order is whole. It returns the blocks: hash ->
// accepted, found at (Unix ns).
func (s *soak) checkOrders(ctx context.Context, db *sql.DB, c *cycleCheck) (map[string]storedBlock, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	orders, err := readOrders(ctx, tx)
	if err != nil {
		return nil, err
	}
	blocks, err := readBlocks(ctx, tx)
	if err != nil {
		return nil, err
	}
	c.Orders = len(orders)
	for hash, b := range blocks {
		if s.final && b.submitted {
			c.problem("block %s is still recorded as submitted after a clean stop", hash)
		}
	}
	for _, o := range orders {
		checkOrder(o, blocks, s.final, c)
		switch {
		case o.state == "mined" || o.state == "confirmed":
			c.completed++
		case s.final:
			c.problem("order %s ended the soak %s, not mined", o.id, o.state)
		}
	}
	return blocks, nil
}

// checkOrder checks one order: counters against its share rows, its events as one
// chain ending at its state, its work against its state, its block.
func checkOrder(o *storedOrder, blocks map[string]storedBlock, final bool, c *cycleCheck) {
	if o.shares != o.rows {
		c.problem("order %s counts %d shares but the store holds %d", o.id, o.shares, o.rows)
	}
	if math.Abs(o.credited-o.sum) > 1e-9*math.Max(o.sum, 1e-12) {
		c.problem("order %s is credited %g work but its shares add up to %g", o.id, o.credited, o.sum)
	}
	prev := ""
	for i, e := range o.events {
		if e[0] != prev {
			c.problem("order %s event %d goes from %q, but the one before went to %q", o.id, i, e[0], prev)
		}
		prev = e[1]
	}
	if prev != o.state {
		c.problem("order %s is %s but its last event went to %q", o.id, o.state, prev)
	}
	const eps = 1e-12
	switch o.state {
	case "working":
		if o.credited >= o.required*(1+1e-9)+eps {
			c.problem("order %s is working with %g of %g work", o.id, o.credited, o.required)
		}
	case "mined", "confirmed":
		// A running daemon may have marked the order mined while the chain's answer to
		// its block is still being recorded; stopped, every block has its answer.
		b, ok := blocks[o.blockHash]
		if !ok || !(b.accepted || (!final && b.submitted)) {
			c.problem("order %s is %s in block %q, which the broker did not count as found", o.id, o.state, o.blockHash)
		}
	}
}

func readOrders(ctx context.Context, tx *sql.Tx) (map[string]*storedOrder, error) {
	orders := map[string]*storedOrder{}
	rows, err := tx.QueryContext(ctx, `SELECT id, state, required_work, credited_work, shares, block_hash FROM orders`)
	if err != nil {
		return nil, fmt.Errorf("store: orders: %w", err)
	}
	for rows.Next() {
		o := &storedOrder{}
		if err := rows.Scan(&o.id, &o.state, &o.required, &o.credited, &o.shares, &o.blockHash); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: orders: %w", err)
		}
		orders[o.id] = o
	}
	rows.Close()
	if rows, err = tx.QueryContext(ctx, `SELECT order_id, COUNT(*), COALESCE(SUM(difficulty), 0) FROM shares GROUP BY order_id`); err != nil {
		return nil, fmt.Errorf("store: shares: %w", err)
	}
	for rows.Next() {
		var id string
		var n int64
		var sum float64
		if err := rows.Scan(&id, &n, &sum); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: shares: %w", err)
		}
		if o := orders[id]; o != nil {
			o.rows, o.sum = n, sum
		}
	}
	rows.Close()
	if rows, err = tx.QueryContext(ctx, `SELECT order_id, from_state, to_state FROM order_events ORDER BY order_id, seq`); err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, from, to string
		if err := rows.Scan(&id, &from, &to); err != nil {
			return nil, fmt.Errorf("store: events: %w", err)
		}
		if o := orders[id]; o != nil {
			o.events = append(o.events, [2]string{from, to})
		}
	}
	return orders, rows.Err()
}

// storedBlock is a row of the blocks table.
type storedBlock struct {
	accepted  bool
	submitted bool  // recorded before the chain's answer (broker.SubmittedBlockReason)
	foundAt   int64 // Unix ns
}

func readBlocks(ctx context.Context, tx *sql.Tx) (map[string]storedBlock, error) {
	rows, err := tx.QueryContext(ctx, `SELECT hash, accepted, reason, found_at FROM blocks`)
	if err != nil {
		return nil, fmt.Errorf("store: blocks: %w", err)
	}
	defer rows.Close()
	out := map[string]storedBlock{}
	for rows.Next() {
		var h, reason string
		var b storedBlock
		if err := rows.Scan(&h, &b.accepted, &reason, &b.foundAt); err != nil {
			return nil, fmt.Errorf("store: blocks: %w", err)
		}
		b.submitted = reason == broker.SubmittedBlockReason
		out[h] = b
	}
	return out, rows.Err()
}

// checkBlocks opens the chain under root and checks that every block counted as found
// before the given time is on its main chain.
func (s *soak) checkBlocks(ctx context.Context, root string, blocks map[string]storedBlock, before time.Time, c *cycleCheck) error {
	bits, err := strconv.ParseUint(s.opt.bits, 16, 32)
	if err != nil {
		return fmt.Errorf("--private-bits: %w", err)
	}
	ch, err := embedded.Open(ctx, embedded.Config{DataDir: root, Net: "private", PrivateBits: uint32(bits), Threads: 1})
	if err != nil {
		c.problem("the chain as the kill left it does not open: %v", err)
		return nil
	}
	defer ch.Close()
	tip, err := ch.Tip(ctx)
	if err != nil {
		return err
	}
	c.Tip = tip.Height
	for hash, b := range blocks {
		if !b.accepted || b.foundAt > before.UnixNano() {
			continue
		}
		c.Blocks++
		var h chainhash.Hash
		if err := chainhash.Decode(&h, hash); err != nil {
			c.problem("block %q: %v", hash, err)
			continue
		}
		if _, height, err := ch.Block(ctx, h); err != nil || height < 0 {
			c.problem("block %s counted as found is not on the main chain (height %d, %v)", hash, height, err)
		}
	}
	return nil
}

// copyChain copies the chain of datadir (database, journal, faucet key; not the
// store) to root, as embedded.Open expects it.
func copyChain(datadir, root string) error {
	src := filepath.Join(datadir, "private")
	dst := filepath.Join(root, "private")
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	for _, name := range []string{"blocks_ffldb", "journal", "faucet.key"} {
		if _, err := os.Stat(filepath.Join(src, name)); os.IsNotExist(err) {
			continue
		}
		err := filepath.Walk(filepath.Join(src, name), func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, path)
			if info.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o700)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
		})
		if err != nil {
			return fmt.Errorf("copy the chain: %w", err)
		}
	}
	return nil
}
