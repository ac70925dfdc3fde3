// Package store persists powbroker's state in one SQLite file in WAL mode: orders and
// their events, assignments, shares (unique by header hash), blocks and metadata, with
// embedded versioned migrations. Shares go through one writer goroutine that commits them
// in groups; a share is reported accepted only after its group committed.
package store
