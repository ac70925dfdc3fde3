package main

import (
	"fmt"
	"strings"
)

// Offsets of the job fields the kernels read (miner/job.go; a test checks them).
const (
	offTop      = 328
	offShaState = 332 // [8]uint32: block 2 state before round 4 (nonce part left out), ABEF then CDGH
	offShaM0    = 364 // [4]uint32: W0, W1, W2, 0 of block 2
	offMidSHA   = 380 // [8]uint32: midstate, ABEF then CDGH
)

// shani writes scanSHANI<streams>: SHA-NI sha256d over nonces, streams nonces interleaved.
//
// Block 2 starts after round 3 (rounds 0..3 are precomputed per job; the nonce word only
// adds to A and E), the padding words of both blocks come from tables, and hash 2 stops
// after rounds 60-61: F then holds e60, which becomes H after round 63, so H7 = IV7 + e60.
func (g *gen) shani(streams int, viaStack bool) {
	name := fmt.Sprintf("scanSHANI%d", streams)
	frame := 0
	if viaStack {
		name += "M"
		frame = 16 * streams
	}
	gprs := []string{"AX", "BX", "DX", "R13"}
	var lists [][]string
	for s := 0; s < streams; s++ {
		x := func(i int) string { return fmt.Sprintf("X%d", 1+7*s+i) }
		slot := ""
		if viaStack {
			slot = fmt.Sprintf("%d(SP)", 16*s)
		}
		lists = append(lists, shaniStream(s, x(0), x(1), [4]string{x(2), x(3), x(4), x(5)}, x(6), gprs[s], slot))
	}
	g.p("// func %s(j *job, start, n uint32, out *uint32, outCap int) (done uint32, found int)", name)
	g.p("// Requires: SHA, SSE4.1, AVX")
	g.p("TEXT ·%s(SB), NOSPLIT, $%d-48", name, frame)
	g.p("\tMOVQ j+0(FP), DI")
	g.p("\tMOVL start+8(FP), SI")
	g.p("\tMOVL n+12(FP), CX")
	g.p("\tMOVQ out+16(FP), R8")
	g.p("\tMOVQ outCap+24(FP), R9")
	g.p("\tXORQ R10, R10")
	g.p("\tMOVL %d(DI), R11", offTop)
	g.p("\tXORL R12, R12")
	g.p("\tVZEROUPPER")
	g.p("\tTESTL CX, CX")
	g.p("\tJZ %s_ret", name)
	g.p("%s_loop:", name)
	g.p("\tMOVQ R9, AX")
	g.p("\tSUBQ R10, AX")
	g.p("\tCMPQ AX, $%d", streams)
	g.p("\tJLT %s_ret", name)
	g.interleave(lists)
	for s := 0; s < streams; s++ {
		res := fmt.Sprintf("X%d", 1+7*s+3) // hash 2 runs in the old M1 register, which took the new ABEF
		r := gprs[s]
		g.p("\tMOVQ %s, %s", res, r)
		g.p("\tADDL $0x%08x, %s", iv[7], r)
		g.p("\tBSWAPL %s", r)
		g.p("\tCMPL %s, R11", r)
		g.p("\tJHI %s_skip%d", name, s)
		g.p("\tLEAL %d(SI), %s", s, r)
		g.p("\tMOVL %s, (R8)(R10*4)", r)
		g.p("\tINCQ R10")
		g.p("%s_skip%d:", name, s)
	}
	g.p("\tADDL $%d, SI", streams)
	g.p("\tADDL $%d, R12", streams)
	g.p("\tSUBL $%d, CX", streams)
	g.p("\tJNZ %s_loop", name)
	g.p("%s_ret:", name)
	g.p("\tMOVL R12, done+32(FP)")
	g.p("\tMOVQ R10, found+40(FP)")
	g.p("\tRET")
	g.p("")
}

// shaniStream lists the instructions of one stream. Each element is issued as a unit:
// X0 (the round constants register) is shared by every stream, so a group of rounds
// loads and consumes it within one element.
//
// With slot set, the second pair of each group of rounds reads its constants from memory
// (the table, or slot, where the first pair stored them) instead of shuffling X0: on CPUs
// where SHA256RNDS2 and shuffles share a port this keeps that port for the rounds.
func shaniStream(s int, a, c string, m [4]string, t, r, slot string) []string {
	var l []string
	add := func(format string, args ...any) { l = append(l, fmt.Sprintf(format, args...)) }
	// rounds runs one group of four rounds; kw loads X0 (from the table tab when it is not
	// empty, then the second pair loads tab+8).
	rounds := func(kw, tab string, full bool) {
		u := kw
		second := "PSHUFD $0x0e, X0, X0"
		if slot != "" {
			if tab != "" {
				second = "MOVQ " + plus8(tab) + ", X0"
			} else {
				u += fmt.Sprintf("\n\tMOVOU X0, %s", slot)
				second = "MOVQ " + plus8(slot) + ", X0"
			}
		}
		u += fmt.Sprintf("\n\tSHA256RNDS2 X0, %s, %s", a, c)
		if full {
			u += fmt.Sprintf("\n\t%s\n\tSHA256RNDS2 X0, %s, %s", second, c, a)
		}
		l = append(l, u)
	}
	schedule := func(gi int) {
		add("SHA256MSG1 %s, %s", m[(gi-3)%4], m[gi%4])
		// In both blocks, words 9..12 (block 2) and 9..12 (hash 2) are zero padding: the
		// W[i-7] terms of W16..W19 vanish.
		if gi != 4 {
			add("MOVO %s, %s\n\tPALIGNR $4, %s, %s\n\tPADDD %s, %s", m[(gi-1)%4], t, m[(gi-2)%4], t, t, m[gi%4])
		}
		add("SHA256MSG2 %s, %s", m[(gi-1)%4], m[gi%4])
	}
	// Block 2.
	if s == 0 {
		add("MOVL SI, %s\n\tBSWAPL %s", r, r)
	} else {
		add("LEAL %d(SI), %s\n\tBSWAPL %s", s, r, r)
	}
	add("MOVQ %s, %s\n\tPSHUFD $0x11, %s, %s", r, t, t, t) // [0, W3, 0, W3]
	add("VPADDD %d(DI), %s, %s", offShaState, t, a)
	add("MOVOU %d(DI), %s", offShaState+16, c)
	add("MOVOU %d(DI), %s\n\tPINSRD $3, %s, %s", offShaM0, m[0], r, m[0])
	for i := 1; i < 4; i++ {
		add("MOVOU b2pad<>+%d(SB), %s", 16*(i-1), m[i])
	}
	for gi := 1; gi < 16; gi++ {
		if gi < 4 {
			tab := fmt.Sprintf("b2kw<>+%d(SB)", 16*(gi-1))
			rounds("MOVOU "+tab+", X0", tab, true)
			continue
		}
		schedule(gi)
		rounds(fmt.Sprintf("VPADDD k256<>+%d(SB), %s, X0", 16*gi, m[gi%4]), "", true)
	}
	add("VPADDD %d(DI), %s, %s", offMidSHA, a, a)
	add("VPADDD %d(DI), %s, %s", offMidSHA+16, c, c)
	add("PSHUFD $0x1b, %s, %s\n\tPSHUFD $0xb1, %s, %s", a, a, c, c)
	add("MOVO %s, %s\n\tPBLENDW $0xf0, %s, %s\n\tPALIGNR $8, %s, %s", a, t, c, a, t, c)
	// Hash 2: the first hash's words are its message; swap register roles.
	a, c, m[0], m[1] = m[0], m[1], a, c
	add("MOVOU ivabef<>+0(SB), %s\n\tMOVOU ivabef<>+16(SB), %s", a, c)
	add("MOVOU h2pad<>+0(SB), %s\n\tMOVOU h2pad<>+16(SB), %s", m[2], m[3])
	for gi := 0; gi < 16; gi++ {
		switch {
		case gi < 2:
			rounds(fmt.Sprintf("VPADDD k256<>+%d(SB), %s, X0", 16*gi, m[gi]), "", true)
		case gi < 4:
			tab := fmt.Sprintf("h2kw<>+%d(SB)", 16*(gi-2))
			rounds("MOVOU "+tab+", X0", tab, true)
		default:
			schedule(gi)
			rounds(fmt.Sprintf("VPADDD k256<>+%d(SB), %s, X0", 16*gi, m[gi%4]), "", gi < 15)
		}
	}
	return l
}

// plus8 returns the memory operand 8 bytes further on: "x<>+16(SB)" -> "x<>+24(SB)",
// "16(SP)" -> "24(SP)".
func plus8(op string) string {
	if i := strings.Index(op, "<>+"); i >= 0 {
		j := strings.Index(op, "(")
		var n int
		fmt.Sscanf(op[i+3:j], "%d", &n)
		return fmt.Sprintf("%s<>+%d%s", op[:i], n+8, op[j:])
	}
	j := strings.Index(op, "(")
	var n int
	fmt.Sscanf(op[:j], "%d", &n)
	return fmt.Sprintf("%d%s", n+8, op[j:])
}
