// Package broker is powbroker's stratifier: it turns users' transactions into orders,
// prices them in work, assembles pooled block templates that carry every active order's
// transaction, hands out jobs and assignments, checks and credits shares on one share
// path for every way of working (HTTP assignments and Stratum sessions), submits blocks,
// and drives each order through its life cycle as the chain moves (DESIGN.md §3-§5).
//
// The broker knows chains only through chain.Backend and persistence only through
// its Store interface (storage.go); transports (HTTP, Stratum) call its methods.
package broker
