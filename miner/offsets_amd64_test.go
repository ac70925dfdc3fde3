package miner

import (
	"testing"
	"unsafe"
)

// The assembly generator (internal/asmgen) hard-codes these offsets.
func TestJobLayout(t *testing.T) {
	var j job
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"top", unsafe.Offsetof(j.top), 328},
		{"shaState", unsafe.Offsetof(j.shaState), 332},
		{"shaM0", unsafe.Offsetof(j.shaM0), 364},
		{"midSHA", unsafe.Offsetof(j.midSHA), 380},
		{"mid", unsafe.Offsetof(j.mid), 0},
		{"b2st", unsafe.Offsetof(j.b2st), 412},
		{"b2c", unsafe.Offsetof(j.b2c), 444},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("offset of %s is %d, the assembly reads %d", tc.name, tc.got, tc.want)
		}
	}
}
