// Package store persists powbroker's state in one SQLite file in WAL mode: orders and
// their events, assignments, shares (unique by header hash), blocks and metadata, with
// embedded versioned migrations. Shares go through one writer goroutine that commits them
// in groups; a share is reported accepted only after its group committed.
//
// Connections: one write connection serializes every write (share groups, order
// transitions, assignments, blocks, meta, counters), so writers never contend inside
// SQLite; a small pool of read-only connections serves reads concurrently (WAL readers
// see every committed transaction and never block the writer). A lock file next to the
// database keeps a second process out.
//
// Durability: synchronous=FULL, so a commit is on disk before it is acknowledged; kill -9
// loses no acknowledged share and, since every change of an order happens in one
// transaction together with its event row, leaves no order half-updated. The crash test
// (crash_test.go) SIGKILLs a child process that is recording shares and checks both.
//
// Times are stored as Unix nanoseconds (0 for the zero time), work as REAL work units,
// hashes as BLOBs in internal byte order, and an order's bearer token only as its SHA-256.
//
// The Store implements broker.Store, the interface the broker defines for what it needs
// from storage, with the broker's domain types (orders, events, assignments, shares,
// blocks) and its paid rule (broker.CreditShare, applied inside the share group's
// transaction); store/storetest is the conformance suite every implementation runs.
package store
