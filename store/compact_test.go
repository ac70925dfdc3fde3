package store

import (
	"testing"

	"github.com/proofow/powbroker/store/storetest"
)

// TestCompaction runs the compaction behaviour on SQLite (this schema has no
// receipts table yet: a paid order keeps its shares).
func TestCompaction(t *testing.T) {
	storetest.Compaction(t, newStore(t), nil)
}
