package miner

import (
	"context"
	"encoding/binary"
	"errors"
	"math/big"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"

	"github.com/proofow/powbroker/miner/mainnet"
)

var (
	loadOnce sync.Once
	loaded   []mainnet.Block
	loadErr  error
)

func mainnetBlocks(t testing.TB) []mainnet.Block {
	t.Helper()
	loadOnce.Do(func() { loaded, loadErr = mainnet.Load() })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

// available returns every kernel this CPU can run.
func available(t testing.TB) []Kernel {
	t.Helper()
	var ks []Kernel
	for _, ki := range Kernels() {
		if ki.Available {
			ks = append(ks, ki.Kernel)
		}
	}
	if len(ks) == 0 {
		t.Fatal("no kernel available")
	}
	return ks
}

// reference scans with crypto/sha256 applied twice, nonce by nonce.
func reference(h *Header, start uint32, count uint64, target *Target) []Found {
	hdr := *h
	tb := target.Big()
	var out []Found
	for i := uint64(0); i < count; i++ {
		n := start + uint32(i)
		hdr.SetNonce(n)
		sum := sumStd(&hdr)
		if hashBig(&sum).Cmp(tb) <= 0 {
			out = append(out, Found{Nonce: n, Hash: sum})
		}
	}
	return out
}

func hashBig(h *[32]byte) *big.Int {
	var be [32]byte
	for i := range be {
		be[i] = h[31-i]
	}
	return new(big.Int).SetBytes(be[:])
}

func collect(t testing.TB, k Kernel, h *Header, start uint32, count uint64, target *Target) []Found {
	t.Helper()
	var got []Found
	n, err := k.Scan(context.Background(), h, start, count, target, func(f Found) { got = append(got, f) })
	if err != nil {
		t.Fatalf("%s: %v", k.Name(), err)
	}
	if n != count {
		t.Fatalf("%s: did %d hashes, want %d", k.Name(), n, count)
	}
	return got
}

func targetTop(top uint32, rest byte) Target {
	var t Target
	for i := range t {
		t[i] = rest
	}
	binary.LittleEndian.PutUint32(t[28:], top)
	return t
}

func TestSumMainnet(t *testing.T) {
	for _, b := range mainnetBlocks(t) {
		h := Header(b.Raw)
		want := b.Header.BlockHash()
		if got := Sum(&h); got != want {
			t.Fatalf("block %d: Sum %x, want %v", b.Height, got, want)
		}
		m := NewMidstate(&h)
		got := m.Sum(&h)
		if got != want {
			t.Fatalf("block %d: Midstate.Sum %x, want %v", b.Height, got, want)
		}
		tg := TargetFromBig(blockchain.CompactToBig(b.Header.Bits))
		if !tg.Meets(&got) {
			t.Fatalf("block %d: hash does not meet its own bits %08x", b.Height, b.Header.Bits)
		}
	}
}

func TestScanMainnet(t *testing.T) {
	blocks := mainnetBlocks(t)
	var sample []mainnet.Block
	for i := 0; i < len(blocks); i += 997 {
		sample = append(sample, blocks[i])
	}
	sample = append(sample, blocks[len(blocks)-1])
	for _, k := range available(t) {
		t.Run(k.Name(), func(t *testing.T) {
			for _, b := range sample {
				h := Header(b.Raw)
				real := h.Nonce()
				h.SetNonce(0x5a5a5a5a) // the nonce field is ignored
				tg := TargetFromBig(blockchain.CompactToBig(b.Header.Bits))
				start := real - 1000 - uint32(b.Height%7)
				got := collect(t, k, &h, start, 2003, &tg)
				want := Found{Nonce: real, Hash: b.Header.BlockHash()}
				if !slices.Contains(got, want) {
					t.Fatalf("block %d: found %v, want the real nonce %d", b.Height, got, real)
				}
			}
		})
	}
}

func TestDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type window struct {
		name  string
		h     Header
		start uint32
		count uint64
		tg    Target
	}
	var windows []window
	add := func(name string, start uint32, count uint64, tg Target) {
		w := window{name: name, start: start, count: count, tg: tg}
		for i := range w.h {
			w.h[i] = byte(rng.Uint32())
		}
		windows = append(windows, w)
	}
	add("one", rng.Uint32(), 1, targetTop(0xffffffff, 0xff))
	add("fifteen", rng.Uint32(), 15, targetTop(0xffffffff, 0xff))
	add("seventeen everything", rng.Uint32(), 17, targetTop(0xffffffff, 0xff))
	add("wrap everything", 0xffffffff-20, 45, targetTop(0xffffffff, 0xff))
	// More finds than the assembly kernels' output buffer holds: they return early and
	// are called again.
	add("many finds", 0xffffffff-1000, 3001, targetTop(0xffffffff, 0xff))
	add("wrap easy", 0xffffffff-3000, 6011, targetTop(0x00ffffff, 0xff))
	add("from zero", 0, 4099, targetTop(0x00ffffff, 0xff))
	add("top word exact", rng.Uint32(), 20001, targetTop(0x00ffffff, 0x00))
	add("half", rng.Uint32(), 333, targetTop(0x7fffffff, 0x00))
	add("two zero bytes", rng.Uint32(), 150001, targetTop(0x0000ffff, 0xff))
	add("random target", rng.Uint32(), 30011, targetTop(0x00800000+rng.Uint32()%0x800000, byte(rng.Uint32())))
	add("zero target", rng.Uint32(), 1000, Target{})
	for _, k := range available(t) {
		t.Run(k.Name(), func(t *testing.T) {
			for _, w := range windows {
				h := w.h
				want := reference(&h, w.start, w.count, &w.tg)
				got := collect(t, k, &h, w.start, w.count, &w.tg)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: got %d finds %v, want %d %v", w.name, len(got), head(got), len(want), head(want))
				}
				if w.name != "zero target" && w.count > 1 && len(want) == 0 {
					t.Fatalf("%s: the window finds nothing: the test is too weak", w.name)
				}
			}
		})
	}
}

func head(f []Found) []Found { return f[:min(len(f), 3)] }

func TestScanParallel(t *testing.T) {
	var h Header
	for i := range h {
		h[i] = byte(i * 7)
	}
	tg := targetTop(0x00ffffff, 0xff)
	start, count := uint32(0xffffffff-5000), uint64(40009)
	want := reference(&h, start, count, &tg)
	if len(want) < 50 {
		t.Fatalf("too few finds: %d", len(want))
	}
	for _, k := range available(t) {
		for _, threads := range []int{1, 2, 3, 8} {
			var got []Found
			n, err := ScanParallel(context.Background(), k, threads, &h, start, count, &tg, func(f Found) { got = append(got, f) })
			if err != nil || n != count {
				t.Fatalf("%s/%d: n=%d err=%v", k.Name(), threads, n, err)
			}
			slices.SortFunc(got, func(a, b Found) int { return int(a.Nonce-start) - int(b.Nonce-start) })
			if !slices.Equal(got, want) {
				t.Fatalf("%s/%d threads: got %d finds, want %d", k.Name(), threads, len(got), len(want))
			}
		}
	}
}

func TestScanCancel(t *testing.T) {
	var h Header
	tg := targetTop(0, 0)
	for _, k := range available(t) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		n, err := ScanParallel(ctx, k, 2, &h, 0, MaxCount, &tg, func(Found) {})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: err %v, want context.Canceled", k.Name(), err)
		}
		if n >= MaxCount {
			t.Fatalf("%s: %d hashes: the scan did not stop", k.Name(), n)
		}
		cancel()
	}
}

func TestScanBadCount(t *testing.T) {
	var h Header
	tg := targetTop(0, 0)
	for _, c := range []uint64{0, MaxCount + 1} {
		if _, err := Portable().Scan(context.Background(), &h, 0, c, &tg, func(Found) {}); !errors.Is(err, ErrCount) {
			t.Fatalf("count %d: err %v", c, err)
		}
		if _, err := ScanParallel(context.Background(), Portable(), 2, &h, 0, c, &tg, func(Found) {}); !errors.Is(err, ErrCount) {
			t.Fatalf("parallel count %d: err %v", c, err)
		}
	}
}

func TestTarget(t *testing.T) {
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	tests := []struct {
		name string
		in   *big.Int
		want *big.Int
	}{
		{"zero", big.NewInt(0), big.NewInt(0)},
		{"negative", big.NewInt(-5), big.NewInt(0)},
		{"diff1", blockchain.CompactToBig(0x1d00ffff), blockchain.CompactToBig(0x1d00ffff)},
		{"regtest", blockchain.CompactToBig(0x207fffff), blockchain.CompactToBig(0x207fffff)},
		{"max", max, max},
		{"too big", new(big.Int).Lsh(big.NewInt(1), 256), max},
	}
	for _, tc := range tests {
		tg := TargetFromBig(tc.in)
		if got := tg.Big(); got.Cmp(tc.want) != 0 {
			t.Errorf("%s: Big() = %x, want %x", tc.name, got, tc.want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		var tg Target
		var h [32]byte
		for j := range h {
			h[j] = byte(rng.Uint32())
			tg[j] = byte(rng.Uint32())
		}
		// Make long equal prefixes common.
		eq := int(rng.Uint32() % 33)
		copy(h[32-eq:], tg[32-eq:])
		want := hashBig(&h).Cmp(tg.Big()) <= 0
		if got := tg.Meets(&h); got != want {
			t.Fatalf("Meets(%x, %x) = %v, want %v", h, tg, got, want)
		}
	}
}

func TestDispatch(t *testing.T) {
	if _, err := ByName("nope"); err == nil {
		t.Fatal("unknown kernel accepted")
	}
	for _, ki := range Kernels() {
		k, err := ByName(ki.Name)
		if ki.Available {
			if err != nil || k.Name() != ki.Name {
				t.Fatalf("%s: %v", ki.Name, err)
			}
		} else if err == nil || ki.Reason == "" {
			t.Fatalf("%s unavailable but ByName gave no error or no reason", ki.Name)
		}
	}
	if Best().Name() != available(t)[0].Name() {
		t.Fatalf("Best is %s, want the first available kernel", Best().Name())
	}
}

func FuzzKernels(f *testing.F) {
	f.Add(make([]byte, 80), uint32(0), uint16(100), uint32(0xffffffff))
	f.Add(make([]byte, 80), uint32(0xfffffff0), uint16(40), uint32(0x0fffffff))
	f.Add([]byte("a header that is shorter than eighty bytes"), uint32(12345), uint16(17), uint32(0x7fffffff))
	f.Fuzz(func(t *testing.T, raw []byte, start uint32, n uint16, top uint32) {
		var h Header
		copy(h[:], raw)
		count := uint64(n%600) + 1
		tg := targetTop(top, 0xff)
		want := reference(&h, start, count, &tg)
		for _, k := range available(t) {
			got := collect(t, k, &h, start, count, &tg)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: got %d finds, want %d", k.Name(), len(got), len(want))
			}
		}
	})
}

var sink [32]byte

// rates reports MH/s by wall time and by the thread's CPU time.
func rates(b *testing.B, hashes float64, cpu time.Duration) {
	b.ReportMetric(hashes/b.Elapsed().Seconds()/1e6, "MH/s")
	if cpu > 0 {
		b.ReportMetric(hashes/cpu.Seconds()/1e6, "cpuMH/s")
	}
}

func BenchmarkBaseline(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	var h Header
	n := 0
	for b.Loop() {
		h.SetNonce(uint32(n))
		sink = sumStd(&h)
		n++
	}
	rates(b, float64(n), threadCPU()-c0)
}

func BenchmarkScan(b *testing.B) {
	var h Header
	tg := targetTop(0, 0)
	for _, ki := range Kernels() {
		if !ki.Available {
			continue
		}
		b.Run(ki.Name, func(b *testing.B) {
			const per = 1 << 16
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c0 := threadCPU()
			start := uint32(0)
			n := 0
			for b.Loop() {
				ki.Kernel.Scan(context.Background(), &h, start, per, &tg, func(Found) {})
				start += per
				n++
			}
			rates(b, float64(n)*per, threadCPU()-c0)
		})
	}
}

func BenchmarkShareCheck(b *testing.B) {
	blocks := mainnetBlocks(b)
	h := Header(blocks[1000].Raw)
	m := NewMidstate(&h)
	tg := TargetFromBig(blockchain.CompactToBig(blocks[1000].Header.Bits))
	ok := 0
	for b.Loop() {
		sum := m.Sum(&h)
		if tg.Meets(&sum) {
			ok++
		}
	}
	if ok != b.N {
		b.Fatal("the real header stopped meeting its target")
	}
}

// TestSumPaths checks every single-hash path against crypto/sha256 on real headers.
func TestSumPaths(t *testing.T) {
	blocks := mainnetBlocks(t)
	for i := 0; i < len(blocks); i += 101 {
		h := Header(blocks[i].Raw)
		want := sumStd(&h)
		m := NewMidstate(&h)
		var got [32]byte
		sumGeneric(&m.s, &h, &got)
		if got != want {
			t.Fatalf("block %d: sumGeneric %x, want %x", i, got, want)
		}
		sumMidstate(&m.s, &h, &got)
		if got != want {
			t.Fatalf("block %d: sumMidstate %x, want %x", i, got, want)
		}
		sumFull(&h, &got)
		if got != want {
			t.Fatalf("block %d: sumFull %x, want %x", i, got, want)
		}
	}
}

func BenchmarkSum(b *testing.B) {
	var h Header
	for i := 0; b.Loop(); i++ {
		h.SetNonce(uint32(i))
		sink = Sum(&h)
	}
}
