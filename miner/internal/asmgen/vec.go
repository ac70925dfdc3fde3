package main

import (
	"fmt"
	"math/bits"
	"strings"
)

// Offsets of the vector kernels' job fields (miner/job.go).
const (
	offMid  = 0   // [8]uint32 midstate
	offB2St = 412 // [8]uint32: block 2 state after round 3 without the nonce's part
	offB2C  = 444 // [64]uint32: [16], [17] = K+W; [18:] = constant part of W_i
)

func ror(x uint32, n int) uint32 { return bits.RotateLeft32(x, -n) }
func bsig0(x uint32) uint32      { return ror(x, 2) ^ ror(x, 13) ^ ror(x, 22) }
func bsig1(x uint32) uint32      { return ror(x, 6) ^ ror(x, 11) ^ ror(x, 25) }
func ssig0(x uint32) uint32      { return ror(x, 7) ^ ror(x, 18) ^ x>>3 }
func ssig1(x uint32) uint32      { return ror(x, 17) ^ ror(x, 19) ^ x>>10 }

// ternImm returns VPTERNLOGD's immediate for f(A, B, C), where A is the destination.
func ternImm(f func(a, b, c bool) bool) uint8 {
	var imm uint8
	for i := 0; i < 8; i++ {
		if f(i&4 != 0, i&2 != 0, i&1 != 0) {
			imm |= 1 << i
		}
	}
	return imm
}

// isa is what a vector kernel needs from the instruction set; AVX-512 and AVX2 differ.
type isa interface {
	// addC adds a 32-bit constant at mem (broadcast to every lane) to src into dst.
	addC(mem, src, dst string)
	add(a, b, dst string)
	// sig computes x>>>r0 ^ x>>>r1 ^ (x>>>r2 or, if shift, x>>r2) into dst, using temps.
	sig(x string, r0, r1, r2 int, shift bool, dst string, t []string)
	ch(e, f, g, dst string)  // dst = e ? f : g (dst differs from the inputs)
	maj(a, b, c, dst string) // dst differs from the inputs
	bcast(mem, dst string)
	mov(src, dst string)
}

// vecKernel describes where a vector kernel keeps things.
type vecKernel struct {
	g     *gen
	name  string
	isa   isa
	lanes int
	reg   string // register prefix: Z or Y
	st    [8]string
	t     []string // temporaries
	wReg  func(i int) string
	lead  int    // message words are computed this many rounds before their use
	pre   func() // emits per-iteration setup: W3 into wReg(3)
}

func (v *vecKernel) p(format string, args ...any) { v.g.p("\t"+format, args...) }

// vary tells whether W_i of block 2 (b2) or of hash 2 depends on the nonce.
func vary(b2 bool, i int) bool {
	if b2 {
		return i == 3 || i >= 18
	}
	return i < 8 || i >= 16
}

// h2w returns hash 2's constant message words.
func h2w(i int) uint32 {
	switch i {
	case 8:
		return 0x80000000
	case 15:
		return 256
	}
	return 0
}

// h2const returns the constant part of hash 2's W_i (i >= 16).
func h2const(i int) uint32 {
	var c uint32
	if !vary(false, i-2) {
		c += ssig1(h2w(i - 2))
	}
	if !vary(false, i-7) {
		c += h2w(i - 7)
	}
	if !vary(false, i-15) {
		c += ssig0(h2w(i - 15))
	}
	if !vary(false, i-16) {
		c += h2w(i - 16)
	}
	return c
}

// b2mayConst tells whether block 2's constant word i can be non-zero.
func b2mayConst(i int) bool {
	switch i {
	case 0, 1, 2, 4, 15, 16, 17:
		return true
	}
	return false
}

// schedule computes W_i into wReg(i) (which holds W_{i-16}).
func (v *vecKernel) schedule(b2 bool, i int) {
	dst := v.wReg(i)
	var ops []string
	t := v.t
	hasConst := false
	if vary(b2, i-2) {
		v.isa.sig(v.wReg(i-2), 17, 19, 10, true, t[0], t[2:])
		ops = append(ops, t[0])
	} else if b2 && b2mayConst(i-2) {
		hasConst = true
	}
	if vary(b2, i-7) {
		ops = append(ops, v.wReg(i-7))
	} else if b2 && b2mayConst(i-7) {
		hasConst = true
	}
	if vary(b2, i-15) {
		v.isa.sig(v.wReg(i-15), 7, 18, 3, true, t[1], t[2:])
		ops = append(ops, t[1])
	} else if b2 && b2mayConst(i-15) {
		hasConst = true
	}
	inPlace := vary(b2, i-16)
	if !inPlace && b2 && b2mayConst(i-16) {
		hasConst = true
	}
	if !b2 {
		hasConst = h2const(i) != 0
	}
	mem := isMem(dst)
	acc := dst
	if mem {
		acc = t[2] // free once the sigmas are done
	}
	var cur string
	switch {
	case inPlace && !mem:
		cur = dst
	case inPlace:
		ops = append(ops, dst)
	}
	if cur == "" {
		var regs, mems []string
		for _, o := range ops {
			if isMem(o) {
				mems = append(mems, o)
			} else {
				regs = append(regs, o)
			}
		}
		if len(regs) == 0 {
			v.isa.mov(mems[0], acc)
			regs, mems = []string{acc}, mems[1:]
		}
		cur, ops = regs[0], append(regs[1:], mems...)
	}
	for _, o := range ops {
		v.isa.add(o, cur, acc)
		cur = acc
	}
	if hasConst {
		v.isa.addC(v.constAddr(b2, i), cur, acc)
		cur = acc
	}
	if cur != acc {
		v.isa.mov(cur, acc)
	}
	if mem {
		v.isa.mov(acc, dst)
	}
}

func isMem(op string) bool { return strings.Contains(op, "(") }

func (v *vecKernel) constAddr(b2 bool, i int) string {
	if b2 {
		return fmt.Sprintf("%d(DI)", offB2C+4*i)
	}
	return fmt.Sprintf("h2c<>+%d(SB)", 4*i)
}

// round emits round i; kw is the constant to add (K_i or K_i+W_i), w the variable word
// register or "". With full false only e is computed (a is left undefined).
func (v *vecKernel) round(kw, w string, full bool) {
	a, b, c, d, e, f, g, h := v.st[0], v.st[1], v.st[2], v.st[3], v.st[4], v.st[5], v.st[6], v.st[7]
	t := v.t
	v.isa.addC(kw, h, h)
	if w != "" {
		v.isa.add(w, h, h)
	}
	v.isa.sig(e, 6, 11, 25, false, t[0], t[2:])
	v.isa.ch(e, f, g, t[1])
	v.isa.add(t[0], h, h)
	v.isa.add(t[1], h, h)
	v.isa.add(h, d, d)
	if full {
		v.isa.sig(a, 2, 13, 22, false, t[0], t[2:])
		v.isa.maj(a, b, c, t[1])
		v.isa.add(t[0], h, h)
		v.isa.add(t[1], h, h)
	}
	v.st = [8]string{h, a, b, c, d, e, f, g}
}

// body emits the sha256d of one group of lanes. On return v.st[4] holds e60 (H7 - IV7).
func (v *vecKernel) body() {
	for i := range v.st {
		v.st[i] = fmt.Sprintf("%s%d", v.reg, i)
	}
	v.pre() // W3 in wReg(3)
	// Block 2 from the state after round 3: a and e get the nonce word.
	for i := 0; i < 8; i++ {
		if i == 0 || i == 4 {
			v.isa.addC(fmt.Sprintf("%d(DI)", offB2St+4*i), v.wReg(3), v.st[i])
		} else {
			v.isa.bcast(fmt.Sprintf("%d(DI)", offB2St+4*i), v.st[i])
		}
	}
	next := 18 // next block 2 word to compute
	for i := 4; i < 64; i++ {
		for ; next < 64 && next <= i+v.lead; next++ {
			v.schedule(true, next)
		}
		switch {
		case i < 16:
			v.round(fmt.Sprintf("b2kw<>+%d(SB)", 4*(i-4)), "", true)
		case i < 18:
			v.round(fmt.Sprintf("%d(DI)", offB2C+4*i), "", true)
		default:
			v.round(fmt.Sprintf("k256<>+%d(SB)", 4*i), v.wReg(i), true)
		}
	}
	// The first hash: state + midstate, the message of hash 2.
	for i := 0; i < 8; i++ {
		v.isa.addC(fmt.Sprintf("%d(DI)", offMid+4*i), v.st[i], v.wReg(i))
	}
	// Hash 2, round 0 folded: a and e are constants plus W0.
	for i := range v.st {
		v.st[i] = fmt.Sprintf("%s%d", v.reg, i)
	}
	v.isa.addC("h2r0<>+0(SB)", v.wReg(0), v.st[0])
	v.isa.addC("h2r0<>+4(SB)", v.wReg(0), v.st[4])
	for _, i := range []int{1, 2, 3, 5, 6, 7} {
		v.isa.bcast(fmt.Sprintf("h2r0<>+%d(SB)", 4*(i+1)), v.st[i])
	}
	next = 16
	for i := 1; i <= 60; i++ {
		for ; next <= 60 && next <= i+v.lead; next++ {
			v.schedule(false, next)
		}
		full := i < 57
		switch {
		case i < 8:
			v.round(fmt.Sprintf("k256<>+%d(SB)", 4*i), v.wReg(i), full)
		case i < 16:
			v.round(fmt.Sprintf("h2kw<>+%d(SB)", 4*(i-8)), "", full)
		default:
			v.round(fmt.Sprintf("k256<>+%d(SB)", 4*i), v.wReg(i), full)
		}
	}
}

// vecConstants emits the tables the vector kernels share.
func (g *gen) vecConstants() {
	var h2c [64]uint32
	for i := 16; i < 64; i++ {
		h2c[i] = h2const(i)
	}
	g.data("h2c", h2c[:])
	// Hash 2 after round 0 without W0: a, e, then b, c, d, (e), f, g, h.
	s := iv
	t1 := s[7] + bsig1(s[4]) + (s[4]&s[5] ^ ^s[4]&s[6]) + k[0]
	t2 := bsig0(s[0]) + (s[0]&s[1] ^ s[0]&s[2] ^ s[1]&s[2])
	g.data("h2r0", []uint32{t1 + t2, s[3] + t1, s[0], s[1], s[2], 0, s[4], s[5], s[6]})
	g.data("iv7", []uint32{iv[7]})
	g.data("lanes16", []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 8})
	var sh []uint32
	for i := 0; i < 16; i++ {
		sh = append(sh, 0x00010203+uint32(i%4)*0x04040404)
	}
	g.data("bswap", sh) // VPSHUFB mask that byte-swaps every 32-bit lane
}
