package uarch

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// bench runs f and reports nanoseconds per instruction (each op runs per instructions).
// need says whether this CPU has the instructions; a benchmark of missing instructions
// would fault, so it is skipped with the reason.
func bench(b *testing.B, f func(int), per int, need bool, what string) {
	if !need {
		b.Skipf("this CPU lacks %s", what)
	}
	f(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(per), "ns/insn")
}

func hasSHA() bool { return cpuid7ebx()&(1<<29) != 0 }

func BenchmarkAddChain(b *testing.B)     { bench(b, addChain, 8, true, "") }
func BenchmarkRNDS2Latency(b *testing.B) { bench(b, rnds2Latency, 4, hasSHA(), "SHA-NI") }
func BenchmarkRNDS2Throughput(b *testing.B) {
	bench(b, rnds2Throughput, 8, hasSHA(), "SHA-NI")
}
func BenchmarkVPRORDZMM(b *testing.B) { bench(b, vprordZMM, 8, cpu.X86.HasAVX512F, "AVX-512F") }
func BenchmarkVPRORDYMM(b *testing.B) { bench(b, vprordYMM, 8, cpu.X86.HasAVX512VL, "AVX-512VL") }
func BenchmarkVPADDDZMM(b *testing.B) { bench(b, vpadddZMM, 8, cpu.X86.HasAVX512F, "AVX-512F") }

// The kernels' SHA-NI loops mix SHA256RNDS2 with shuffles and adds; these show which of
// them compete with it for an execution port (ns per SHA256RNDS2).
func BenchmarkRNDS2WithPALIGNR(b *testing.B) { bench(b, rnds2Palignr, 8, hasSHA(), "SHA-NI") }
func BenchmarkRNDS2WithPSHUFD(b *testing.B)  { bench(b, rnds2Pshufd, 8, hasSHA(), "SHA-NI") }
func BenchmarkRNDS2WithPADDD(b *testing.B)   { bench(b, rnds2Paddd, 8, hasSHA(), "SHA-NI") }
