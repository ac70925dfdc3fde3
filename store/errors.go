package store

import "errors"

// ErrLocked is returned by Open when another process holds the database. The errors of
// the broker.Store contract (broker.ErrNotFound, ...) are the broker's.
var ErrLocked = errors.New("database is in use by another process")
