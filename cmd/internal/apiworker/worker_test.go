package apiworker

import (
	"testing"

	"github.com/proofow/powbroker/broker/api"
)

func TestArrange(t *testing.T) {
	sh := func(ns ...uint32) []api.ShareIn {
		out := make([]api.ShareIn, len(ns))
		for i, n := range ns {
			out[i] = api.ShareIn{AssignmentID: "a", Nonce: n}
		}
		return out
	}
	cases := []struct {
		name   string
		batch  []api.ShareIn
		blocks map[uint32]bool
		need   int
		want   []uint32
	}{
		{"under need", sh(1, 2, 3), nil, 5, []uint32{1, 2, 3}},
		{"trimmed to need", sh(1, 2, 3, 4), nil, 2, []uint32{1, 2}},
		{"block last", sh(1, 2, 3), map[uint32]bool{1: true}, 5, []uint32{2, 3, 1}},
		{"block kept when trimming", sh(1, 2, 3, 4), map[uint32]bool{4: true}, 2, []uint32{1, 4}},
		{"only blocks beyond need", sh(7, 8), map[uint32]bool{7: true, 8: true}, 1, []uint32{7, 8}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := arrange(c.batch, c.blocks, c.need)
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i].Nonce != c.want[i] {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}
