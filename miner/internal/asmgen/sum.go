package main

// shaBlock emits the 64 rounds of one compression on the state in X1 (ABEF) and X2
// (CDGH) with the message words in m (its four registers are overwritten), X0 and X7 as
// scratch. It does not add the state from before the block.
func (g *gen) shaBlock(m [4]string) {
	for gi := 0; gi < 16; gi++ {
		if gi >= 4 {
			g.p("\tSHA256MSG1 %s, %s", m[(gi-3)%4], m[gi%4])
			g.p("\tMOVO %s, X7", m[(gi-1)%4])
			g.p("\tPALIGNR $4, %s, X7", m[(gi-2)%4])
			g.p("\tPADDD X7, %s", m[gi%4])
			g.p("\tSHA256MSG2 %s, %s", m[(gi-1)%4], m[gi%4])
		}
		g.p("\tVPADDD k256<>+%d(SB), %s, X0", 16*gi, m[gi%4])
		g.p("\tSHA256RNDS2 X0, X1, X2")
		g.p("\tPSHUFD $0x0e, X0, X0")
		g.p("\tSHA256RNDS2 X0, X2, X1")
	}
}

// toWords turns ABEF (X1), CDGH (X2) into [a, b, c, d] (X1) and [e, f, g, h] (X2).
func (g *gen) toWords() {
	g.p("\tPSHUFD $0x1b, X1, X1")
	g.p("\tPSHUFD $0xb1, X2, X2")
	g.p("\tMOVO X1, X7")
	g.p("\tPBLENDW $0xf0, X2, X1")
	g.p("\tPALIGNR $8, X7, X2")
}

// hash2 emits the second hash over the digest words in X1, X2 and stores it, byte-swapped
// into the digest's big-endian byte order, at (DI). X8 holds the byte-swap mask.
func (g *gen) hash2() {
	g.toWords()
	g.p("\tMOVO X1, X3")
	g.p("\tMOVO X2, X4")
	g.p("\tMOVOU h2pad<>+0(SB), X5")
	g.p("\tMOVOU h2pad<>+16(SB), X6")
	g.p("\tMOVOU ivabef<>+0(SB), X1")
	g.p("\tMOVOU ivabef<>+16(SB), X2")
	g.shaBlock([4]string{"X3", "X4", "X5", "X6"})
	g.p("\tVPADDD ivabef<>+0(SB), X1, X1")
	g.p("\tVPADDD ivabef<>+16(SB), X2, X2")
	g.toWords()
	g.p("\tPSHUFB X8, X1")
	g.p("\tPSHUFB X8, X2")
	g.p("\tMOVOU X1, (DI)")
	g.p("\tMOVOU X2, 16(DI)")
}

// sums writes the single-hash SHA-NI paths:
//
//	sha256dSHANI(h *[80]byte, out *[32]byte): sha256d of a whole header, three compressions.
//	sha256dMidSHANI(mid *[8]uint32, tail *[16]byte, out *[32]byte): sha256d from a midstate
//	in ABEF/CDGH order and the header's last 16 bytes, two compressions.
func (g *gen) sums() {
	g.p("// func sha256dSHANI(h *[80]byte, out *[32]byte)")
	g.p("// Requires: SHA, SSE4.1, AVX")
	g.p("TEXT ·sha256dSHANI(SB), NOSPLIT, $0-16")
	g.p("\tMOVQ h+0(FP), SI")
	g.p("\tMOVQ out+8(FP), DI")
	g.p("\tVZEROUPPER")
	g.p("\tMOVOU bswap<>(SB), X8")
	g.p("\tMOVOU ivabef<>+0(SB), X1")
	g.p("\tMOVOU ivabef<>+16(SB), X2")
	m := [4]string{"X3", "X4", "X5", "X6"}
	for i, r := range m {
		g.p("\tMOVOU %d(SI), %s", 16*i, r)
		g.p("\tPSHUFB X8, %s", r)
	}
	g.shaBlock(m)
	g.p("\tVPADDD ivabef<>+0(SB), X1, X1")
	g.p("\tVPADDD ivabef<>+16(SB), X2, X2")
	g.p("\tMOVO X1, X9")
	g.p("\tMOVO X2, X10")
	g.block2()
	g.hash2()
	g.p("\tRET")
	g.p("")

	g.p("// func sha256dMidSHANI(mid *[8]uint32, tail *[16]byte, out *[32]byte)")
	g.p("// Requires: SHA, SSE4.1, AVX")
	g.p("TEXT ·sha256dMidSHANI(SB), NOSPLIT, $0-24")
	g.p("\tMOVQ mid+0(FP), AX")
	g.p("\tMOVQ tail+8(FP), SI")
	g.p("\tMOVQ out+16(FP), DI")
	g.p("\tVZEROUPPER")
	g.p("\tMOVOU bswap<>(SB), X8")
	g.p("\tMOVOU (AX), X9")
	g.p("\tMOVOU 16(AX), X10")
	g.p("\tSUBQ $64, SI") // block2 reads the tail at 64(SI)
	g.p("\tMOVO X9, X1")
	g.p("\tMOVO X10, X2")
	g.block2()
	g.hash2()
	g.p("\tRET")
	g.p("")
}

// block2 compresses the header's last 16 bytes (at 64(SI)) and the padding of an 80-byte
// message onto the midstate in X9, X10 (ABEF, CDGH; also the state in X1, X2) and leaves the
// first hash's state in X1, X2.
func (g *gen) block2() {
	g.p("\tMOVO X9, X1")
	g.p("\tMOVO X10, X2")
	g.p("\tMOVOU 64(SI), X3")
	g.p("\tPSHUFB X8, X3")
	g.p("\tMOVOU b2pad<>+0(SB), X4")
	g.p("\tMOVOU b2pad<>+16(SB), X5")
	g.p("\tMOVOU b2pad<>+32(SB), X6")
	g.shaBlock([4]string{"X3", "X4", "X5", "X6"})
	g.p("\tPADDD X9, X1")
	g.p("\tPADDD X10, X2")
}
