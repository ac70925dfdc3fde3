package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/proofow/powbroker/miner"
	"github.com/proofow/powbroker/miner/mainnet"
)

// run executes powminer with args and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	code := cli.Run(root, args, &errb)
	return out.String(), errb.String(), code
}

func TestScanRealBlocks(t *testing.T) {
	blocks, err := mainnet.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, height := range []int{0, 170, 9999, 14131} {
		b := blocks[height]
		hdr := hex.EncodeToString(b.Raw[:])
		nonce := b.Header.Nonce
		start := nonce - 500
		if nonce < 500 {
			start = 0
		}
		want := fmt.Sprintf(`{"nonce":%d,"hash":"%s"}`, nonce, b.Header.BlockHash())
		bits := fmt.Sprintf("%08x", b.Header.Bits)
		tg := miner.TargetFromBig(blockchain.CompactToBig(b.Header.Bits))
		big := tg.Big()
		targetHex := fmt.Sprintf("%064x", big)
		for _, form := range [][]string{{"--bits", bits}, {"--target", targetHex}} {
			args := append([]string{"scan", "--header", hdr, "--start", fmt.Sprint(start), "--count", "1000", "--json"}, form...)
			for _, kernel := range []string{"", "portable"} {
				a := args
				if kernel != "" {
					a = append(a, "--kernel", kernel)
				}
				out, errs, code := run(t, a...)
				if code != 0 {
					t.Fatalf("block %d %v: exit %d: %s", height, a, code, errs)
				}
				var res struct {
					Found   []json.RawMessage `json:"found"`
					Hashes  uint64            `json:"hashes"`
					Seconds *float64          `json:"seconds"`
				}
				if err := json.Unmarshal([]byte(out), &res); err != nil {
					t.Fatalf("block %d: %v: %s", height, err, out)
				}
				if res.Hashes != 1000 || res.Seconds == nil {
					t.Fatalf("block %d: %s", height, out)
				}
				var hit bool
				for _, f := range res.Found {
					hit = hit || string(f) == want
				}
				if !hit {
					t.Fatalf("block %d: %s does not contain %s", height, out, want)
				}
			}
		}
		// Plain output: one line per find, nonce then display-order hash.
		out, _, code := run(t, "scan", "--header", hdr, "--start", fmt.Sprint(start), "--count", "1000", "--bits", bits, "--threads", "1")
		if code != 0 || !strings.Contains(out, fmt.Sprintf("%d %s\n", nonce, b.Header.BlockHash())) {
			t.Fatalf("block %d plain: exit %d, %q", height, code, out)
		}
	}
}

func TestScanJSONShape(t *testing.T) {
	hdr := strings.Repeat("00", 80)
	out, errs, code := run(t, "scan", "--header", hdr, "--start", "4294967000", "--count", "296", "--target", strings.Repeat("0", 64), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "found,hashes,seconds" {
		t.Fatalf("keys %v", keys)
	}
	if !strings.Contains(out, `"found":[]`) || m["hashes"].(float64) != 296 {
		t.Fatalf("got %s", out)
	}
	// Everything meets the all-ones target: every nonce is printed, in order.
	out, _, code = run(t, "scan", "--header", hdr, "--start", "10", "--count", "37", "--target", strings.Repeat("f", 64), "--threads", "3")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 37 || !strings.HasPrefix(lines[0], "10 ") || !strings.HasPrefix(lines[36], "46 ") {
		t.Fatalf("exit %d, %d lines: %q", code, len(lines), out)
	}
}

func TestBenchJSON(t *testing.T) {
	out, errs, code := run(t, "bench", "--seconds", "0.3", "--threads", "1", "--kernel", "portable", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "baseline_mhs,kernel,mhs,ratio,threads" {
		t.Fatalf("keys %v", keys)
	}
	mhs, base, ratio := m["mhs"].(float64), m["baseline_mhs"].(float64), m["ratio"].(float64)
	if m["kernel"] != "portable" || m["threads"].(float64) != 1 || mhs <= 0 || base <= 0 {
		t.Fatalf("got %s", out)
	}
	if math.Abs(ratio-mhs/base) > 0.01 {
		t.Fatalf("ratio %v, want mhs/threads/baseline = %v", ratio, mhs/base)
	}
	out, _, code = run(t, "bench", "--seconds", "0.1", "--threads", "2")
	if code != 0 || !strings.Contains(out, "2 threads") || !strings.Contains(out, "ratio") {
		t.Fatalf("plain bench: exit %d, %q", code, out)
	}
}

func TestMisuse(t *testing.T) {
	hdr := strings.Repeat("00", 80)
	tgt := strings.Repeat("0", 8) + strings.Repeat("f", 56)
	tests := []struct {
		name string
		args []string
	}{
		{"no subcommand arg", []string{"nope"}},
		{"scan without header", []string{"scan", "--start", "0", "--count", "1", "--target", tgt}},
		{"bad header hex", []string{"scan", "--header", "zz" + hdr[2:], "--start", "0", "--count", "1", "--target", tgt}},
		{"short header", []string{"scan", "--header", hdr[2:], "--start", "0", "--count", "1", "--target", tgt}},
		{"count zero", []string{"scan", "--header", hdr, "--start", "0", "--count", "0", "--target", tgt}},
		{"count too big", []string{"scan", "--header", hdr, "--start", "0", "--count", "4294967297", "--target", tgt}},
		{"range wraps", []string{"scan", "--header", hdr, "--start", "4294967295", "--count", "2", "--target", tgt}},
		{"start not a number", []string{"scan", "--header", hdr, "--start", "x", "--count", "2", "--target", tgt}},
		{"start too big", []string{"scan", "--header", hdr, "--start", "4294967296", "--count", "2", "--target", tgt}},
		{"no target", []string{"scan", "--header", hdr, "--start", "0", "--count", "2"}},
		{"target and bits", []string{"scan", "--header", hdr, "--start", "0", "--count", "2", "--target", tgt, "--bits", "1d00ffff"}},
		{"short target", []string{"scan", "--header", hdr, "--start", "0", "--count", "2", "--target", tgt[2:]}},
		{"bad target", []string{"scan", "--header", hdr, "--start", "0", "--count", "2", "--target", "g" + tgt[1:]}},
		{"bad bits", []string{"scan", "--header", hdr, "--start", "0", "--count", "2", "--bits", "1d00fffg"}},
		{"short bits", []string{"scan", "--header", hdr, "--start", "0", "--count", "2", "--bits", "1d00ff"}},
		{"zero bits", []string{"scan", "--header", hdr, "--start", "0", "--count", "2", "--bits", "00000000"}},
		{"unknown kernel", []string{"scan", "--header", hdr, "--start", "0", "--count", "2", "--bits", "1d00ffff", "--kernel", "gpu"}},
		{"zero threads", []string{"scan", "--header", hdr, "--start", "0", "--count", "2", "--bits", "1d00ffff", "--threads", "0"}},
		{"extra arg", []string{"scan", "--header", hdr, "--start", "0", "--count", "2", "--bits", "1d00ffff", "extra"}},
		{"bench seconds zero", []string{"bench", "--seconds", "0"}},
		{"bench seconds negative", []string{"bench", "--seconds", "-1"}},
		{"bench threads zero", []string{"bench", "--threads", "0"}},
		{"bench unknown kernel", []string{"bench", "--kernel", "gpu"}},
		{"bench unknown flag", []string{"bench", "--fast"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := run(t, tc.args...)
			if code != cli.ExitUsage {
				t.Fatalf("exit %d, want 2 (stdout %q, stderr %q)", code, out, errs)
			}
			if strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "powminer: ") {
				t.Fatalf("stderr %q, want one line", errs)
			}
		})
	}
}

// TestScanWindows scans more than one output window: finds stay in nonce order across
// windows and every printed hash is the header's sha256d at that nonce.
func TestScanWindows(t *testing.T) {
	hdr := strings.Repeat("5a", 80)
	tgt := "000fffff" + strings.Repeat("f", 56)
	count := scanWindow + 5000
	out, errs, code := run(t, "scan", "--header", hdr, "--start", "100", "--count", fmt.Sprint(count), "--target", tgt, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Found []struct {
			Nonce uint32 `json:"nonce"`
			Hash  string `json:"hash"`
		} `json:"found"`
		Hashes uint64 `json:"hashes"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Hashes != uint64(count) || len(res.Found) < 100 {
		t.Fatalf("%d hashes, %d finds", res.Hashes, len(res.Found))
	}
	b, _ := hex.DecodeString(hdr)
	var h miner.Header
	copy(h[:], b)
	for i, f := range res.Found {
		if i > 0 && f.Nonce <= res.Found[i-1].Nonce {
			t.Fatalf("find %d: nonce %d after %d", i, f.Nonce, res.Found[i-1].Nonce)
		}
		if f.Nonce < 100 || uint64(f.Nonce) >= 100+uint64(count) {
			t.Fatalf("nonce %d outside the range", f.Nonce)
		}
		h.SetNonce(f.Nonce)
		sum := miner.Sum(&h)
		if got := chainhashString(sum); got != f.Hash || !strings.HasPrefix(got, "000") {
			t.Fatalf("nonce %d: printed %s, sha256d %s", f.Nonce, f.Hash, got)
		}
	}
}

func chainhashString(h [32]byte) string { return chainhash.Hash(h).String() }
