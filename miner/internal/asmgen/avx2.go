package main

import "fmt"

// avx2 implements the vector operations with AVX2: no rotate, no ternary logic, no
// broadcast memory operands, 16 registers; the message schedule lives on the stack.
type avx2 struct{ v *vecKernel }

const avx2C = "Y15" // scratch for broadcast constants and memory results

func (x avx2) addC(mem, src, dst string) {
	x.v.p("VPBROADCASTD %s, %s", mem, avx2C)
	if isMem(dst) {
		x.v.p("VPADDD %s, %s, %s", src, avx2C, avx2C)
		x.v.p("VMOVDQU %s, %s", avx2C, dst)
		return
	}
	x.v.p("VPADDD %s, %s, %s", src, avx2C, dst)
}

func (x avx2) add(a, b, dst string) {
	if isMem(b) {
		a, b = b, a
	}
	if isMem(b) {
		x.v.p("VMOVDQU %s, %s", b, avx2C)
		b = avx2C
	}
	if isMem(dst) {
		x.v.p("VPADDD %s, %s, %s", a, b, avx2C)
		x.v.p("VMOVDQU %s, %s", avx2C, dst)
		return
	}
	x.v.p("VPADDD %s, %s, %s", a, b, dst)
}

func (x avx2) bcast(mem, dst string) { x.v.p("VPBROADCASTD %s, %s", mem, dst) }
func (x avx2) mov(src, dst string)   { x.v.p("VMOVDQU %s, %s", src, dst) }

func (x avx2) sig(in string, r0, r1, r2 int, shift bool, dst string, t []string) {
	if isMem(in) {
		x.v.p("VMOVDQU %s, %s", in, t[1])
		in = t[1]
	}
	tmp := t[0]
	x.v.p("VPSRLD $%d, %s, %s", r0, in, dst)
	x.v.p("VPSLLD $%d, %s, %s", 32-r0, in, tmp)
	x.v.p("VPXOR %s, %s, %s", tmp, dst, dst)
	x.v.p("VPSRLD $%d, %s, %s", r1, in, tmp)
	x.v.p("VPXOR %s, %s, %s", tmp, dst, dst)
	x.v.p("VPSLLD $%d, %s, %s", 32-r1, in, tmp)
	x.v.p("VPXOR %s, %s, %s", tmp, dst, dst)
	x.v.p("VPSRLD $%d, %s, %s", r2, in, tmp)
	x.v.p("VPXOR %s, %s, %s", tmp, dst, dst)
	if !shift {
		x.v.p("VPSLLD $%d, %s, %s", 32-r2, in, tmp)
		x.v.p("VPXOR %s, %s, %s", tmp, dst, dst)
	}
}

func (x avx2) ch(e, f, g, dst string) {
	x.v.p("VPXOR %s, %s, %s", g, f, dst)
	x.v.p("VPAND %s, %s, %s", e, dst, dst)
	x.v.p("VPXOR %s, %s, %s", g, dst, dst)
}

func (x avx2) maj(a, b, c, dst string) {
	x.v.p("VPOR %s, %s, %s", b, a, dst)
	x.v.p("VPAND %s, %s, %s", c, dst, dst)
	x.v.p("VPAND %s, %s, %s", b, a, avx2C)
	x.v.p("VPOR %s, %s, %s", avx2C, dst, dst)
}

// avx2 writes scanAVX2: 8 nonces per YMM register.
func (g *gen) avx2() {
	const name = "scanAVX2"
	v := &vecKernel{g: g, name: name, lanes: 8, reg: "Y", lead: 4,
		t:    []string{"Y8", "Y9", "Y10", "Y11"},
		wReg: func(i int) string { return fmt.Sprintf("%d(SP)", 32*(i%16)) },
	}
	v.isa = avx2{v}
	v.pre = func() {
		v.p("VPSHUFB Y13, Y12, %s", avx2C)
		v.p("VMOVDQU %s, %s", avx2C, v.wReg(3))
	}
	g.p("// func %s(j *job, start, n uint32, out *uint32, outCap int) (done uint32, found int)", name)
	g.p("// Requires: AVX, AVX2")
	g.p("TEXT ·%s(SB), NOSPLIT, $512-48", name)
	g.p("\tMOVQ j+0(FP), DI")
	g.p("\tMOVL start+8(FP), SI")
	g.p("\tMOVL n+12(FP), CX")
	g.p("\tMOVQ out+16(FP), R8")
	g.p("\tMOVQ outCap+24(FP), R9")
	g.p("\tXORQ R10, R10")
	g.p("\tXORL R12, R12")
	g.p("\tMOVQ SI, X12")
	g.p("\tVPBROADCASTD X12, Y12")
	g.p("\tVPADDD lanes16<>(SB), Y12, Y12")
	g.p("\tVMOVDQU bswap<>(SB), Y13")
	g.p("\tVPBROADCASTD %d(DI), Y14", offTop)
	g.p("\tTESTL CX, CX")
	g.p("\tJZ %s_ret", name)
	g.p("%s_loop:", name)
	g.p("\tMOVQ R9, AX")
	g.p("\tSUBQ R10, AX")
	g.p("\tCMPQ AX, $8")
	g.p("\tJLT %s_ret", name)
	v.body()
	e := v.st[4]
	g.p("\tVPBROADCASTD iv7<>(SB), %s", avx2C)
	g.p("\tVPADDD %s, %s, %s", avx2C, e, e)
	g.p("\tVPSHUFB Y13, %s, %s", e, e)
	g.p("\tVPMAXUD Y14, %s, %s", e, e)
	g.p("\tVPCMPEQD Y14, %s, %s", e, e)
	g.p("\tVMOVMSKPS %s, AX", e)
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
	g.p("\tVPBROADCASTD lanes16<>+68(SB), %s", avx2C)
	g.p("\tVPADDD %s, Y12, Y12", avx2C)
	g.p("\tADDL $8, SI")
	g.p("\tADDL $8, R12")
	g.p("\tSUBL $8, CX")
	g.p("\tJNZ %s_loop", name)
	g.p("%s_ret:", name)
	g.p("\tVZEROUPPER")
	g.p("\tMOVL R12, done+32(FP)")
	g.p("\tMOVQ R10, found+40(FP)")
	g.p("\tRET")
	g.p("")
}
