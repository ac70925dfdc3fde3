package miner

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"math/bits"
)

// Portable returns the kernel that runs on every CPU Go supports: pure Go, with a
// midstate, no assembly of its own.
func Portable() Kernel { return portableKernel }

var portableKernel = &kernel{name: "portable", lanes: 1, scan: scanPortable}

// scanPortable restores the standard library's SHA-256 at the midstate for every nonce,
// so the two remaining compressions run on whatever the Go toolchain accelerates
// (SHA-NI or AVX2 on amd64, the SHA-2 instructions on arm64).
func scanPortable(j *job, start, n uint32, out []uint32) []uint32 {
	d := sha256.New()
	var tail [16]byte
	for i := 0; i < 3; i++ {
		binary.BigEndian.PutUint32(tail[4*i:], j.w[i])
	}
	var hdr [64]byte
	_ = hdr
	state := marshalMid(&j.mid)
	u := d.(encoding.BinaryUnmarshaler)
	var first [32]byte
	for i := uint32(0); i < n; i++ {
		nonce := start + i
		binary.LittleEndian.PutUint32(tail[12:], nonce)
		if err := u.UnmarshalBinary(state); err != nil {
			panic(err) // the state is built below in the standard library's format
		}
		d.Write(tail[:])
		d.Sum(first[:0])
		second := sha256.Sum256(first[:])
		if bits.ReverseBytes32(binary.BigEndian.Uint32(second[28:])) <= j.top {
			out = append(out, nonce)
		}
	}
	return out
}

// marshalMid renders a midstate in crypto/sha256's MarshalBinary format: magic "sha\x03",
// the eight state words, the 64-byte buffer (empty) and the length so far (64).
func marshalMid(mid *[8]uint32) []byte {
	b := make([]byte, 0, 4+32+64+8)
	b = append(b, "sha\x03"...)
	for _, v := range mid {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	b = append(b, make([]byte, 64)...)
	b = binary.BigEndian.AppendUint64(b, 64)
	return b
}
