package miner

import "math/bits"

// scanGeneric appends to out every nonce of [start, start+n) (wrapping) whose second-hash
// word 7 passes the target's top word. Pure Go, one nonce at a time.
func scanGeneric(j *job, start uint32, n uint32, out []uint32) []uint32 {
	for i := uint32(0); i < n; i++ {
		nonce := start + i
		if bits.ReverseBytes32(j.h7Generic(nonce)) <= j.top {
			out = append(out, nonce)
		}
	}
	return out
}
