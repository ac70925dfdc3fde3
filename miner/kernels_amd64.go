package miner

import "golang.org/x/sys/cpu"

func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// detect reads the CPU's features.
func detect() features {
	var f features
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf >= 7 {
		_, ebx, _, _ := cpuid(7, 0)
		f.SHA = ebx&(1<<29) != 0
	}
	f.SSE41 = cpu.X86.HasSSE41 && cpu.X86.HasSSSE3
	f.AVX = cpu.X86.HasAVX
	f.AVX2 = cpu.X86.HasAVX2
	f.AVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL
	return f
}

//go:noescape
func scanAVX512(j *job, start, n uint32, out *uint32, outCap int) (done uint32, found int)

//go:noescape
func scanAVX2(j *job, start, n uint32, out *uint32, outCap int) (done uint32, found int)

//go:noescape
func scanSHANI2M(j *job, start, n uint32, out *uint32, outCap int) (done uint32, found int)

// asmScan adapts an assembly scanner (which stops when its output buffer is nearly full)
// to the chunk scanner signature.
func asmScan(f func(j *job, start, n uint32, out *uint32, outCap int) (uint32, int)) func(*job, uint32, uint32, []uint32) []uint32 {
	return func(j *job, start, n uint32, out []uint32) []uint32 {
		var buf [256]uint32
		for n > 0 {
			done, found := f(j, start, n, &buf[0], len(buf))
			out = append(out, buf[:found]...)
			start += done
			n -= done
		}
		return out
	}
}

// kernelsFor lists the kernels of this architecture, fastest first, for a CPU with f.
func kernelsFor(f features) []*kernel {
	return []*kernel{
		{name: "avx512", lanes: 16, missing: need(f, features{AVX512: true}), scan: asmScan(scanAVX512)},
		{name: "shani", lanes: 2, missing: need(f, features{SHA: true, SSE41: true, AVX: true}), scan: asmScan(scanSHANI2M)},
		{name: "avx2", lanes: 8, missing: need(f, features{AVX: true, AVX2: true}), scan: asmScan(scanAVX2)},
		portableKernel,
		genericKernel,
	}
}
