package miner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Found is one nonce whose sha256d met the target.
type Found struct {
	Nonce uint32
	Hash  [32]byte // internal byte order
}

// Kernel scans nonce ranges of one header.
type Kernel interface {
	Name() string
	// Scan tries nonces start, start+1, ... (count of them, count <= 2^32, wrapping modulo
	// 2^32) over h (its nonce field ignored) and calls emit for every nonce whose sha256d
	// meets target, in nonce order from start. It checks ctx between chunks of at most a
	// few hundred thousand nonces and returns the number of hashes done (count unless ctx
	// ended the scan early, with ctx's error).
	Scan(ctx context.Context, h *Header, start uint32, count uint64, target *Target, emit func(Found)) (uint64, error)
}

// KernelInfo describes a kernel and whether this CPU can run it.
type KernelInfo struct {
	Name      string
	Lanes     int    // nonces hashed side by side
	Available bool   // the CPU has every feature the kernel needs
	Reason    string // why not, when not available
	Kernel    Kernel // nil when not available
}

// MaxCount is the largest nonce count one Scan covers: the whole nonce space.
const MaxCount = 1 << 32

// chunk is how many nonces a vector or SHA-NI kernel scans between two checks of its
// context (a few milliseconds); the one-nonce-at-a-time Go kernels check every chunk/4.
const chunk = 1 << 18

// ErrCount reports a nonce count of zero or above 2^32.
var ErrCount = errors.New("miner: count must be between 1 and 2^32")

// kernel is the one Kernel implementation: a name, a lane count and a chunk scanner that
// returns candidate nonces (word 7 passes the target's top word). Candidates are hashed
// again in full and compared exactly before they are emitted.
type kernel struct {
	name    string
	lanes   uint32
	missing string // "" when the CPU has what the kernel needs, else the reason
	scan    func(j *job, start, n uint32, out []uint32) []uint32
}

func (k *kernel) Name() string { return k.name }

func (k *kernel) Scan(ctx context.Context, h *Header, start uint32, count uint64, target *Target, emit func(Found)) (uint64, error) {
	if count == 0 || count > MaxCount {
		return 0, fmt.Errorf("%w: got %d", ErrCount, count)
	}
	j := newJob(h, target)
	hdr := *h
	cands := make([]uint32, 0, 64)
	var done uint64
	for done < count {
		select {
		case <-ctx.Done():
			return done, ctx.Err()
		default:
		}
		step := uint64(chunk)
		if k.lanes == 1 {
			step = chunk / 4
		}
		n := uint32(min(count-done, step))
		pos := start + uint32(done)
		// Kernels hash whole lane groups; nonces past the range are filtered out below.
		nr := (n + k.lanes - 1) / k.lanes * k.lanes
		cands = k.scan(j, pos, nr, cands[:0])
		// Kernels that hash several groups at once may report out of order; emit in order.
		slices.SortFunc(cands, func(a, b uint32) int { return cmp.Compare(a-pos, b-pos) })
		for _, c := range cands {
			if c-pos >= n {
				continue
			}
			hdr.SetNonce(c)
			var sum [32]byte
			sumMidstate(&j.mid, &hdr, &sum)
			if target.Meets(&sum) {
				emit(Found{Nonce: c, Hash: sum})
			}
		}
		done += uint64(n)
	}
	return done, nil
}

// Kernels lists every kernel built for this architecture, fastest first, with whether this
// CPU can run it.
func Kernels() []KernelInfo { return kernelInfos(host) }

// Best returns the fastest kernel this CPU can run.
func Best() Kernel { return bestFor(host) }

// ByName returns the named kernel, or an error naming the missing CPU feature when this
// CPU cannot run it, or listing the known names when there is no such kernel.
func ByName(name string) (Kernel, error) { return byNameFor(host, name) }

func kernelInfos(f features) []KernelInfo {
	all := kernelsFor(f)
	out := make([]KernelInfo, 0, len(all))
	for _, k := range all {
		ki := KernelInfo{Name: k.name, Lanes: int(k.lanes), Reason: k.missing}
		if k.missing == "" {
			ki.Available = true
			ki.Kernel = k
		}
		out = append(out, ki)
	}
	return out
}

func bestFor(f features) Kernel {
	for _, k := range kernelsFor(f) {
		if k.missing == "" {
			return k
		}
	}
	return Portable()
}

func byNameFor(f features, name string) (Kernel, error) {
	var names []string
	for _, k := range kernelsFor(f) {
		if k.name == name {
			if k.missing != "" {
				return nil, fmt.Errorf("miner: kernel %q is not available on this CPU: %s", name, k.missing)
			}
			return k, nil
		}
		names = append(names, k.name)
	}
	return nil, fmt.Errorf("miner: unknown kernel %q (known: %s)", name, strings.Join(names, ", "))
}

// Generic returns the pure Go kernel: midstate, precomputed first rounds and schedule
// words, early exit on word 7, one nonce at a time, no hardware help at all.
func Generic() Kernel { return genericKernel }

var genericKernel = &kernel{name: "generic", lanes: 1, scan: scanGeneric}

// ScanParallel splits [start, start+count) into threads contiguous parts scanned by k at
// once. emit is called from one goroutine at a time, in no particular order across parts. When ctx ends, every part stops
// within one chunk and the hashes done so far are returned with ctx's error.
func ScanParallel(ctx context.Context, k Kernel, threads int, h *Header, start uint32, count uint64, target *Target, emit func(Found)) (uint64, error) {
	if count == 0 || count > MaxCount {
		return 0, fmt.Errorf("%w: got %d", ErrCount, count)
	}
	if threads < 1 {
		threads = 1
	}
	if uint64(threads) > count {
		threads = int(count)
	}
	if threads == 1 {
		return k.Scan(ctx, h, start, count, target, emit)
	}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		total uint64
		first error
	)
	safeEmit := func(f Found) {
		mu.Lock()
		defer mu.Unlock()
		emit(f)
	}
	per := count / uint64(threads)
	rest := count % uint64(threads)
	off := uint64(0)
	for i := 0; i < threads; i++ {
		n := per
		if uint64(i) < rest {
			n++
		}
		s := start + uint32(off)
		off += n
		wg.Add(1)
		go func() {
			defer wg.Done()
			done, err := k.Scan(ctx, h, s, n, target, safeEmit)
			mu.Lock()
			defer mu.Unlock()
			total += done
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return total, first
}
