package main

import (
	"strings"
	"testing"
)

func TestTernImm(t *testing.T) {
	tests := []struct {
		name string
		f    func(a, b, c bool) bool
		want uint8
	}{
		{"xor3", func(a, b, c bool) bool { return a != b != c }, 0x96},
		{"ch", func(a, b, c bool) bool {
			if a {
				return b
			}
			return c
		}, 0xca},
		{"maj", func(a, b, c bool) bool { return a && b || a && c || b && c }, 0xe8},
	}
	for _, tc := range tests {
		if got := ternImm(tc.f); got != tc.want {
			t.Errorf("%s: %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

func TestPlus8(t *testing.T) {
	tests := map[string]string{
		"b2kw<>+16(SB)": "b2kw<>+24(SB)",
		"h2kw<>+0(SB)":  "h2kw<>+8(SB)",
		"16(SP)":        "24(SP)",
		"0(SP)":         "8(SP)",
	}
	for in, want := range tests {
		if got := plus8(in); got != want {
			t.Errorf("plus8(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGenerate(t *testing.T) {
	g := &gen{}
	g.constants()
	g.vecConstants()
	g.sums()
	g.shani(2, true)
	g.avx512(4, "")
	g.avx2()
	out := g.buf.String()
	for _, fn := range []string{"·sha256dSHANI(SB)", "·sha256dMidSHANI(SB)", "·scanSHANI2M(SB)", "·scanAVX512(SB)", "·scanAVX2(SB)"} {
		if !strings.Contains(out, "TEXT "+fn) {
			t.Errorf("no %s", fn)
		}
	}
}
