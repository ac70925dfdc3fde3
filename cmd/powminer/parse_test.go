package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/proofow/powbroker/cmd/internal/cli"
)

// targetCmd returns a command whose --target and --bits flags are set as given ("" = unset).
func targetCmd(t testing.TB, target, bits string) *cobra.Command {
	t.Helper()
	c := &cobra.Command{}
	c.Flags().String("target", "", "")
	c.Flags().String("bits", "", "")
	if target != "-" {
		if err := c.Flags().Set("target", target); err != nil {
			t.Fatal(err)
		}
	}
	if bits != "-" {
		if err := c.Flags().Set("bits", bits); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		name, target, bits string
		wantTop            byte // most significant byte of the result
		wantLow            byte // least significant byte
		ok                 bool
	}{
		{"display order", "ab" + strings.Repeat("00", 30) + "cd", "-", 0xab, 0xcd, true},
		{"bits diff1", "-", "1d00ffff", 0x00, 0x00, true},
		{"bits regtest", "-", "207fffff", 0x7f, 0x00, true},
		{"neither", "-", "-", 0, 0, false},
		{"both", strings.Repeat("0", 64), "1d00ffff", 0, 0, false},
		{"odd hex", strings.Repeat("0", 63), "-", 0, 0, false},
		{"negative bits", "-", "1d80ffff", 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := parseTarget(targetCmd(t, tc.target, tc.bits), tc.target, tc.bits)
			if !tc.ok {
				var ue *cli.UsageError
				if !errors.As(err, &ue) {
					t.Fatalf("err %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tg[31] != tc.wantTop || tg[0] != tc.wantLow {
				t.Fatalf("target %x: top %02x low %02x", tg, tg[31], tg[0])
			}
		})
	}
}

// FuzzParseFlags feeds arbitrary text to the hex parsers of powminer scan: they never
// panic, fail only with usage errors, and what they accept round-trips.
func FuzzParseFlags(f *testing.F) {
	f.Add(strings.Repeat("00", 80), strings.Repeat("f", 64), "1d00ffff")
	f.Add("zz", "0x12", "1d00fffg")
	f.Add(strings.Repeat("a", 159), strings.Repeat("0", 65), "")
	f.Fuzz(func(t *testing.T, header, target, bits string) {
		h, err := parseHeader(header)
		var ue *cli.UsageError
		switch {
		case err != nil && !errors.As(err, &ue):
			t.Fatalf("parseHeader: %v is not a usage error", err)
		case err == nil && hex.EncodeToString(h[:]) != strings.ToLower(header):
			t.Fatalf("parseHeader(%q) = %x", header, h[:])
		}
		tg, err := parseTarget(targetCmd(t, target, "-"), target, "")
		switch {
		case err != nil && !errors.As(err, &ue):
			t.Fatalf("parseTarget: %v is not a usage error", err)
		case err == nil && fmt.Sprintf("%064x", tg.Big()) != strings.ToLower(target):
			t.Fatalf("parseTarget(%q) = %064x", target, tg.Big())
		}
		if _, err := parseTarget(targetCmd(t, "-", bits), "", bits); err != nil && !errors.As(err, &ue) {
			t.Fatalf("parseTarget bits: %v is not a usage error", err)
		}
	})
}
