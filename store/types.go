package store

import (
	"errors"
	"time"
)

// State is where an order stands in its life cycle (DESIGN.md §3).
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

// Final tells whether no further transition can leave the state.
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

// ShareResult is what recording one share did.
type ShareResult struct {
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

// Errors returned by the store.
var (
	ErrNotFound          = errors.New("not found")
	ErrIdempotencyReplay = errors.New("idempotency key reused with a different request")
	ErrStateChanged      = errors.New("order state changed concurrently")
	ErrClosed            = errors.New("store closed")
	ErrLocked            = errors.New("database is in use by another process")
)
