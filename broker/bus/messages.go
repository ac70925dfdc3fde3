package bus

import (
	"errors"
	"fmt"
)

// Job is one job as the broker publishes it: what a gateway needs to send it to
// miners and to check their shares (no transactions: blocks are assembled by the
// broker).
type Job struct {
	Broker          string   `json:"broker"` // the publishing broker's instance id
	ID              string   `json:"id"`
	PrevHash        []byte   `json:"prev_hash"` // 32 bytes, internal order
	Height          int32    `json:"height"`
	Version         int32    `json:"version"`
	Bits            uint32   `json:"bits"`
	NTime           uint32   `json:"ntime"`
	MinTime         uint32   `json:"min_time"`
	Coinb1          []byte   `json:"coinb1"`
	Coinb2          []byte   `json:"coinb2"`
	Branch          [][]byte `json:"branch"` // 32 bytes each
	Extranonce2Size int      `json:"extranonce2_size"`
	Orders          []string `json:"orders"`
	Clean           bool     `json:"clean"`
}

// Check validates a job's sizes.
func (j *Job) Check() error {
	if j.ID == "" || len(j.ID) > 64 || j.Broker == "" || len(j.Broker) > 64 {
		return errors.New("bus: job without a valid id or broker")
	}
	if len(j.PrevHash) != 32 {
		return fmt.Errorf("bus: job %s: prev hash of %d bytes", j.ID, len(j.PrevHash))
	}
	if len(j.Branch) > 32 {
		return fmt.Errorf("bus: job %s: merkle branch of %d hashes", j.ID, len(j.Branch))
	}
	for _, h := range j.Branch {
		if len(h) != 32 {
			return fmt.Errorf("bus: job %s: branch hash of %d bytes", j.ID, len(h))
		}
	}
	if j.Extranonce2Size < 1 || j.Extranonce2Size > 16 {
		return fmt.Errorf("bus: job %s: extranonce2 size %d", j.ID, j.Extranonce2Size)
	}
	if len(j.Coinb1) == 0 || len(j.Coinb1)+len(j.Coinb2) > 100_000 {
		return fmt.Errorf("bus: job %s: coinbase halves of %d+%d bytes", j.ID, len(j.Coinb1), len(j.Coinb2))
	}
	return nil
}

// JobNow asks for the current job.
type JobNow struct {
	Gateway string `json:"gateway"`
}

// Error is a refusal a miner should see: a Stratum error code and message.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("broker error %d: %s", e.Code, e.Message) }

// AuthRequest resolves a worker's token.
type AuthRequest struct {
	Gateway string `json:"gateway"`
	Token   string `json:"token"`
}

// Account is an authorized worker's account (an order).
type Account struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Working bool   `json:"working"`
	Message string `json:"message,omitempty"`
}

// AuthReply is the answer to AuthRequest: an account or an error.
type AuthReply struct {
	Account *Account `json:"account,omitempty"`
	Error   *Error   `json:"error,omitempty"`
}

// Register claims an extranonce1 prefix for a gateway; gateways repeat it as their
// heartbeat. A prefix held by another live gateway is refused.
type Register struct {
	Gateway string `json:"gateway"`
	Prefix  int    `json:"prefix"` // 1..255: the first byte of every extranonce1 of the gateway
}

// RegisterReply answers Register.
type RegisterReply struct {
	Broker string `json:"broker"`
	Error  *Error `json:"error,omitempty"`
}

// ExtranonceRequest asks for a block of extranonce1 values under the gateway's prefix.
type ExtranonceRequest struct {
	Gateway string `json:"gateway"`
	Prefix  int    `json:"prefix"`
}

// ExtranonceReply is a block [First, First+Count) of 4-byte big-endian extranonce1
// values, never handed out before.
type ExtranonceReply struct {
	First uint32 `json:"first"`
	Count uint32 `json:"count"`
	Error *Error `json:"error,omitempty"`
}

// Share is a share a gateway checked and asks the broker to record.
type Share struct {
	Gateway     string  `json:"gateway"`
	Account     string  `json:"account"`
	Worker      string  `json:"worker"`
	JobID       string  `json:"job_id"`
	Extranonce1 []byte  `json:"extranonce1"`
	Extranonce2 []byte  `json:"extranonce2"`
	NTime       uint32  `json:"ntime"`
	Nonce       uint32  `json:"nonce"`
	Version     uint32  `json:"version"`
	Difficulty  float64 `json:"difficulty"`
}

// Accepted is a share the broker's store committed.
type Accepted struct {
	Difficulty float64 `json:"difficulty"`
	Block      bool    `json:"block"`
	Account    Account `json:"account"`
}

// SubmitReply answers Share, only after the share is durable when accepted.
type SubmitReply struct {
	Accepted *Accepted `json:"accepted,omitempty"`
	Error    *Error    `json:"error,omitempty"`
}
