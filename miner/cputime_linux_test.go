package miner

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time of the calling OS thread, so benchmarks can report a
// rate that load from other processes on a shared machine disturbs less.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1, &ru); err != nil { // RUSAGE_THREAD
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
