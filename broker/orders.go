package broker

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/chain"
)

// TokenPrefix starts every order token.
const TokenPrefix = "pow_"

// Quote is the price of a transaction, computed before anything is stored.
type Quote struct {
	Txid         string
	Fee          int64
	VSize        int64
	Weight       int64
	RequiredWork float64
	// ExpectedHashes is RequiredWork in hashes (one unit = 2^32 hashes).
	ExpectedHashes  float64
	ShareDifficulty float64
	// Settlement says whether the order could be settled by fee.
	Settlement Settlement
}

// ParseTx decodes a hex transaction strictly: valid hex, a whole transaction, no
// trailing bytes, at most maxBytes.
func ParseTx(hexTx string, maxBytes int) (*wire.MsgTx, []byte, error) {
	s := strings.TrimSpace(hexTx)
	if s == "" {
		return nil, nil, problem(KindInvalidHex, "the transaction is empty")
	}
	if len(s)%2 != 0 {
		return nil, nil, problem(KindInvalidHex, "the transaction hex has an odd number of digits (%d)", len(s))
	}
	if len(s)/2 > maxBytes {
		return nil, nil, problem(KindTxTooLarge, "the transaction is %d bytes; at most %d are accepted", len(s)/2, maxBytes)
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, nil, &Error{Kind: KindInvalidHex, Detail: "the transaction is not hex: " + err.Error(), Err: err}
	}
	tx, err := decodeTx(raw)
	if err != nil {
		return nil, nil, err
	}
	return tx, raw, nil
}

func decodeTx(raw []byte) (*wire.MsgTx, error) {
	r := bytes.NewReader(raw)
	tx := new(wire.MsgTx)
	if err := tx.Deserialize(r); err != nil {
		return nil, &Error{Kind: KindInvalidTx, Detail: "the bytes are not a transaction: " + err.Error(), Err: err}
	}
	if r.Len() != 0 {
		return nil, problem(KindTrailingBytes, "%d bytes follow the end of the transaction", r.Len())
	}
	if blockchain.IsCoinBaseTx(tx) {
		return nil, problem(KindInvalidTx, "a coinbase transaction cannot be ordered")
	}
	return tx, nil
}

var txReasonKind = map[chain.TxReason]Kind{
	chain.TxInvalid: KindInvalidTx, chain.TxMissingInputs: KindMissingInputs, chain.TxInputSpent: KindInputSpent,
	chain.TxConflict: KindConflict, chain.TxScript: KindScriptFailure, chain.TxNonStandard: KindNonStandard,
	chain.TxTooLarge: KindTxTooLarge, chain.TxImmature: KindImmatureSpend, chain.TxNotFinal: KindNotFinal,
	chain.TxAlreadyMined: KindAlreadyMined,
}

// checkTx validates tx against the chain and the active orders.
func (b *Broker) checkTx(ctx context.Context, tx *wire.MsgTx) (chain.TxCheck, error) {
	txid := tx.TxHash()
	b.mu.Lock()
	if _, ok := b.byTxid[txid]; ok {
		b.mu.Unlock()
		return chain.TxCheck{}, problem(KindDuplicateOrder, "transaction %s already has an active order", txid)
	}
	for _, in := range tx.TxIn {
		if _, ok := b.spends[in.PreviousOutPoint]; ok {
			b.mu.Unlock()
			return chain.TxCheck{}, problem(KindConflict, "input %s is already spent by the transaction of another active order", in.PreviousOutPoint)
		}
	}
	b.mu.Unlock()
	if err := b.nodeDown(); err != nil {
		// Fail fast: asking a node that does not answer would only wait for its timeout.
		return chain.TxCheck{}, &Error{Kind: KindNodeUnavailable, Detail: "the chain node does not answer: " + err.Error(), Err: err}
	}
	check, err := b.backend.CheckTx(ctx, tx, b.pendingTxs(""))
	if err != nil {
		var te *chain.TxError
		if errors.As(err, &te) {
			kind, ok := txReasonKind[te.Reason]
			if !ok {
				kind = KindInvalidTx
			}
			return check, &Error{Kind: kind, Detail: te.Message, Err: err}
		}
		if errors.Is(err, chain.ErrUnavailable) {
			return check, &Error{Kind: KindNodeUnavailable, Detail: "the chain node does not answer: " + err.Error(), Err: err}
		}
		return check, fmt.Errorf("check transaction: %w", err)
	}
	return check, nil
}

// pendingTxs are the active orders' transactions except the one of order skip.
func (b *Broker) pendingTxs(skip string) []*wire.MsgTx {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*wire.MsgTx, 0, len(b.active))
	for id, a := range b.active {
		if id != skip {
			out = append(out, a.tx)
		}
	}
	return out
}

// Quote prices a transaction without storing anything.
func (b *Broker) Quote(ctx context.Context, hexTx string) (*Quote, error) {
	tx, _, err := ParseTx(hexTx, b.cfg.MaxTxBytes)
	if err != nil {
		return nil, err
	}
	check, err := b.checkTx(ctx, tx)
	if err != nil {
		return nil, err
	}
	req := b.cfg.Pricing.Price(check.VSize, check.Fee)
	return &Quote{
		Txid: check.Txid.String(), Fee: check.Fee, VSize: check.VSize, Weight: check.Weight,
		RequiredWork: req, ExpectedHashes: req * 4294967296, ShareDifficulty: b.shareDifficulty(),
		Settlement: b.settlementOf(tx, req),
	}, nil
}

// Created is the result of creating an order.
type Created struct {
	Order      *Order
	Token      string
	Assignment *Assignment // nil when the order was already paid (replay)
	Replayed   bool        // the Idempotency-Key matched an earlier identical request
}

// CreateOrder validates the transaction, prices it and stores a working order. body is
// the request as received, hashed to detect an Idempotency-Key reused for another request.
func (b *Broker) CreateOrder(ctx context.Context, hexTx, idemKey string, body []byte) (*Created, error) {
	if err := b.Ready(); err != nil {
		return nil, err
	}
	reqHash := sha256.Sum256(body)
	if idemKey != "" {
		if len(idemKey) > 255 {
			return nil, problem(KindInvalidRequest, "Idempotency-Key is longer than 255 characters")
		}
		if prev, err := b.store.OrderByIdempotencyKey(ctx, idemKey); err == nil {
			if prev.RequestHash != reqHash {
				return nil, problem(KindIdempotencyMismatch, "Idempotency-Key %q was used for order %s with a different request body", idemKey, prev.ID)
			}
			return b.replay(ctx, prev)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	tx, raw, err := ParseTx(hexTx, b.cfg.MaxTxBytes)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	n := len(b.active)
	b.mu.Unlock()
	if n >= b.cfg.MaxActiveOrders {
		return nil, problem(KindSlowDown, "the broker already has %d active orders; try again later", n)
	}
	check, err := b.checkTx(ctx, tx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	id := randomID("ord_", 16)
	o := &Order{
		ID: id, TokenHash: sha256.Sum256([]byte(b.token(id))), State: StateWorking,
		Txid: check.Txid.String(), RawTx: raw, Fee: check.Fee, VSize: check.VSize,
		RequiredWork: b.cfg.Pricing.Price(check.VSize, check.Fee), CreatedAt: now,
		ExpiresAt: now.Add(b.cfg.OrderTTL.D()), IdempotencyKey: idemKey, RequestHash: reqHash, UpdatedAt: now,
	}
	stored, created, err := b.store.CreateOrder(ctx, o, fmt.Sprintf("order for %s: %.8g work units", o.Txid, o.RequiredWork))
	if errors.Is(err, ErrIdempotencyReplay) {
		return nil, problem(KindIdempotencyMismatch, "Idempotency-Key %q was used with a different request body", idemKey)
	}
	if err != nil {
		return nil, fmt.Errorf("store order: %w", err)
	}
	if !created {
		if stored.RequestHash != reqHash {
			return nil, problem(KindIdempotencyMismatch, "Idempotency-Key %q was used with a different request body", idemKey)
		}
		return b.replay(ctx, stored)
	}
	if err := b.addActive(stored); err != nil {
		return nil, err
	}
	b.markDirty(true)
	b.watch.notify(id)
	b.log.Info("order created", "order", id, "txid", o.Txid, "required_work", o.RequiredWork, "fee", o.Fee, "vsize", o.VSize)
	res := &Created{Order: stored, Token: b.token(id)}
	res.Assignment, err = b.newAssignment(ctx, stored)
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (b *Broker) replay(ctx context.Context, o *Order) (*Created, error) {
	res := &Created{Order: o, Token: b.token(o.ID), Replayed: true}
	if o.State == StateWorking {
		a, err := b.newAssignment(ctx, o)
		if err != nil {
			return nil, err
		}
		res.Assignment = a
	}
	return res, nil
}

// token derives an order's bearer token: HMAC-SHA256 under the broker's token key, so
// that only its hash is stored and an idempotent replay can show it again.
func (b *Broker) token(orderID string) string {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte("powbroker order token\x00"))
	m.Write([]byte(orderID))
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Authorize returns the order when token is its bearer token. A wrong token and an
// unknown order give the same not-found error.
func (b *Broker) Authorize(ctx context.Context, id, token string) (*Order, error) {
	notFound := problem(KindNotFound, "no order %q for this token", id)
	if len(id) > 64 || len(token) > 128 {
		return nil, notFound
	}
	o, err := b.store.Order(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(h[:], o.TokenHash[:]) != 1 {
		return nil, notFound
	}
	return o, nil
}

// AuthorizeToken finds the order of a token alone (Stratum workers name only the token).
func (b *Broker) AuthorizeToken(ctx context.Context, token string) (*Order, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 128 {
		return nil, problem(KindNotFound, "unknown token")
	}
	h := sha256.Sum256([]byte(token))
	o, err := b.store.OrderByTokenHash(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return nil, problem(KindNotFound, "unknown token")
	}
	return o, err
}

// LookupOrder reads an order by id, without a token: for transports that authorized
// its worker already (a Stratum session names the order it mines). A problem of kind
// not-found when there is none.
func (b *Broker) LookupOrder(ctx context.Context, id string) (*Order, error) {
	o, err := b.store.Order(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, problem(KindNotFound, "no order %q", id)
	}
	return o, err
}

// View is an order as shown to its owner.
type View struct {
	*Order
	Confirmations int32
	Progress      float64 // credited / required, at most 1
	// Wait describes the wait for a block while the order is paid; nil otherwise.
	Wait *BlockWait
	// Settlement says whether the order could be settled by fee.
	Settlement Settlement
}

// BlockWait is what a paid order waits for: a block of the pool carrying it.
type BlockWait struct {
	InJob          bool    // the current job carries the order's transaction
	Hashrate       float64 // the pool's hashrate over the last minute, H/s
	ExpectedHashes float64 // hashes per block at the network difficulty
	// ExpectedSeconds is the expected time to the next block at that hashrate; -1
	// means never: nobody mines.
	ExpectedSeconds float64
}

// Stop tells workers that the order needs no more work.
func (v *View) Stop() bool { return v.State != StateWorking }

// ETag identifies this version of the view.
func (v *View) ETag() string {
	return fmt.Sprintf(`"%s-%d-%d-%d"`, v.State, v.Shares, v.Confirmations, v.UpdatedAt.UnixNano())
}

// View renders an order with its confirmations.
func (b *Broker) View(o *Order) *View {
	v := &View{Order: o, Settlement: b.orderSettlement(o)}
	if o.RequiredWork > 0 {
		v.Progress = min(1, o.CreditedWork/o.RequiredWork)
	}
	if (o.State == StateMined || o.State == StateConfirmed) && o.Height > 0 {
		v.Confirmations = max(0, b.Tip().Height-o.Height+1)
	}
	if o.State == StatePaid {
		v.Wait = b.blockWait(o.ID)
	}
	return v
}

// blockWait estimates a paid order's wait for a block from the pool's hashrate.
func (b *Broker) blockWait(id string) *BlockWait {
	w := &BlockWait{Hashrate: b.rate.hashrate(b.started), ExpectedSeconds: -1}
	if j := b.jobs.cur(); j != nil {
		w.InJob = j.HasOrder(id)
		w.ExpectedHashes = j.NetworkDifficulty() * (1 << 32)
	}
	if w.Hashrate > 0 && w.ExpectedHashes > 0 {
		w.ExpectedSeconds = w.ExpectedHashes / w.Hashrate
	}
	return w
}

// Order returns the view of an order for its token.
func (b *Broker) Order(ctx context.Context, id, token string) (*View, error) {
	o, err := b.Authorize(ctx, id, token)
	if err != nil {
		return nil, err
	}
	return b.View(o), nil
}

// WaitOrder returns the order once its view differs from etag, or when wait passes.
// changed reports whether it differs from etag.
func (b *Broker) WaitOrder(ctx context.Context, id, token, etag string, wait time.Duration) (v *View, changed bool, err error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		ch := b.watch.wait(id)
		v, err := b.Order(ctx, id, token)
		if err != nil {
			return nil, false, err
		}
		if etag == "" || v.ETag() != etag {
			if etag != "" || wait <= 0 {
				return v, true, nil
			}
			etag = v.ETag() // no etag given: wait for the next change from now
		}
		select {
		case <-ch:
		case <-deadline.C:
			return v, v.ETag() != etag, nil
		case <-ctx.Done():
			return v, false, ctx.Err()
		}
	}
}

// Cancel stops an order that is not mined yet.
func (b *Broker) Cancel(ctx context.Context, id, token string) (*View, error) {
	o, err := b.Authorize(ctx, id, token)
	if err != nil {
		return nil, err
	}
	if !o.State.Active() {
		return nil, problem(KindOrderClosed, "order %s is %s and can no longer be canceled", id, o.State)
	}
	next, err := b.transition(ctx, id, []State{StateWorking, StatePaid}, StateCanceled, "canceled by its owner", nil)
	if errors.Is(err, ErrStateChanged) {
		return nil, &Error{Kind: KindOrderClosed, Detail: err.Error(), Err: err}
	}
	if next == nil {
		return nil, err
	}
	// Canceled and stored: an error closing its assignments is logged, not the answer.
	b.markDirty(true)
	return b.View(next), nil
}

// Events returns an order's history for its token.
func (b *Broker) Events(ctx context.Context, id, token string) ([]Event, error) {
	if _, err := b.Authorize(ctx, id, token); err != nil {
		return nil, err
	}
	return b.store.Events(ctx, id)
}

// faucet is implemented by backends that can hand out test coins.
type faucet interface {
	Faucet(ctx context.Context, amount, fee int64) (*wire.MsgTx, error)
}

// Faucet returns a signed transaction paying amount satoshi to a fresh address with
// the given fee, on test networks whose backend has a faucet. A transaction spending a
// coin that an active order spends is never handed out (the backend's faucet keeps its
// own reservations, which expire); the faucet is asked again.
func (b *Broker) Faucet(ctx context.Context, amount, fee int64) (*wire.MsgTx, error) {
	f, ok := b.backend.(faucet)
	if !ok {
		return nil, problem(KindFaucetUnavailable, "the %s backend has no faucet", b.net)
	}
	if amount <= 0 || amount > 21_000_000*btcutil.SatoshiPerBitcoin || fee < 0 || fee > btcutil.SatoshiPerBitcoin {
		return nil, problem(KindInvalidRequest, "amount must be positive and fee between 0 and 1 BTC")
	}
	const attempts = 16
	for range attempts {
		tx, err := f.Faucet(ctx, amount, fee)
		if err != nil {
			return nil, &Error{Kind: KindFaucetUnavailable, Detail: err.Error(), Err: err}
		}
		b.mu.Lock()
		id, taken := b.spends[tx.TxIn[0].PreviousOutPoint]
		b.mu.Unlock()
		if !taken {
			return tx, nil
		}
		b.log.Info("faucet offered a coin an active order spends; asking again", "coin", tx.TxIn[0].PreviousOutPoint.String(), "order", id)
	}
	return nil, problem(KindFaucetUnavailable, "the faucet offered %d coins that active orders spend", attempts)
}

// Status summarises the broker for operators.
type Status struct {
	Network           string
	Ready             bool
	NotReadyReason    string
	Tip               chain.Tip
	NetworkDifficulty float64
	ShareDifficulty   float64
	JobID             string
	JobOrders         int
	Orders            map[State]int
	SharesAccepted    int64
	SharesRejected    int64
	RejectedBy        map[Kind]int64
	BlocksFound       int64
	Hashrate          float64
	Uptime            time.Duration
}

// Status reports the broker's state.
func (b *Broker) Status(ctx context.Context) (*Status, error) {
	s := &Status{
		Network: b.net, Ready: b.Ready() == nil, Tip: b.Tip(), ShareDifficulty: b.shareDifficulty(),
		SharesAccepted: b.sharesAccepted.Load(), SharesRejected: b.sharesRejected.Load(), RejectedBy: b.RejectedByKind(),
		BlocksFound: b.blocksFound.Load(), Hashrate: b.rate.hashrate(b.started), Uptime: time.Since(b.started),
		Orders: make(map[State]int),
	}
	if err := b.Ready(); err != nil {
		s.NotReadyReason = err.Error()
	}
	if j := b.jobs.cur(); j != nil {
		s.JobID, s.JobOrders, s.NetworkDifficulty = j.ID, len(j.Orders), j.NetworkDifficulty()
	}
	counts, err := b.store.CountOrders(ctx)
	if err != nil {
		return nil, err
	}
	for k, v := range counts {
		s.Orders[k] = v
	}
	return s, nil
}

// Blocks lists the blocks the broker found.
func (b *Broker) Blocks(ctx context.Context) ([]*Block, error) { return b.store.Blocks(ctx) }

// StoreStats are the share writer's counters.
func (b *Broker) StoreStats() WriterStats { return b.store.Stats() }
