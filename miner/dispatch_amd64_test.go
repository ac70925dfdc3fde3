package miner

import (
	"strings"
	"testing"
)

// TestDispatchForced checks dispatch on CPUs with fewer features than this one: every
// kernel that needs a missing feature is reported with that feature named, ByName refuses
// it, and Best picks the next kernel.
func TestDispatchForced(t *testing.T) {
	all := features{SHA: true, SSE41: true, AVX: true, AVX2: true, AVX512: true}
	noAVX512 := all
	noAVX512.AVX512 = false
	onlyAVX2 := features{SSE41: true, AVX: true, AVX2: true}
	tests := []struct {
		name     string
		f        features
		best     string
		missing  map[string]string // kernel -> feature named in the reason
		included []string          // kernels that must be available
	}{
		{"none", features{}, "portable", map[string]string{"avx512": "AVX-512", "shani": "SHA-NI", "avx2": "AVX2"}, []string{"portable", "generic"}},
		{"avx2 only", onlyAVX2, "avx2", map[string]string{"avx512": "AVX-512", "shani": "SHA-NI"}, []string{"avx2", "portable"}},
		{"no avx512", noAVX512, "shani", map[string]string{"avx512": "AVX-512"}, []string{"shani", "avx2", "portable"}},
		{"everything", all, "avx512", nil, []string{"avx512", "shani", "avx2", "portable", "generic"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			infos := kernelInfos(tc.f)
			known := map[string]KernelInfo{}
			for _, ki := range infos {
				known[ki.Name] = ki
			}
			if got := bestFor(tc.f).Name(); got != tc.best {
				t.Errorf("best = %s, want %s", got, tc.best)
			}
			for name, feat := range tc.missing {
				ki, ok := known[name]
				if !ok {
					continue // not built for this architecture
				}
				if ki.Available || ki.Kernel != nil || !strings.Contains(ki.Reason, feat) {
					t.Errorf("%s: available=%v reason %q, want unavailable naming %s", name, ki.Available, ki.Reason, feat)
				}
				_, err := byNameFor(tc.f, name)
				if err == nil || !strings.Contains(err.Error(), feat) {
					t.Errorf("ByName(%s) = %v, want an error naming %s", name, err, feat)
				}
			}
			for _, name := range tc.included {
				ki, ok := known[name]
				if !ok {
					if name == "portable" || name == "generic" {
						t.Errorf("%s missing", name)
					}
					continue
				}
				if !ki.Available {
					t.Errorf("%s unavailable: %s", name, ki.Reason)
				}
				if k, err := byNameFor(tc.f, name); err != nil || k.Name() != name {
					t.Errorf("ByName(%s): %v", name, err)
				}
			}
		})
	}
}
