package main

import "fmt"

// compress writes compressSHANI(state *[8]uint32, w *[16]uint32): one SHA-256
// compression of the message words w (already big-endian decoded) into state.
func (g *gen) compress() {
	g.p("// func compressSHANI(state *[8]uint32, w *[16]uint32)")
	g.p("// Requires: SHA, SSE4.1, AVX")
	g.p("TEXT ·compressSHANI(SB), NOSPLIT, $0-16")
	g.p("\tMOVQ state+0(FP), DI")
	g.p("\tMOVQ w+8(FP), SI")
	g.p("\tVZEROUPPER")
	g.p("\tMOVOU (DI), X1")
	g.p("\tMOVOU 16(DI), X2")
	g.p("\tPSHUFD $0xb1, X1, X1")
	g.p("\tPSHUFD $0x1b, X2, X2")
	g.p("\tMOVO X1, X7")
	g.p("\tPALIGNR $8, X2, X1")
	g.p("\tPBLENDW $0xf0, X7, X2")
	g.p("\tMOVO X1, X8")
	g.p("\tMOVO X2, X9")
	m := [4]string{"X3", "X4", "X5", "X6"}
	for i := range m {
		g.p("\tMOVOU %d(SI), %s", 16*i, m[i])
	}
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
	g.p("\tPADDD X8, X1")
	g.p("\tPADDD X9, X2")
	g.p("\tPSHUFD $0x1b, X1, X1")
	g.p("\tPSHUFD $0xb1, X2, X2")
	g.p("\tMOVO X1, X7")
	g.p("\tPBLENDW $0xf0, X2, X1")
	g.p("\tPALIGNR $8, X7, X2")
	g.p("\tMOVOU X1, (DI)")
	g.p("\tMOVOU X2, 16(DI)")
	g.p("\tRET")
	g.p("")
	_ = fmt.Sprint
}
