package api

import (
	"slices"
	"testing"

	"github.com/proofow/powbroker/broker"
)

// TestEveryKindHasStatus: the HTTP table covers every broker kind, and only those.
func TestEveryKindHasStatus(t *testing.T) {
	kinds := broker.Kinds()
	for _, k := range kinds {
		if s, ok := kindStatus[k]; !ok || s < 400 || s > 599 {
			t.Errorf("kind %s: HTTP status %d (present %v)", k, s, ok)
		}
		if k.Title() == "" {
			t.Errorf("kind %s has no title", k)
		}
	}
	for k := range kindStatus {
		if !slices.Contains(kinds, k) {
			t.Errorf("the HTTP table maps %q, which is not a broker kind", k)
		}
	}
}
