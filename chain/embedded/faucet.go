package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/mempool"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// minChange is the smallest change output Faucet makes; a coin that would leave less
// (but more than nothing) is skipped so that no output is dust.
const minChange = 1000

// reservationDepth is how many blocks a faucet reservation is kept after its coin was
// seen spent, in case a reorganization unspends it.
const reservationDepth = 100

// reservationTTL is how long a faucet output handed out stays reserved while it is not
// spent in the chain: a faucet transaction nobody used must not lock its coin forever.
// (The broker also never hands out a coin one of its active orders spends.)
const reservationTTL = 24 * time.Hour

// reservation is a faucet output handed out by Faucet.
type reservation struct {
	at      time.Time // when it was handed out
	spentAt int32     // height of the block that spent it, 0 while unspent
}

// taken tells whether the reservation still holds its coin at now.
func (r reservation) taken(now time.Time) bool {
	return r.spentAt > 0 || now.Sub(r.at) < reservationTTL
}

// faucetCoin is an unspent output paying the faucet key.
type faucetCoin struct {
	value    int64
	height   int32
	coinbase bool
}

// loadOrCreateKey reads the faucet key (WIF text) from path, creating it (mode 0600)
// the first time.
func loadOrCreateKey(path string, params *chaincfg.Params) (*btcec.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		wif, err := btcutil.DecodeWIF(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, fmt.Errorf("embedded: faucet key %s: %w", path, err)
		}
		return wif.PrivKey, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("embedded: faucet key: %w", err)
	}
	key, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, fmt.Errorf("embedded: new faucet key: %w", err)
	}
	wif, err := btcutil.NewWIF(key, params, true)
	if err != nil {
		return nil, fmt.Errorf("embedded: encode faucet key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded: create faucet key: %w", err)
	}
	if _, err := f.WriteString(wif.String() + "\n"); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("embedded: write faucet key: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("embedded: write faucet key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("embedded: write faucet key: %w", err)
	}
	return key, nil
}

// rescanCoins rebuilds the set of unspent faucet outputs from the main chain.
// c.mu must be held for writing (or the chain not yet shared).
func (c *Chain) rescanCoins() error {
	best := c.bc.BestSnapshot()
	c.faucetMu.Lock()
	c.coins = make(map[wire.OutPoint]faucetCoin)
	c.faucetMu.Unlock()
	for h := int32(1); h <= best.Height; h++ {
		b, err := c.bc.BlockByHeight(h)
		if err != nil {
			return fmt.Errorf("embedded: faucet scan at height %d: %w", h, err)
		}
		c.trackCoins(b)
	}
	return nil
}

// trackCoins applies a newly connected main-chain block to the faucet's coins.
func (c *Chain) trackCoins(b *btcutil.Block) {
	c.faucetMu.Lock()
	defer c.faucetMu.Unlock()
	for op, r := range c.reserved {
		if r.spentAt > 0 && b.Height()-r.spentAt > reservationDepth {
			delete(c.reserved, op)
		}
	}
	for i, tx := range b.Transactions() {
		if i > 0 {
			for _, in := range tx.MsgTx().TxIn {
				op := in.PreviousOutPoint
				delete(c.coins, op)
				// A reservation outlives the spend: a reorganization may unspend the
				// coin while the faucet transaction is still out there.
				if r, ok := c.reserved[op]; ok {
					r.spentAt = b.Height()
					c.reserved[op] = r
				}
			}
		}
		for j, out := range tx.MsgTx().TxOut {
			if bytes.Equal(out.PkScript, c.faucetScript) {
				c.coins[wire.OutPoint{Hash: *tx.Hash(), Index: uint32(j)}] = faucetCoin{
					value: out.Value, height: b.Height(), coinbase: i == 0,
				}
			}
		}
	}
}

// Faucet returns a signed transaction that pays amount satoshi to a fresh address,
// sends the change back to the faucet and pays exactly fee satoshi (0 is allowed). It
// spends one mature faucet output that no earlier Faucet call handed out while it is
// still unspent (for reservationTTL at most). Reservations are in the journal before
// the transaction is returned, so they hold across restarts and crashes. The
// transaction is not put in the mempool.
func (c *Chain) Faucet(ctx context.Context, amount, fee int64) (*wire.MsgTx, error) {
	key, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, fmt.Errorf("embedded: fresh key: %w", err)
	}
	addr, err := btcutil.NewAddressPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), c.params)
	if err != nil {
		return nil, fmt.Errorf("embedded: fresh address: %w", err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded: fresh script: %w", err)
	}
	return c.FaucetTo(ctx, script, amount, fee)
}

// FaucetTo is Faucet paying to the output script pkScript.
func (c *Chain) FaucetTo(ctx context.Context, pkScript []byte, amount, fee int64) (*wire.MsgTx, error) {
	out := wire.NewTxOut(amount, pkScript)
	switch {
	case amount <= 0:
		return nil, fmt.Errorf("embedded: faucet amount must be positive, got %d", amount)
	case fee < 0:
		return nil, fmt.Errorf("embedded: faucet fee must not be negative, got %d", fee)
	case amount > btcutil.MaxSatoshi || fee > btcutil.MaxSatoshi:
		return nil, fmt.Errorf("embedded: faucet amount %d or fee %d is too large", amount, fee)
	case mempool.IsDust(out, mempool.DefaultMinRelayTxFee):
		return nil, fmt.Errorf("embedded: faucet amount %d sat is dust for this output (at least %d sat)",
			amount, mempool.GetDustThreshold(out)*int64(mempool.DefaultMinRelayTxFee)/1000)
	}
	if err := c.rlock(ctx); err != nil {
		return nil, err
	}
	defer c.mu.RUnlock()
	nextHeight := c.bc.BestSnapshot().Height + 1
	maturity := int32(c.params.CoinbaseMaturity)

	c.faucetMu.Lock()
	defer c.faucetMu.Unlock()
	ops := make([]wire.OutPoint, 0, len(c.coins))
	for op := range c.coins {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		a, b := c.coins[ops[i]], c.coins[ops[j]]
		if a.height != b.height {
			return a.height < b.height
		}
		if cmp := bytes.Compare(ops[i].Hash[:], ops[j].Hash[:]); cmp != 0 {
			return cmp < 0
		}
		return ops[i].Index < ops[j].Index
	})
	need := amount + fee
	var (
		pick   wire.OutPoint
		coin   faucetCoin
		found  bool
		mature int
	)
	now := time.Now()
	for _, op := range ops {
		k := c.coins[op]
		if r, ok := c.reserved[op]; ok && r.taken(now) {
			continue
		}
		if k.coinbase && nextHeight-k.height < maturity {
			continue
		}
		mature++
		if change := k.value - need; change != 0 && change < minChange {
			continue
		}
		if e, err := c.bc.FetchUtxoEntry(op); err != nil || e == nil || e.IsSpent() {
			continue
		}
		pick, coin, found = op, k, true
		break
	}
	if !found {
		return nil, fmt.Errorf("embedded: faucet needs one output of %d sat (amount %d + fee %d) and has %d mature unreserved outputs, none large enough: %w",
			need, amount, fee, mature, ErrNoFaucetCoin)
	}

	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&pick, nil, nil))
	tx.AddTxOut(out)
	if change := coin.value - need; change > 0 {
		tx.AddTxOut(wire.NewTxOut(change, c.faucetScript))
	}
	sig, err := txscript.SignatureScript(tx, 0, c.faucetScript, txscript.SigHashAll, c.faucetKey, true)
	if err != nil {
		return nil, fmt.Errorf("embedded: sign faucet transaction: %w", err)
	}
	tx.TxIn[0].SignatureScript = sig
	if err := c.journal.append(recReserve, encodeReservation(pick, now), true); err != nil {
		return nil, fmt.Errorf("embedded: faucet reservation not recorded: %w", err)
	}
	c.reserved[pick] = reservation{at: now}
	c.log.Debug("faucet", "txid", tx.TxHash().String(), "spends", pick.String(), "amount", amount, "fee", fee)
	return tx, nil
}

// FaucetBalance returns the total of the faucet's unspent outputs and how much of it is
// mature and not handed out.
func (c *Chain) FaucetBalance(ctx context.Context) (total, available int64, err error) {
	if err := c.rlock(ctx); err != nil {
		return 0, 0, err
	}
	defer c.mu.RUnlock()
	nextHeight := c.bc.BestSnapshot().Height + 1
	c.faucetMu.Lock()
	defer c.faucetMu.Unlock()
	now := time.Now()
	for op, k := range c.coins {
		total += k.value
		if r, ok := c.reserved[op]; ok && r.taken(now) {
			continue
		}
		if k.coinbase && nextHeight-k.height < int32(c.params.CoinbaseMaturity) {
			continue
		}
		available += k.value
	}
	return total, available, nil
}
