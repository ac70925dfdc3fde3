package stratum

import (
	"context"
	"time"
)

// Pool is what the server needs from the business behind it. Errors that a miner
// should see are *Error values (their code goes into the reply); any other error is
// answered with code 20.
type Pool interface {
	// Authorize resolves a worker's token (the worker name without any ".rigname"
	// suffix). An account that is not Working is refused with code 24.
	Authorize(ctx context.Context, token string) (Account, error)
	// Extranonce1 hands out a new, unique extranonce1 (4 bytes).
	Extranonce1(ctx context.Context) ([]byte, error)
	// Jobs delivers the newest job (the first value is the current one) until cancel.
	Jobs() (jobs <-chan *Job, cancel func())
	// Submit checks one share and returns only once it is durable.
	Submit(ctx context.Context, s Share) (Accepted, error)
	// AccountChanged returns a channel closed at the next change of the account.
	AccountChanged(id string) <-chan struct{}
}

// Account is an authorized worker's account (for the broker: an order).
type Account struct {
	ID      string
	State   string // free text shown to miners, e.g. "working", "paid"
	Working bool   // the account takes shares
	// Message explains a non-working state (shown by client.show_message and in
	// error 24 replies).
	Message string
}

// Job is one version of the block being mined, as the pool publishes it.
type Job struct {
	ID              string // the pool's job id
	PrevHash        [32]byte
	Coinb1, Coinb2  []byte
	Branch          [][32]byte
	Version         uint32 // carries no bits inside DefaultVersionMask
	Bits            uint32
	NTime           uint32
	Extranonce2Size int
	Clean           bool    // first job on a new tip: earlier jobs are stale
	NetDifficulty   float64 // share difficulties are capped at it
	// Carries tells whether the job's block includes the account's transaction.
	Carries func(account string) bool
	// TipSeen, on a clean job, is when the pool learnt of its tip (zero: unknown).
	TipSeen time.Time
}

// Share is a submitted share as the server hands it to the pool.
type Share struct {
	Account     string
	Worker      string
	JobID       string // the pool's job id
	Extranonce1 []byte
	Extranonce2 []byte
	NTime       uint32
	Nonce       uint32
	Version     uint32  // the full header version, rolled bits applied
	Difficulty  float64 // in force when the job was sent to the session
}

// Accepted is what the pool did with an accepted share.
type Accepted struct {
	Difficulty float64 // credited
	Block      bool    // met the network target: a block was submitted
	Account    Account // the account after the share
}
