package stratum

import (
	"sync/atomic"
	"time"
)

// Reject reasons counted apart from their code.
const (
	// ReasonOrderDone is a submit for an account that no longer takes shares (the
	// order is paid, mined or closed): error 24, counted apart from unknown workers.
	ReasonOrderDone = "order-done"
)

// Stats counts what the server did.
type Stats struct {
	Sessions int    // open connections
	Workers  int    // authorized workers on open connections
	Accepted uint64 // shares the pool accepted
	Rejected uint64 // submits answered with an error, every code
	// RejectedBy counts rejected submits by Stratum code ("20".."25") and by
	// ReasonOrderDone (also counted under "24").
	RejectedBy       map[string]uint64
	ConnsAccepted    uint64 // connections admitted since start
	ConnsRefused     uint64 // connections over MaxConns or MaxConnsPerIP
	AuthorizeFailed  uint64 // mining.authorize answered with an error
	Retargets        uint64 // vardiff difficulty changes
	DifficultyMin    float64
	DifficultyMax    float64 // over the open, subscribed sessions
	DifficultyMedian float64
	// Banned is the number of remote IPs banned now, Bans the bans since start,
	// RefusedBanned the connections refused because their IP was banned.
	Banned        int
	Bans          uint64
	RefusedBanned uint64
	// Dropped counts miners disconnected for not reading what was sent to them.
	Dropped uint64
}

// counters are the server's running totals.
type counters struct {
	accepted, connsAccepted, connsRefused, authFailed, retargets atomic.Uint64
	byCode                                                       [CodeNotSubscribed - CodeOther + 1]atomic.Uint64
	orderDone                                                    atomic.Uint64
	refusedBanned, dropped                                       atomic.Uint64
}

func (c *counters) reject(code int, orderDone bool) {
	if code >= CodeOther && code <= CodeNotSubscribed {
		c.byCode[code-CodeOther].Add(1)
	}
	if orderDone {
		c.orderDone.Add(1)
	}
}

func (c *counters) fill(st *Stats) {
	st.Accepted, st.ConnsAccepted, st.ConnsRefused = c.accepted.Load(), c.connsAccepted.Load(), c.connsRefused.Load()
	st.AuthorizeFailed, st.Retargets = c.authFailed.Load(), c.retargets.Load()
	st.RefusedBanned, st.Dropped = c.refusedBanned.Load(), c.dropped.Load()
	st.RejectedBy = map[string]uint64{}
	for i := range c.byCode {
		if n := c.byCode[i].Load(); n > 0 {
			st.RejectedBy[itoa(CodeOther+i)] = n
			st.Rejected += n
		}
	}
	if n := c.orderDone.Load(); n > 0 {
		st.RejectedBy[ReasonOrderDone] = n
	}
}

func itoa(code int) string { return string([]byte{byte('0' + code/10), byte('0' + code%10)}) }

// rejectSummary logs, at info, how many submits and authorizations were refused since
// the last summary (each one is logged at debug).
type rejectSummary struct {
	last  time.Time
	prevR uint64
	prevA uint64
}
