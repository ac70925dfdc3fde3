package broker

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/broker/receipt"
)

// newSigner returns the receipt signer of the options' key, or of a fresh key (a
// broker without a datadir key, as in tests: its receipts verify against the public
// key that /v1/status shows while it runs).
func newSigner(key []byte) (*receipt.Signer, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("receipt key: %w", err)
		}
	}
	return receipt.NewSigner(key)
}

// StoredReceipt is a signed receipt as a store keeps it: the document and the header
// hashes its merkle root is built from (for share proofs once the shares are gone).
type StoredReceipt struct {
	OrderID  string
	Body     []byte     // JSON
	Leaves   [][32]byte // header hashes, internal byte order, sorted
	IssuedAt time.Time
}

// ReceiptStore is what receipts need from the store beyond Store: the accepted shares
// of an order and a durable place for its receipt (the SQLite store has both).
type ReceiptStore interface {
	// OrderShareList lists an order's recorded shares (header hash, difficulty, time).
	OrderShareList(ctx context.Context, orderID string) ([]Share, error)
	// SaveReceipt stores or replaces an order's receipt.
	SaveReceipt(ctx context.Context, r *StoredReceipt) error
	// Receipt reads an order's receipt; ErrNotFound when none was issued.
	Receipt(ctx context.Context, orderID string) (*StoredReceipt, error)
}

func (b *Broker) receiptStore() (ReceiptStore, error) {
	rs, ok := b.store.(ReceiptStore)
	if !ok {
		return nil, errors.New("the store keeps no receipts")
	}
	return rs, nil
}

// ReceiptPublicKey is the x-only public key (hex) that signs the broker's receipts.
func (b *Broker) ReceiptPublicKey() string { return b.signer.PublicKey() }

// hasReceipt tells whether an order in this state gets a receipt.
func hasReceipt(s State) bool {
	return s == StatePaid || s == StateMined || s == StateConfirmed
}

// issueReceipt (under receiptMu) signs and stores the receipt of an order that is paid or mined, from its
// stored shares; when the shares are no longer all stored (compacted), the header
// hashes kept with the previous receipt are used. Errors are logged: the receipt is
// issued again when it is asked for.
func (b *Broker) issueReceipt(ctx context.Context, o *Order) (*receipt.Receipt, *StoredReceipt, error) {
	if !hasReceipt(o.State) {
		return nil, nil, problem(KindNoReceipt, "order %s is %s: a receipt is issued once it is paid or mined", o.ID, o.State)
	}
	rs, err := b.receiptStore()
	if err != nil {
		return nil, nil, err
	}
	stored, err := rs.OrderShareList(ctx, o.ID)
	if err != nil {
		return nil, nil, err
	}
	shares := make([]receipt.Share, len(stored))
	for i, s := range stored {
		shares[i] = receipt.Share{Hash: s.HeaderHash, Difficulty: s.Difficulty, At: s.At}
	}
	r := &receipt.Receipt{Network: b.net, OrderID: o.ID, Txid: o.Txid, RequiredWork: o.RequiredWork,
		CreditedWork: o.CreditedWork, IssuedAt: time.Now().UTC()}
	r.State = string(StatePaid)
	if o.BlockHash != "" {
		r.State, r.BlockHash, r.Height = string(StateMined), o.BlockHash, o.Height
	}
	var leaves [][32]byte
	if int64(len(shares)) < o.Shares {
		prev, perr := rs.Receipt(ctx, o.ID)
		if perr != nil {
			return nil, nil, fmt.Errorf("receipt of order %s: %d of %d shares stored and no earlier receipt: %w", o.ID, len(shares), o.Shares, perr)
		}
		old, perr := receipt.Parse(prev.Body)
		if perr != nil {
			return nil, nil, fmt.Errorf("receipt of order %s: earlier receipt: %w", o.ID, perr)
		}
		r.Shares, r.ShareDifficulty, r.ShareDifficultyMax = old.Shares, old.ShareDifficulty, old.ShareDifficultyMax
		r.FirstShareAt, r.LastShareAt, r.MerkleRoot = old.FirstShareAt, old.LastShareAt, old.MerkleRoot
		leaves = prev.Leaves
	} else {
		leaves = r.Fill(shares).Hashes()
	}
	if err := b.signer.Sign(r, nil); err != nil {
		return nil, nil, err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, nil, fmt.Errorf("receipt of order %s: %w", o.ID, err)
	}
	rec := &StoredReceipt{OrderID: o.ID, Body: body, Leaves: leaves, IssuedAt: r.IssuedAt}
	if err := rs.SaveReceipt(ctx, rec); err != nil {
		return nil, nil, err
	}
	return r, rec, nil
}

// receiptAtEnd issues the receipt of an order that just became paid or mined, before
// anything may compact its shares.
func (b *Broker) receiptAtEnd(ctx context.Context, id string) {
	o, err := b.store.Order(ctx, id)
	if err == nil {
		_, _, err = b.currentReceipt(ctx, o)
	}
	if err != nil {
		b.log.Error("issue receipt", "order", id, "err", err)
		return
	}
	b.log.Info("receipt issued", "order", id, "state", o.State)
}

// currentReceipt returns the stored receipt of an order when it matches the order's
// state (paid, or mined in its current block), issuing it otherwise. Receipts are
// issued one at a time, so that a request and the transition that ends an order do
// not both issue one.
func (b *Broker) currentReceipt(ctx context.Context, o *Order) (*receipt.Receipt, *StoredReceipt, error) {
	b.receiptMu.Lock()
	defer b.receiptMu.Unlock()
	rs, err := b.receiptStore()
	if err != nil {
		return nil, nil, err
	}
	rec, err := rs.Receipt(ctx, o.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, nil, err
	}
	if err == nil {
		r, perr := receipt.Parse(rec.Body)
		if perr == nil && r.BlockHash == o.BlockHash && hasReceipt(o.State) {
			return r, rec, nil
		}
	}
	return b.issueReceipt(ctx, o)
}

// Receipt returns an order's signed receipt for its token.
func (b *Broker) Receipt(ctx context.Context, id, token string) (*receipt.Receipt, error) {
	o, err := b.Authorize(ctx, id, token)
	if err != nil {
		return nil, err
	}
	r, _, err := b.currentReceipt(ctx, o)
	return r, err
}

// ReceiptProof proves that the share with header hash share (display hex) is part of
// the order's receipt.
func (b *Broker) ReceiptProof(ctx context.Context, id, token, share string) (*receipt.Proof, error) {
	var h chainhash.Hash
	if len(share) != 64 || chainhash.Decode(&h, share) != nil {
		return nil, problem(KindInvalidHex, "share %q must be a header hash of 64 hex digits", share)
	}
	o, err := b.Authorize(ctx, id, token)
	if err != nil {
		return nil, err
	}
	_, rec, err := b.currentReceipt(ctx, o)
	if err != nil {
		return nil, err
	}
	p, err := receipt.NewTree(rec.Leaves).Prove(h)
	if err != nil {
		return nil, &Error{Kind: KindShareNotInReceipt, Detail: err.Error(), Err: err}
	}
	p.OrderID = o.ID
	return p, nil
}
