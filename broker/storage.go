package broker

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Store is what the broker needs from persistence, and nothing more. The SQLite store
// (package store) implements it; every implementation runs the conformance suite in
// store/storetest.
//
// Durability: every method returns only after its change is committed. RecordShares in
// particular answers a share only after the group commit containing it is durable; a
// share it reports recorded (no error) is never lost.
type Store interface {
	// CreateOrder inserts o and a creation event ("" -> o.State, detail) together.
	// CreatedAt and UpdatedAt default to now. When o.IdempotencyKey is set and an order
	// with that key exists, that order is returned with created=false if its RequestHash
	// equals o.RequestHash, and an error wrapping ErrIdempotencyReplay otherwise.
	CreateOrder(ctx context.Context, o *Order, detail string) (stored *Order, created bool, err error)
	// Order reads one order; ErrNotFound when there is none with that id.
	Order(ctx context.Context, id string) (*Order, error)
	// OrderByTokenHash finds the order whose bearer token hashes to h; ErrNotFound.
	OrderByTokenHash(ctx context.Context, h [32]byte) (*Order, error)
	// OrderByIdempotencyKey finds the order created with a non-empty key; ErrNotFound.
	OrderByIdempotencyKey(ctx context.Context, key string) (*Order, error)
	// OrdersInState lists the orders in any of the states, oldest (CreatedAt, then ID) first.
	OrdersInState(ctx context.Context, states ...State) ([]*Order, error)
	// CountOrders counts the orders in each state (states without orders are absent).
	CountOrders(ctx context.Context) (map[State]int, error)
	// Transition moves order id from one of the states in from (at least one) to state
	// to, atomically with its event row (from, to, detail): an order in another state
	// gives an error wrapping ErrStateChanged naming the actual state, an unknown one
	// ErrNotFound. update (may be nil) changes mutable fields such as PaidAt, MinedAt,
	// BlockHash, Height or Reason; it runs inside the store's transaction and must not
	// call the store. The immutable fields (ID, TokenHash, Txid, RawTx, Fee, VSize,
	// CreatedAt, IdempotencyKey, RequestHash) keep their stored values. It returns the
	// order as a read would return it. The broker calls it only through its transition
	// function, which checks the move against the life-cycle table first.
	Transition(ctx context.Context, id string, from []State, to State, detail string, update func(*Order)) (*Order, error)
	// SetReason annotates an order without a transition; ErrNotFound.
	SetReason(ctx context.Context, id, reason string) error
	// Events lists an order's history in the order it happened (empty when unknown).
	Events(ctx context.Context, id string) ([]Event, error)
	// CreateAssignment stores an assignment; its order must exist.
	CreateAssignment(ctx context.Context, a *Assignment) error
	// Assignment reads one assignment; ErrNotFound.
	Assignment(ctx context.Context, id string) (*Assignment, error)
	// CloseAssignments marks every open assignment of an order closed.
	CloseAssignments(ctx context.Context, orderID string) error
	// RecordShares records accepted shares and credits their orders with CreditShare,
	// in the given order, and answers each one only after its group commit is durable.
	// results[i] and errs[i] belong to shares[i]. A share whose header hash is stored
	// already gives Duplicate=true and credits nothing; one for an unknown order fails
	// alone with an error wrapping ErrNotFound; after the store closed, ErrStoreClosed.
	// On an error the share must not be reported accepted (it may have been stored).
	RecordShares(ctx context.Context, shares []*Share) (results []Recorded, errs []error)
	// AddBlock records a block the broker found; the same hash again replaces it.
	AddBlock(ctx context.Context, b *Block) error
	// Blocks lists the recorded blocks by height, then by the time they were found.
	Blocks(ctx context.Context) ([]*Block, error)
	// Reserve advances the persistent counter by n (> 0) and returns the first value of
	// the reserved range [first, first+n); a new counter starts at 0. Reserved values
	// are never handed out again, across restarts and concurrent callers.
	Reserve(ctx context.Context, counter string, n uint64) (first uint64, err error)
	// Stats reports the share writer's counters since the store opened.
	Stats() WriterStats
}

// Errors a Store returns (wrapped).
var (
	ErrNotFound          = errors.New("not found")
	ErrIdempotencyReplay = errors.New("idempotency key reused with a different request")
	ErrStateChanged      = errors.New("order state changed concurrently")
	ErrStoreClosed       = errors.New("store closed")
	// ErrStorageFault marks a write the storage could not make for now: disk full,
	// an I/O error, the database locked. Nothing of that write is stored; the same
	// write may succeed once the storage recovers.
	ErrStorageFault = errors.New("storage fault")
)

// State is where an order stands in its life cycle (see transitions.go).
type State string

// Order states.
const (
	StateWorking   State = "working"
	StatePaid      State = "paid"
	StateMined     State = "mined"
	StateConfirmed State = "confirmed"
	StateExpired   State = "expired"
	StateCanceled  State = "canceled"
	StateFailed    State = "failed"
)

// States lists every order state, in life-cycle order.
func States() []State {
	return []State{StateWorking, StatePaid, StateMined, StateConfirmed, StateExpired, StateCanceled, StateFailed}
}

// Final tells whether the order is done: no more work and nothing more to wait for
// (only a reorg can still move a confirmed order back to paid).
func (s State) Final() bool {
	return s == StateConfirmed || s == StateExpired || s == StateCanceled || s == StateFailed
}

// Active tells whether the order's transaction belongs in block templates.
func (s State) Active() bool { return s == StateWorking || s == StatePaid }

// Order is a user's request to get one transaction mined, paid for with work.
type Order struct {
	ID             string
	TokenHash      [32]byte // SHA-256 of the bearer token; the token itself is never stored
	State          State
	Txid           string // display order hex
	RawTx          []byte
	Fee            int64 // satoshi
	VSize          int64
	RequiredWork   float64 // work units (diff-1 shares)
	CreditedWork   float64
	Shares         int64 // accepted shares
	CreatedAt      time.Time
	ExpiresAt      time.Time
	PaidAt         time.Time // zero when not yet paid
	MinedAt        time.Time
	ConfirmedAt    time.Time
	BlockHash      string // display order hex, empty when not mined
	Height         int32
	Reason         string // why the order failed, expired or cannot fit a template
	IdempotencyKey string
	RequestHash    [32]byte // SHA-256 of the request body that created it
	UpdatedAt      time.Time
}

// Event is one transition in an order's history.
type Event struct {
	Seq     int64
	OrderID string
	At      time.Time
	From    State // empty for creation
	To      State
	Detail  string
}

// Assignment is a unit of work handed out for an order: a rendered header over one
// job and extranonce, a nonce range and a share target.
type Assignment struct {
	ID          string
	OrderID     string
	JobID       string
	Extranonce1 []byte
	Extranonce2 []byte
	Header      []byte // 80 bytes, nonce zero
	NonceStart  uint32
	NonceCount  uint64
	ShareDiff   float64
	CreatedAt   time.Time
	ExpiresAt   time.Time
	Closed      bool
}

// Share is a proof of work to record: accepted shares only.
type Share struct {
	HeaderHash     [32]byte // internal byte order; unique
	OrderID        string
	AssignmentID   string // empty for Stratum shares
	Worker         string // Stratum worker or "api"
	JobID          string
	Nonce          uint32
	Difficulty     float64 // credited work units
	At             time.Time
	BlockCandidate bool
}

// Recorded is what recording one share did.
type Recorded struct {
	Duplicate    bool    // a share with the same header hash was recorded before: nothing credited
	OrderState   State   // the order's state after this share
	CreditedWork float64 // the order's credited work after this share
	BecamePaid   bool    // this share moved the order from working to paid
}

// Block is a block the broker found and submitted.
type Block struct {
	Hash     string // display order
	Height   int32
	PrevHash string
	Txids    []string // display order, coinbase first
	OrderIDs []string
	FoundAt  time.Time
	Accepted bool
	Reason   string // rejection reason when not accepted
}

// WriterStats counts what a store's share writer did since it opened.
type WriterStats struct {
	Groups     uint64 // committed groups
	Shares     uint64 // shares in committed groups (accepted, duplicate or unknown order)
	Accepted   uint64 // shares newly recorded and credited
	Duplicates uint64
	Failed     uint64 // shares whose group failed to commit
	MaxGroup   uint64 // largest committed group
}

// OrderWork is an order's work account, as a store holds it while it records shares.
type OrderWork struct {
	State    State
	Required float64 // work units
	Credited float64
	Shares   int64
}

// CreditShare is the paid rule, applied by a store to each newly recorded (not
// duplicate) share inside the transaction that records it: the order's credited work
// grows by the share's difficulty and its share count by one, whatever its state, and
// an order in state working that reaches its required work becomes paid. It reports
// whether this share made the order paid; the store then sets PaidAt to the share's
// time and writes the event (working -> paid, PaidDetail).
func CreditShare(w *OrderWork, difficulty float64) (becamePaid bool) {
	w.Credited += difficulty
	w.Shares++
	if w.State == StateWorking && w.Credited >= w.Required {
		w.State = StatePaid
		return true
	}
	return false
}

// PaidDetail is the event detail of the working -> paid transition.
func PaidDetail(w OrderWork) string {
	return "enough work: " + formatWork(w.Credited) + " of " + formatWork(w.Required) + " units"
}

func formatWork(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }
