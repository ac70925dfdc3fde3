package uarch

// Each function loops n times over a fixed block of instructions.

func rnds2Latency(n int)
func rnds2Throughput(n int)
func vprordZMM(n int)
func vprordYMM(n int)
func vpadddZMM(n int)
func addChain(n int)
func cpuid7ebx() uint32
func rnds2Palignr(n int)
func rnds2Pshufd(n int)
func rnds2Paddd(n int)
