// Package broker is powbroker's stratifier: it turns users' transactions into orders,
// prices them in work, assembles pooled block templates that carry every active order's
// transaction, hands out jobs and assignments, checks and credits shares on one share
// path for every way of working (HTTP assignments and Stratum sessions), submits blocks,
// and drives each order through its life cycle as the chain moves
// (docs/ARCHITECTURE.md §2, §4, §5).
//
// The broker owns the domain types (Order, Share, State, Assignment, Block, Event), the
// paid rule (CreditShare) and the life-cycle table (transitions.go: every state change
// goes through one transition function). It knows chains only through chain.Backend
// and persistence only through its Store interface (storage.go), which the stores
// implement; transports (HTTP, Stratum) call its methods and map its problem kinds to
// their own codes.
package broker
