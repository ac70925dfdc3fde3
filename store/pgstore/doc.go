// Package pgstore persists powbroker's state in PostgreSQL (through pgx), as the
// SQLite store does in one file: orders and their events, assignments, shares (unique
// by header hash), blocks, counters and metadata, with its own embedded versioned
// migrations (migrations/*.sql, applied under an advisory lock so that two brokers
// starting on one database do not race).
//
// Shares go through one writer goroutine that commits them in groups, a handful of
// statements per group whatever its size (order rows locked FOR UPDATE, the shares
// inserted from arrays with ON CONFLICT DO NOTHING, the orders updated from arrays); a
// share is reported accepted only after its group's COMMIT returned, and the database
// must run with synchronous_commit on (checked at Open), so an acknowledged share is on
// the server's disk.
//
// Times are stored as Unix nanoseconds (0 for the zero time), work as double precision
// work units, hashes as bytea in internal byte order, and an order's bearer token only
// as its SHA-256, exactly as in the SQLite store.
package pgstore
