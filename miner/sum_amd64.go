package miner

import "encoding/binary"

//go:noescape
func compressSHANI(state *[8]uint32, w *[16]uint32)

// hasSHANI tells whether the single-hash paths can use SHA-NI.
var hasSHANI = host.SHA && host.SSE41 && host.AVX

func sumMidstate(mid *[8]uint32, h *Header, out *[32]byte) {
	if !hasSHANI {
		sumGeneric(mid, h, out)
		return
	}
	sumMidSHANI(mid, h, out)
}

// sumMidSHANI is sha256d over a midstate with SHA-NI: two compressions.
func sumMidSHANI(mid *[8]uint32, h *Header, out *[32]byte) {
	var w [16]uint32
	for i := 0; i < 4; i++ {
		w[i] = binary.BigEndian.Uint32(h[64+4*i:])
	}
	w[4] = 0x80000000
	w[15] = 640
	s := *mid
	compressSHANI(&s, &w)
	copy(w[:8], s[:])
	w[8] = 0x80000000
	clear(w[9:15])
	w[15] = 256
	s = iv
	compressSHANI(&s, &w)
	for i, v := range s {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
}

func sumFull(h *Header, out *[32]byte) {
	if !hasSHANI {
		*out = sumStd(h)
		return
	}
	var w [16]uint32
	for i := range w {
		w[i] = binary.BigEndian.Uint32(h[4*i:])
	}
	mid := iv
	compressSHANI(&mid, &w)
	sumMidSHANI(&mid, h, out)
}
