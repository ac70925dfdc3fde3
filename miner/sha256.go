package miner

import (
	"encoding/binary"
	"math/bits"

	"github.com/proofow/powbroker/miner/internal/sha256c"
)

// iv and k are SHA-256's initial state and round constants.
var (
	iv = sha256c.IV
	k  = sha256c.K
)

func bsig0(x uint32) uint32 {
	return bits.RotateLeft32(x, -2) ^ bits.RotateLeft32(x, -13) ^ bits.RotateLeft32(x, -22)
}
func bsig1(x uint32) uint32 {
	return bits.RotateLeft32(x, -6) ^ bits.RotateLeft32(x, -11) ^ bits.RotateLeft32(x, -25)
}
func ssig0(x uint32) uint32     { return bits.RotateLeft32(x, -7) ^ bits.RotateLeft32(x, -18) ^ x>>3 }
func ssig1(x uint32) uint32     { return bits.RotateLeft32(x, -17) ^ bits.RotateLeft32(x, -19) ^ x>>10 }
func ch(e, f, g uint32) uint32  { return (e & f) ^ (^e & g) }
func maj(a, b, c uint32) uint32 { return (a & b) ^ (a & c) ^ (b & c) }

// expand fills w[16:64] from w[0:16].
func expand(w *[64]uint32) {
	for i := 16; i < 64; i++ {
		w[i] = ssig1(w[i-2]) + w[i-7] + ssig0(w[i-15]) + w[i-16]
	}
}

// rounds runs SHA-256 rounds from..to-1 over the working variables s (a..h) with the
// expanded schedule w.
func rounds(s *[8]uint32, w *[64]uint32, from, to int) {
	a, b, c, d, e, f, g, h := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	for i := from; i < to; i++ {
		t1 := h + bsig1(e) + ch(e, f, g) + k[i] + w[i]
		t2 := bsig0(a) + maj(a, b, c)
		h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
	}
	s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7] = a, b, c, d, e, f, g, h
}

// compress applies one SHA-256 compression of the 64-byte block p to state.
func compress(state *[8]uint32, p []byte) {
	var w [64]uint32
	for i := 0; i < 16; i++ {
		w[i] = binary.BigEndian.Uint32(p[4*i:])
	}
	expand(&w)
	s := *state
	rounds(&s, &w, 0, 64)
	for i := range state {
		state[i] += s[i]
	}
}

// digestBytes serializes a state as a 32-byte digest (big-endian words).
func digestBytes(s *[8]uint32) [32]byte {
	var out [32]byte
	for i, v := range s {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}
