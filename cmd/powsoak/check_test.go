package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckOrder: each way an order can be half-updated is found.
func TestCheckOrder(t *testing.T) {
	blocks := map[string]storedBlock{"b1": {accepted: true}, "b2": {accepted: false}, "b4": {submitted: true}}
	whole := func() *storedOrder {
		return &storedOrder{id: "o", state: "mined", blockHash: "b1", required: 2, credited: 3, sum: 3, shares: 3, rows: 3,
			events: [][2]string{{"", "working"}, {"working", "paid"}, {"paid", "mined"}}}
	}
	tests := []struct {
		name  string
		spoil func(o *storedOrder)
		want  string
	}{
		{"whole", func(o *storedOrder) {}, ""},
		{"share count", func(o *storedOrder) { o.shares = 4 }, "counts 4 shares"},
		{"credited work", func(o *storedOrder) { o.credited = 3.5 }, "credited 3.5"},
		{"event chain broken", func(o *storedOrder) { o.events[2][0] = "working" }, "event 2 goes from"},
		{"state without event", func(o *storedOrder) { o.state = "confirmed" }, "last event"},
		{"working with enough work", func(o *storedOrder) {
			o.state, o.events = "working", o.events[:1]
		}, "working with 3 of 2"},
		{"block not found", func(o *storedOrder) { o.blockHash = "b2" }, "did not count as found"},
		{"block unknown", func(o *storedOrder) { o.blockHash = "b3" }, "did not count as found"},
		{"block answer being recorded", func(o *storedOrder) { o.blockHash = "b4" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := whole()
			tt.spoil(o)
			c := &cycleCheck{}
			checkOrder(o, blocks, false, c)
			got := strings.Join(c.Problems, "; ")
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("problems %q, want %q", got, tt.want)
			}
			if o.blockHash == "b4" {
				final := &cycleCheck{}
				if checkOrder(o, blocks, true, final); len(final.Problems) == 0 {
					t.Fatal("a block still being recorded passed the final check")
				}
			}
		})
	}
}

// TestReadAccepted: whole lines only, accepted ones only, hashes back in internal order,
// and the next read starts after the last whole line.
func TestReadAccepted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shares.log")
	h := strings.Repeat("00", 31) + "ff"
	data := h + " accepted\n" + h + " rejected 21 stale\n- rejected 20 x\n" + h[:10]
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	lf := &shareLogFile{path: path}
	got, err := lf.readAccepted()
	if err != nil || len(got) != 1 || got[0][0] != 0xff || got[0][31] != 0 {
		t.Fatalf("first read: %x %v", got, err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(h[10:] + " accepted\n")
	f.Close()
	if got, err = lf.readAccepted(); err != nil || len(got) != 1 {
		t.Fatalf("second read: %x %v", got, err)
	}
	if got, err = lf.readAccepted(); err != nil || len(got) != 0 {
		t.Fatalf("third read: %x %v", got, err)
	}
}
