#include "textflag.h"

// func rnds2Latency(n int): four dependent SHA256RNDS2 per iteration.
TEXT ·rnds2Latency(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	VZEROUPPER
lat:
	SHA256RNDS2 X0, X1, X2
	SHA256RNDS2 X0, X2, X1
	SHA256RNDS2 X0, X1, X2
	SHA256RNDS2 X0, X2, X1
	DECQ CX
	JNZ lat
	RET

// func rnds2Throughput(n int): eight independent SHA256RNDS2 per iteration.
TEXT ·rnds2Throughput(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	VZEROUPPER
tp:
	SHA256RNDS2 X0, X1, X2
	SHA256RNDS2 X0, X1, X3
	SHA256RNDS2 X0, X1, X4
	SHA256RNDS2 X0, X1, X5
	SHA256RNDS2 X0, X1, X6
	SHA256RNDS2 X0, X1, X7
	SHA256RNDS2 X0, X1, X8
	SHA256RNDS2 X0, X1, X9
	DECQ CX
	JNZ tp
	RET

// func vprordZMM(n int)
TEXT ·vprordZMM(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
rz:
	VPRORD $3, Z1, Z2
	VPRORD $3, Z1, Z3
	VPRORD $3, Z1, Z4
	VPRORD $3, Z1, Z5
	VPRORD $3, Z1, Z6
	VPRORD $3, Z1, Z7
	VPRORD $3, Z1, Z8
	VPRORD $3, Z1, Z9
	DECQ CX
	JNZ rz
	VZEROUPPER
	RET

// func vprordYMM(n int)
TEXT ·vprordYMM(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
ry:
	VPRORD $3, Y1, Y2
	VPRORD $3, Y1, Y3
	VPRORD $3, Y1, Y4
	VPRORD $3, Y1, Y5
	VPRORD $3, Y1, Y6
	VPRORD $3, Y1, Y7
	VPRORD $3, Y1, Y8
	VPRORD $3, Y1, Y9
	DECQ CX
	JNZ ry
	VZEROUPPER
	RET

// func vpadddZMM(n int)
TEXT ·vpadddZMM(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
az:
	VPADDD Z1, Z0, Z2
	VPADDD Z1, Z0, Z3
	VPADDD Z1, Z0, Z4
	VPADDD Z1, Z0, Z5
	VPADDD Z1, Z0, Z6
	VPADDD Z1, Z0, Z7
	VPADDD Z1, Z0, Z8
	VPADDD Z1, Z0, Z9
	DECQ CX
	JNZ az
	VZEROUPPER
	RET

// func addChain(n int): eight dependent 1-cycle ADDQ per iteration, a clock reference.
TEXT ·addChain(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	XORQ AX, AX
	XORQ BX, BX
ac:
	ADDQ AX, BX
	ADDQ BX, AX
	ADDQ AX, BX
	ADDQ BX, AX
	ADDQ AX, BX
	ADDQ BX, AX
	ADDQ AX, BX
	ADDQ BX, AX
	DECQ CX
	JNZ ac
	RET

// func cpuid7ebx() uint32
TEXT ·cpuid7ebx(SB), NOSPLIT, $0-4
	MOVL $7, AX
	XORL CX, CX
	CPUID
	MOVL BX, ret+0(FP)
	RET
