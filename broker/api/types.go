package api

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/miner"
)

// Order is an order as the API shows it.
type Order struct {
	ID            string     `json:"id"`
	State         string     `json:"state"`
	Txid          string     `json:"txid"`
	Fee           int64      `json:"fee"`
	VSize         int64      `json:"vsize"`
	RequiredWork  float64    `json:"required_work"`
	CreditedWork  float64    `json:"credited_work"`
	Progress      float64    `json:"progress"`
	Shares        int64      `json:"shares"`
	CreatedAt     time.Time  `json:"created_at"`
	ExpiresAt     time.Time  `json:"expires_at"`
	PaidAt        *time.Time `json:"paid_at"`
	MinedAt       *time.Time `json:"mined_at"`
	ConfirmedAt   *time.Time `json:"confirmed_at"`
	BlockHash     string     `json:"block_hash,omitempty"`
	Height        int32      `json:"height,omitempty"`
	Confirmations int32      `json:"confirmations"`
	Reason        string     `json:"reason,omitempty"`
	// Stop tells workers that the order needs no more work.
	Stop bool `json:"stop"`
	// BlockWait, while the order is paid, says what it waits for.
	BlockWait *BlockWait `json:"block_wait,omitempty"`
	// Settlement says whether the order could be settled by fee.
	Settlement *Settlement `json:"settlement"`
	// ETag is the version of this view (from the response header, not the body).
	ETag string `json:"-"`
}

// BlockWait is a paid order's wait for a block carrying it.
type BlockWait struct {
	// InJob tells whether the pool's current block template carries the transaction.
	InJob bool `json:"in_job"`
	// PoolHashrate is the pool's hashrate over the last minute, in H/s.
	PoolHashrate float64 `json:"pool_hashrate"`
	// ExpectedHashes is the hashes per block at the network difficulty.
	ExpectedHashes float64 `json:"expected_hashes"`
	// ExpectedSeconds is the expected time to the next block at PoolHashrate; null
	// means never: nobody mines.
	ExpectedSeconds *float64 `json:"expected_seconds"`
	// Message says it in words.
	Message string `json:"message"`
}

// WaitText is a one-line description of a paid order's wait.
func (w *BlockWait) WaitText() string {
	where := "in the pool's block template"
	if !w.InJob {
		where = "not yet in the pool's block template"
	}
	if w.ExpectedSeconds == nil {
		return fmt.Sprintf("paid, waiting for a block (%s): the pool mines at 0 H/s, so a block comes never unless someone mines", where)
	}
	return fmt.Sprintf("paid, waiting for a block (%s): pool %s, a block in about %s (%.3g hashes per block)",
		where, Rate(w.PoolHashrate), Seconds(*w.ExpectedSeconds), w.ExpectedHashes)
}

// Rate renders a hashrate with its unit: "12.3 MH/s".
func Rate(hs float64) string {
	units := []string{"H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"}
	i := 0
	for hs >= 1000 && i < len(units)-1 {
		hs /= 1000
		i++
	}
	return fmt.Sprintf("%.3g %s", hs, units[i])
}

// Seconds renders a duration in seconds readably: "42 s", "3.5 min", "2.1 h", "4.2 days".
func Seconds(s float64) string {
	switch {
	case s < 120:
		return fmt.Sprintf("%.2g s", s)
	case s < 7200:
		return fmt.Sprintf("%.2g min", s/60)
	case s < 172800:
		return fmt.Sprintf("%.2g h", s/3600)
	}
	return fmt.Sprintf("%.3g days", s/86400)
}

// Final tells whether the order reached a state it cannot leave.
func (o *Order) Final() bool { return broker.State(o.State).Final() }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func orderJSON(v *broker.View) *Order {
	return &Order{
		ID: v.ID, State: string(v.State), Txid: v.Txid, Fee: v.Fee, VSize: v.VSize,
		RequiredWork: v.RequiredWork, CreditedWork: v.CreditedWork, Progress: v.Progress, Shares: v.Shares,
		CreatedAt: v.CreatedAt.UTC(), ExpiresAt: v.ExpiresAt.UTC(), PaidAt: timePtr(v.PaidAt),
		MinedAt: timePtr(v.MinedAt), ConfirmedAt: timePtr(v.ConfirmedAt), BlockHash: v.BlockHash,
		Height: v.Height, Confirmations: v.Confirmations, Reason: v.Reason, Stop: v.Stop(),
		BlockWait: blockWaitJSON(v.Wait), Settlement: settlementJSON(v.Settlement),
	}
}

// Settlement says whether an order can be settled by fee: a child transaction of the
// broker's spending its pay-to-anchor output and paying for both (a TRUC package).
type Settlement struct {
	Settleable bool   `json:"settleable"`
	Reason     string `json:"reason"`
	// AnchorVout is the pay-to-anchor output; omitted when there is none.
	AnchorVout *int `json:"anchor_vout,omitempty"`
	// MaxFeeSats is the most the broker would spend on the child's fee.
	MaxFeeSats int64 `json:"max_fee_sats"`
}

func settlementJSON(s broker.Settlement) *Settlement {
	out := &Settlement{Settleable: s.Settleable, Reason: s.Reason, MaxFeeSats: s.MaxFeeSats}
	if s.AnchorVout >= 0 {
		v := s.AnchorVout
		out.AnchorVout = &v
	}
	return out
}

func blockWaitJSON(w *broker.BlockWait) *BlockWait {
	if w == nil {
		return nil
	}
	out := &BlockWait{InJob: w.InJob, PoolHashrate: w.Hashrate, ExpectedHashes: w.ExpectedHashes}
	if w.ExpectedSeconds >= 0 {
		s := w.ExpectedSeconds
		out.ExpectedSeconds = &s
	}
	out.Message = out.WaitText()
	return out
}

// Assignment is a unit of HTTP work: scan nonces [NonceStart, NonceStart+NonceCount)
// of Header and post every nonce whose double-SHA256 meets ShareTarget.
type Assignment struct {
	ID              string    `json:"id"`
	OrderID         string    `json:"order_id"`
	JobID           string    `json:"job_id"`
	Header          string    `json:"header"` // 80 bytes hex, nonce zero
	NonceStart      uint32    `json:"nonce_start"`
	NonceCount      uint64    `json:"nonce_count"`
	ShareTarget     string    `json:"share_target"` // 64 hex, display order
	ShareDifficulty float64   `json:"share_difficulty"`
	NetworkTarget   string    `json:"network_target"`
	ExpiresAt       time.Time `json:"expires_at"`
}

// displayTarget renders a target like getblocktemplate's "target": big-endian hex.
func displayTarget(t miner.Target) string {
	b := make([]byte, 32)
	for i := range 32 {
		b[i] = t[31-i]
	}
	return hex.EncodeToString(b)
}

// ParseDisplayTarget reads a 64-hex-digit big-endian target.
func ParseDisplayTarget(s string) (miner.Target, error) {
	var t miner.Target
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return t, &Problem{Type: "invalid-target", Detail: "target must be 64 hex digits"}
	}
	for i := range 32 {
		t[i] = b[31-i]
	}
	return t, nil
}

func assignmentJSON(v *broker.AssignmentView) *Assignment {
	return &Assignment{
		ID: v.ID, OrderID: v.OrderID, JobID: v.JobID, Header: hex.EncodeToString(v.Header),
		NonceStart: v.NonceStart, NonceCount: v.NonceCount, ShareTarget: displayTarget(v.ShareTarget),
		ShareDifficulty: v.ShareDiff, NetworkTarget: displayTarget(v.NetworkTarget), ExpiresAt: v.ExpiresAt.UTC(),
	}
}

// TxRequest is the body of quotes and orders.
type TxRequest struct {
	Tx string `json:"tx"`
}

// QuoteResponse is the price of a transaction.
type QuoteResponse struct {
	Txid            string  `json:"txid"`
	Fee             int64   `json:"fee"`
	VSize           int64   `json:"vsize"`
	Weight          int64   `json:"weight"`
	RequiredWork    float64 `json:"required_work"`
	ExpectedHashes  float64 `json:"expected_hashes"`
	ShareDifficulty float64 `json:"share_difficulty"`
	// EstimateSeconds at Hashrate hashes per second.
	Hashrate        float64 `json:"hashrate"`
	EstimateSeconds float64 `json:"estimate_seconds"`
	// Settlement says whether the order could be settled by fee.
	Settlement *Settlement `json:"settlement"`
}

// CreateResponse answers an order creation. The token is shown here only.
type CreateResponse struct {
	ID           string      `json:"id"`
	Token        string      `json:"token"`
	State        string      `json:"state"`
	RequiredWork float64     `json:"required_work"`
	Order        *Order      `json:"order"`
	Assignment   *Assignment `json:"assignment,omitempty"`
}

// ShareIn is one found nonce.
type ShareIn struct {
	AssignmentID string `json:"assignment_id"`
	Nonce        uint32 `json:"nonce"`
}

// SharesRequest is a batch of found nonces (at most MaxSharesPerPost).
type SharesRequest struct {
	Shares []ShareIn `json:"shares"`
}

// ShareOut is the answer for one share.
type ShareOut struct {
	AssignmentID string  `json:"assignment_id"`
	Nonce        uint32  `json:"nonce"`
	Accepted     bool    `json:"accepted"`
	Hash         string  `json:"hash,omitempty"` // display order
	Difficulty   float64 `json:"difficulty,omitempty"`
	Block        bool    `json:"block"` // the share met the network target
	// BlockAccepted: the block it made was submitted and accepted by the chain.
	BlockAccepted bool     `json:"block_accepted"`
	Problem       *Problem `json:"problem"`
}

// SharesResponse answers a batch: one result per share, and the order as it is now.
type SharesResponse struct {
	Results  []ShareOut `json:"results"`
	Accepted int        `json:"accepted"`
	Rejected int        `json:"rejected"`
	Order    *Order     `json:"order"`
	Stop     bool       `json:"stop"`
	// Job is the broker's current job: a worker whose assignment is on another job
	// should take a new assignment (it may lack newer orders' transactions).
	Job string `json:"job"`
}

// FaucetRequest asks for test coins.
type FaucetRequest struct {
	AmountSat int64 `json:"amount_sat"`
	FeeSat    int64 `json:"fee_sat"`
}

// FaucetResponse is a signed, unsubmitted transaction.
type FaucetResponse struct {
	Tx        string `json:"tx"`
	Txid      string `json:"txid"`
	AmountSat int64  `json:"amount_sat"`
	FeeSat    int64  `json:"fee_sat"`
}

// Status is the broker's state for operators.
type Status struct {
	Network           string           `json:"network"`
	Ready             bool             `json:"ready"`
	NotReadyReason    string           `json:"not_ready_reason,omitempty"`
	TipHash           string           `json:"tip_hash"`
	TipHeight         int32            `json:"tip_height"`
	TipTime           time.Time        `json:"tip_time"`   // the tip's median time past
	PublicKey         string           `json:"public_key"` // x-only key (hex) that signs work receipts
	NetworkDifficulty float64          `json:"network_difficulty"`
	ShareDifficulty   float64          `json:"share_difficulty"`
	JobID             string           `json:"job_id"`
	JobOrders         int              `json:"job_orders"`
	Orders            map[string]int   `json:"orders"`
	SharesAccepted    int64            `json:"shares_accepted"`
	SharesRejected    int64            `json:"shares_rejected"`
	RejectedBy        map[string]int64 `json:"shares_rejected_by_type"`
	BlocksFound       int64            `json:"blocks_found"`
	Hashrate          float64          `json:"hashrate"`
	UptimeSeconds     float64          `json:"uptime_seconds"`
}

// Block is a block the broker found.
type Block struct {
	Hash     string    `json:"hash"`
	Height   int32     `json:"height"`
	PrevHash string    `json:"prev_hash"`
	Txids    []string  `json:"txids"`
	Orders   []string  `json:"orders"`
	Accepted bool      `json:"accepted"`
	Reason   string    `json:"reason,omitempty"`
	FoundAt  time.Time `json:"found_at"`
}

// Event is one step of an order's history.
type Event struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Detail string    `json:"detail"`
}

func displayHash(h chainhash.Hash) string { return h.String() }
