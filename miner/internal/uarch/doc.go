// Package uarch holds micro-benchmarks of the instructions the miner's kernels are built
// from (SHA256RNDS2 latency and throughput, ZMM/YMM rotate and add throughput), so the
// ceilings quoted in miner/PERFORMANCE.md can be measured again on any machine:
//
//	go test -bench . ./miner/internal/uarch
//
// Each benchmark op runs eight instructions (four for the latency chain).
package uarch
