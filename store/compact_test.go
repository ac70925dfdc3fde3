package store

import (
	"testing"

	"github.com/proofow/powbroker/store/storetest"
)

// TestCompaction runs the compaction behaviour on SQLite: a paid order keeps its
// shares until its receipt is stored.
func TestCompaction(t *testing.T) {
	s := newStore(t)
	storetest.Compaction(t, s, storetest.GiveReceipt(t, s))
}
