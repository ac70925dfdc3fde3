package miner

import (
	"encoding/binary"
	"math/big"
)

// Header is a serialized block header (the layout of wire.BlockHeader.Serialize):
// version, previous block hash, merkle root, time, bits, nonce; little-endian fields.
type Header [80]byte

// Nonce returns the header's nonce field.
func (h *Header) Nonce() uint32 { return binary.LittleEndian.Uint32(h[76:]) }

// SetNonce stores n in the header's nonce field.
func (h *Header) SetNonce(n uint32) { binary.LittleEndian.PutUint32(h[76:], n) }

// Target is a 256-bit target stored little-endian (byte 31 is the most significant),
// the order in which header hashes (internal byte order) are compared.
type Target [32]byte

// TargetFromBig converts t to a Target. Negative values give the zero target and values
// of 2^256 or more saturate at 2^256-1.
func TargetFromBig(t *big.Int) Target {
	var out Target
	if t.Sign() <= 0 {
		return out
	}
	if t.BitLen() > 256 {
		for i := range out {
			out[i] = 0xff
		}
		return out
	}
	var be [32]byte
	t.FillBytes(be[:])
	for i := range be {
		out[i] = be[31-i]
	}
	return out
}

// Big returns the target as an integer.
func (t *Target) Big() *big.Int {
	var be [32]byte
	for i := range be {
		be[i] = t[31-i]
	}
	return new(big.Int).SetBytes(be[:])
}

// top returns the most significant 32 bits of the target.
func (t *Target) top() uint32 { return binary.LittleEndian.Uint32(t[28:]) }

// Meets reports whether hash (internal byte order, read as a little-endian integer) is at
// or below the target. It compares 64 bits at a time from the most significant end.
func (t *Target) Meets(hash *[32]byte) bool {
	for i := 24; i >= 0; i -= 8 {
		h := binary.LittleEndian.Uint64(hash[i:])
		v := binary.LittleEndian.Uint64(t[i:])
		if h != v {
			return h < v
		}
	}
	return true
}
