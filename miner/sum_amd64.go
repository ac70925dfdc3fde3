package miner

// hasSHANI tells whether the single-hash paths can use SHA-NI.
var hasSHANI = host.SHA && host.SSE41 && host.AVX

func sumMidstate(mid *[8]uint32, h *Header, out *[32]byte) {
	if !hasSHANI {
		sumGeneric(mid, h, out)
		return
	}
	sumMidSHANI(mid, h, out)
}

// sumMidSHANI is sha256d over a midstate with SHA-NI: two compressions in one call.
func sumMidSHANI(mid *[8]uint32, h *Header, out *[32]byte) {
	m := shaOrder(mid)
	sha256dMidSHANI(&m, (*[16]byte)(h[64:]), out)
}

func sumFull(h *Header, out *[32]byte) {
	if !hasSHANI {
		*out = sumStd(h)
		return
	}
	sha256dSHANI((*[80]byte)(h), out)
}

//go:noescape
func sha256dSHANI(h *[80]byte, out *[32]byte)

//go:noescape
func sha256dMidSHANI(mid *[8]uint32, tail *[16]byte, out *[32]byte)
