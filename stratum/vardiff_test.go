package stratum

import (
	"math"
	"testing"
	"time"
)

func TestVardiff(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	type step struct {
		at     time.Duration // since t0
		share  bool          // a share (else a tick)
		want   float64
		change bool
	}
	tests := []struct {
		name     string
		min, max float64
		start    float64
		steps    []step
	}{
		{"three times too fast: x10 after retarget", 1e-9, 1e9, 1, func() []step {
			var s []step
			for i := 1; i < 30; i++ {
				s = append(s, step{at: time.Duration(i) * time.Second, share: true, want: 1})
			}
			return append(s, step{at: 30 * time.Second, share: true, want: 10, change: true})
		}()},
		{"on target: unchanged", 1e-9, 1e9, 0.5, []step{
			{10 * time.Second, true, 0.5, false}, {20 * time.Second, true, 0.5, false},
			{30 * time.Second, true, 0.5, false}, {40 * time.Second, true, 0.5, false},
		}},
		{"no shares for a minute: fractional step down", 1e-9, 1e9, 0.25, []step{
			{20 * time.Second, false, 0.25, false}, {60 * time.Second, false, 0.25 * 0.5 / 60 * 10, true},
		}},
		{"a burst: at most x16 at once", 1e-9, 1e9, 2, func() []step {
			var s []step
			for i := 1; i < 16; i++ {
				s = append(s, step{at: time.Duration(i) * 10 * time.Millisecond, share: true, want: 2})
			}
			return append(s, step{at: 160 * time.Millisecond, share: true, want: 32, change: true})
		}()},
		{"clamped at max", 1e-9, 5, 2, func() []step {
			var s []step
			for i := 1; i < 16; i++ {
				s = append(s, step{at: time.Duration(i) * 10 * time.Millisecond, share: true, want: 2})
			}
			return append(s, step{at: 160 * time.Millisecond, share: true, want: 5, change: true})
		}()},
		{"clamped at min", 0.1, 10, 0.2, []step{{10 * time.Minute, false, 0.1, true}}},
		{"shares then silence: the tick retargets up", 1e-9, 1e9, 1, []step{
			{time.Second, true, 1, false}, {2 * time.Second, true, 1, false}, {3 * time.Second, true, 1, false},
			{4 * time.Second, true, 1, false}, {5 * time.Second, true, 1, false},
			{29 * time.Second, false, 1, false}, {30 * time.Second, false, 5.0 / 30.0 * 10.0, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newVardiff(10*time.Second, 30*time.Second, tc.min, tc.max, tc.start, t0)
			for i, s := range tc.steps {
				var got float64
				var changed bool
				if s.share {
					got, changed = v.share(t0.Add(s.at))
				} else {
					got, changed = v.tick(t0.Add(s.at))
				}
				if changed != s.change || math.Abs(got-s.want) > 1e-12*s.want {
					t.Fatalf("step %d at %v: got %g changed %v, want %g changed %v", i, s.at, got, changed, s.want, s.change)
				}
			}
		})
	}
}

func TestVardiffSetClamps(t *testing.T) {
	v := newVardiff(time.Second, time.Second, 0.01, 100, 1, time.Now())
	for _, tc := range []struct{ in, want float64 }{{0.5, 0.5}, {1e-6, 0.01}, {1e6, 100}, {-1, 0.01}, {0.0123, 0.0123}} {
		if got := v.set(tc.in, time.Now()); got != tc.want {
			t.Errorf("set(%g) = %g, want %g", tc.in, got, tc.want)
		}
	}
	if got := v.setLimits(1, 2); got != 1 {
		t.Errorf("setLimits raised the difficulty to %g, want 1", got)
	}
}
