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

// scanPortable runs the standard library's SHA-256 from the midstate for every nonce,
// so the two remaining compressions run on whatever the Go toolchain accelerates (SHA-NI
// or AVX2 on amd64, the SHA-2 instructions on arm64). It feeds whole padded blocks (no
// buffering, no finalization) and reads the state back with AppendBinary; profiling
// showed the standard Sum's padding and copies costing about a third of the time.
func scanPortable(j *job, start, n uint32, out []uint32) []uint32 {
	d := sha256.New()
	u := d.(encoding.BinaryUnmarshaler)
	a := d.(encoding.BinaryAppender)
	state := marshalMid(&j.mid)
	var b2, b3 [64]byte
	for i := 0; i < 3; i++ {
		binary.BigEndian.PutUint32(b2[4*i:], j.w[i])
	}
	b2[16] = 0x80
	binary.BigEndian.PutUint64(b2[56:], 640)
	b3[32] = 0x80
	binary.BigEndian.PutUint64(b3[56:], 256)
	var buf [128]byte
	for i := uint32(0); i < n; i++ {
		nonce := start + i
		binary.LittleEndian.PutUint32(b2[12:], nonce)
		if err := u.UnmarshalBinary(state); err != nil {
			panic(err) // marshalMid writes the standard library's own format
		}
		d.Write(b2[:])
		st, _ := a.AppendBinary(buf[:0])
		copy(b3[:32], st[4:36])
		d.Reset()
		d.Write(b3[:])
		st, _ = a.AppendBinary(buf[:0])
		if bits.ReverseBytes32(binary.BigEndian.Uint32(st[32:36])) <= j.top {
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
