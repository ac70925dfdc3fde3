package main

import "fmt"

type avx512 struct{ v *vecKernel }

func (x avx512) addC(mem, src, dst string) { x.v.p("VPADDD.BCST %s, %s, %s", mem, src, dst) }
func (x avx512) add(a, b, dst string)      { x.v.p("VPADDD %s, %s, %s", a, b, dst) }
func (x avx512) bcast(mem, dst string)     { x.v.p("VPBROADCASTD %s, %s", mem, dst) }
func (x avx512) mov(src, dst string)       { x.v.p("VMOVDQA32 %s, %s", src, dst) }

func (x avx512) sig(in string, r0, r1, r2 int, shift bool, dst string, t []string) {
	x.v.p("VPRORD $%d, %s, %s", r0, in, dst)
	x.v.p("VPRORD $%d, %s, %s", r1, in, t[0])
	if shift {
		x.v.p("VPSRLD $%d, %s, %s", r2, in, t[1])
	} else {
		x.v.p("VPRORD $%d, %s, %s", r2, in, t[1])
	}
	x.v.p("VPTERNLOGD $0x%02x, %s, %s, %s", ternImm(func(a, b, c bool) bool { return a != b != c }), t[1], t[0], dst)
}

func (x avx512) ch(e, f, g, dst string) {
	x.v.p("VMOVDQA32 %s, %s", e, dst)
	x.v.p("VPTERNLOGD $0x%02x, %s, %s, %s", ternImm(func(a, b, c bool) bool {
		if a {
			return b
		}
		return c
	}), g, f, dst)
}

func (x avx512) maj(a, b, c, dst string) {
	x.v.p("VMOVDQA32 %s, %s", a, dst)
	x.v.p("VPTERNLOGD $0x%02x, %s, %s, %s", ternImm(func(a, b, c bool) bool {
		return a && b || a && c || b && c
	}), c, b, dst)
}

// avx512 writes scanAVX512: 16 nonces per ZMM register.
func (g *gen) avx512(lead int, suffix string) {
	name := "scanAVX512" + suffix
	v := &vecKernel{g: g, name: name, lanes: 16, reg: "Z", lead: lead,
		t:    []string{"Z8", "Z9", "Z10", "Z11"},
		wReg: func(i int) string { return fmt.Sprintf("Z%d", 16+i%16) },
	}
	v.isa = avx512{v}
	v.pre = func() { v.p("VPSHUFB Z13, Z12, %s", v.wReg(3)) }
	g.p("// func %s(j *job, start, n uint32, out *uint32, outCap int) (done uint32, found int)", name)
	g.p("// Requires: AVX512F, AVX512BW")
	g.p("TEXT ·%s(SB), NOSPLIT, $0-48", name)
	g.p("\tMOVQ j+0(FP), DI")
	g.p("\tMOVL start+8(FP), SI")
	g.p("\tMOVL n+12(FP), CX")
	g.p("\tMOVQ out+16(FP), R8")
	g.p("\tMOVQ outCap+24(FP), R9")
	g.p("\tXORQ R10, R10")
	g.p("\tXORL R12, R12")
	g.p("\tVPBROADCASTD SI, Z12")
	g.p("\tVPADDD lanes16<>(SB), Z12, Z12")
	g.p("\tVMOVDQU32 bswap<>(SB), Z13")
	g.p("\tVPBROADCASTD %d(DI), Z14", offTop)
	g.p("\tTESTL CX, CX")
	g.p("\tJZ %s_ret", name)
	g.p("%s_loop:", name)
	g.p("\tMOVQ R9, AX")
	g.p("\tSUBQ R10, AX")
	g.p("\tCMPQ AX, $16")
	g.p("\tJLT %s_ret", name)
	v.body()
	e := v.st[4]
	g.p("\tVPADDD.BCST iv7<>(SB), %s, %s", e, e)
	g.p("\tVPSHUFB Z13, %s, %s", e, e)
	g.p("\tVPCMPUD $2, Z14, %s, K1", e)
	g.p("\tKMOVW K1, AX")
	g.p("\tTESTL AX, AX")
	g.p("\tJZ %s_next", name)
	g.p("%s_cand:", name)
	g.p("\tBSFL AX, BX")
	g.p("\tLEAL (SI)(BX*1), DX")
	g.p("\tMOVL DX, (R8)(R10*4)")
	g.p("\tINCQ R10")
	g.p("\tLEAL -1(AX), BX")
	g.p("\tANDL BX, AX")
	g.p("\tJNZ %s_cand", name)
	g.p("%s_next:", name)
	g.p("\tVPADDD.BCST lanes16<>+64(SB), Z12, Z12")
	g.p("\tADDL $16, SI")
	g.p("\tADDL $16, R12")
	g.p("\tSUBL $16, CX")
	g.p("\tJNZ %s_loop", name)
	g.p("%s_ret:", name)
	g.p("\tVZEROUPPER")
	g.p("\tMOVL R12, done+32(FP)")
	g.p("\tMOVQ R10, found+40(FP)")
	g.p("\tRET")
	g.p("")
}
