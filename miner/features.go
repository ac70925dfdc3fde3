package miner

import "strings"

// host holds this CPU's features, read once at start-up (like golang.org/x/sys/cpu's
// flags) and never written afterwards.
var host = detect()

// features are the CPU features the kernels need.
type features struct {
	SHA    bool // SHA-NI: sha256rnds2, sha256msg1, sha256msg2
	SSE41  bool
	AVX    bool // the VEX encoding, with OS support for YMM state
	AVX2   bool
	AVX512 bool // AVX-512 F, BW and VL, with OS support for ZMM state
}

// need lists the features in want that have misses, as a reason ("" when none).
func need(have features, want features) string {
	var miss []string
	if want.SHA && !have.SHA {
		miss = append(miss, "SHA-NI (sha_ni)")
	}
	if want.SSE41 && !have.SSE41 {
		miss = append(miss, "SSE4.1")
	}
	if want.AVX && !have.AVX {
		miss = append(miss, "AVX")
	}
	if want.AVX2 && !have.AVX2 {
		miss = append(miss, "AVX2")
	}
	if want.AVX512 && !have.AVX512 {
		miss = append(miss, "AVX-512 F/BW/VL")
	}
	if len(miss) == 0 {
		return ""
	}
	return "the CPU lacks " + strings.Join(miss, ", ")
}
