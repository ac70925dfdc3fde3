package miner

import (
	"crypto/sha256"
	"encoding/binary"
)

// Midstate is the SHA-256 state after the first 64 bytes of a header: what every nonce of
// the same header shares.
type Midstate struct {
	s [8]uint32
}

// NewMidstate compresses the first 64 bytes of h.
func NewMidstate(h *Header) Midstate {
	m := Midstate{s: iv}
	compress(&m.s, h[:64])
	return m
}

// Sum returns sha256d of h (internal byte order) using the midstate; h's first 64 bytes
// must be the ones the midstate was made from. It costs two compressions.
func (m *Midstate) Sum(h *Header) [32]byte {
	var out [32]byte
	sumMidstate(&m.s, h, &out)
	return out
}

// sumGeneric is the pure Go sha256d over a midstate: the header's second block, then the
// single block of the second hash.
func sumGeneric(mid *[8]uint32, h *Header, out *[32]byte) {
	var w [64]uint32
	for i := 0; i < 4; i++ {
		w[i] = binary.BigEndian.Uint32(h[64+4*i:])
	}
	w[4] = 0x80000000
	w[15] = 640
	expand(&w)
	s := *mid
	rounds(&s, &w, 0, 64)
	for i := range s {
		w[i] = s[i] + mid[i]
	}
	w[8] = 0x80000000
	clear(w[9:])
	w[15] = 256
	expand(&w)
	s = iv
	rounds(&s, &w, 0, 64)
	for i := range s {
		binary.BigEndian.PutUint32(out[4*i:], s[i]+iv[i])
	}
}

// Sum returns sha256d of the header (internal byte order) by the fastest single-hash path
// available on this CPU.
func Sum(h *Header) [32]byte {
	var out [32]byte
	sumFull(h, &out)
	return out
}

// sumStd is sha256d by the standard library, the reference every kernel is tested against.
func sumStd(h *Header) [32]byte {
	first := sha256.Sum256(h[:])
	return sha256.Sum256(first[:])
}
