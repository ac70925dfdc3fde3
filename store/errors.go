package store

import (
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"
	"github.com/proofow/powbroker/broker"
)

// ErrLocked is returned by Open when another process holds the database. The errors of
// the broker.Store contract (broker.ErrNotFound, ...) are the broker's.
var ErrLocked = errors.New("database is in use by another process")

// storageFault marks err with broker.ErrStorageFault when SQLite failed for a reason
// of the storage rather than of the data: the disk or the database is full, an I/O
// error, the database is locked or busy beyond the busy timeout, read-only or
// cannot be opened. The transaction was rolled back, and the same write may succeed
// once the storage recovers.
func storageFault(err error) error {
	var se sqlite3.Error
	if !errors.As(err, &se) || errors.Is(err, broker.ErrStorageFault) {
		return err
	}
	switch se.Code {
	case sqlite3.ErrFull, sqlite3.ErrIoErr, sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrReadonly,
		sqlite3.ErrCantOpen, sqlite3.ErrNomem:
		return fmt.Errorf("%w: %w", broker.ErrStorageFault, err)
	}
	return err
}
