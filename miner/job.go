package miner

import (
	"encoding/binary"
	"math/bits"
)

// job holds what every nonce of one header shares: the midstate, the nonce-independent
// words of the second block's schedule and the state after its first three rounds. The
// assembly kernels read it, so its layout is fixed: keep field order and types.
type job struct {
	mid [8]uint32  // state after the first 64 header bytes
	w   [64]uint32 // second block schedule; words that depend on the nonce hold only their constant part
	st3 [8]uint32  // working variables a..h before round 3 of the second block
	e4c uint32     // e after round 3 = e4c + W3
	a4c uint32     // a after round 3 = a4c + W3
	top uint32     // most significant 32 bits of the target (little-endian word 7)

	// SHA-NI layout (lane 0 first): ABEF = [F, E, B, A], CDGH = [H, G, D, C].
	shaState [8]uint32 // block 2 state after round 3 without the nonce's part (added to A and E)
	shaM0    [4]uint32 // block 2 words W0, W1, W2 and 0 for the nonce
	midSHA   [8]uint32 // the midstate

	// Vector kernels (one nonce per lane).
	b2st [8]uint32  // block 2 state after round 3 without the nonce's part (added to a and e)
	b2c  [64]uint32 // [16], [17]: K+W of rounds 16, 17; [18:]: the nonce-independent part of W_i
}

// b2vary tells whether word i of block 2's schedule depends on the nonce.
func b2vary(i int) bool { return i == 3 || i >= 18 }

// shaOrder arranges a state a..h as SHA-NI's ABEF and CDGH registers.
func shaOrder(s *[8]uint32) [8]uint32 {
	return [8]uint32{s[5], s[4], s[1], s[0], s[7], s[6], s[3], s[2]}
}

// newJob precomputes the per-header part of sha256d for h and the target's top word.
func newJob(h *Header, t *Target) *job {
	j := &job{mid: iv, top: t.top()}
	compress(&j.mid, h[:64])
	w := &j.w
	for i := 0; i < 3; i++ {
		w[i] = binary.BigEndian.Uint32(h[64+4*i:])
	}
	w[3] = 0 // nonce
	w[4] = 0x80000000
	w[15] = 640
	w[16] = ssig0(w[1]) + w[0]
	w[17] = ssig1(w[15]) + ssig0(w[2]) + w[1]
	w[18] = ssig1(w[16]) + w[2]        // + ssig0(W3)
	w[19] = ssig1(w[17]) + ssig0(w[4]) // + W3
	s := j.mid
	rounds(&s, w, 0, 3)
	j.st3 = s
	a, b, c, d, e, f, g, hh := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	t1 := hh + bsig1(e) + ch(e, f, g) + k[3]
	t2 := bsig0(a) + maj(a, b, c)
	j.e4c = d + t1
	j.a4c = t1 + t2
	after3 := [8]uint32{j.a4c, s[0], s[1], s[2], j.e4c, s[4], s[5], s[6]}
	j.shaState = shaOrder(&after3)
	j.shaM0 = [4]uint32{w[0], w[1], w[2], 0}
	j.midSHA = shaOrder(&j.mid)
	j.b2st = after3
	j.b2c[16] = k[16] + w[16]
	j.b2c[17] = k[17] + w[17]
	for i := 18; i < 64; i++ {
		var c uint32
		if !b2vary(i - 2) {
			c += ssig1(w[i-2])
		}
		if !b2vary(i - 7) {
			c += w[i-7]
		}
		if !b2vary(i - 15) {
			c += ssig0(w[i-15])
		}
		if !b2vary(i - 16) {
			c += w[i-16]
		}
		j.b2c[i] = c
	}
	return j
}

// h7Generic returns word 7 of the second hash's final state for nonce n (byte-swapped
// into the header, as the nonce field is little-endian).
func (j *job) h7Generic(n uint32) uint32 {
	var w [64]uint32
	w = j.w
	w3 := bits.ReverseBytes32(n)
	w[3] = w3
	w[18] += ssig0(w3)
	w[19] += w3
	for i := 20; i < 64; i++ {
		w[i] = ssig1(w[i-2]) + w[i-7] + ssig0(w[i-15]) + w[i-16]
	}
	s := [8]uint32{j.a4c + w3, j.st3[0], j.st3[1], j.st3[2], j.e4c + w3, j.st3[4], j.st3[5], j.st3[6]}
	rounds(&s, &w, 4, 64)
	var w2 [64]uint32
	for i := range s {
		w2[i] = s[i] + j.mid[i]
	}
	w2[8] = 0x80000000
	w2[15] = 256
	for i := 16; i < 61; i++ {
		w2[i] = ssig1(w2[i-2]) + w2[i-7] + ssig0(w2[i-15]) + w2[i-16]
	}
	s = iv
	rounds(&s, &w2, 0, 60)
	// Round 60 gives the e that ends up in h after round 63: only that part is needed.
	e := s[3] + s[7] + bsig1(s[4]) + ch(s[4], s[5], s[6]) + k[60] + w2[60]
	return e + iv[7]
}
