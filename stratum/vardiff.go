package stratum

import (
	"math"
	"time"
)

// vardiff aims a session's share rate at one share per target interval. It looks at
// the accepted shares since the last retarget: after retarget time with at least a few
// shares, or at once when shares arrive far too fast, it scales the difficulty by
// observed/target rate; with no shares for long it lowers the difficulty. Changes are
// limited to a factor of 16 per step and to [min, max]; small deviations (within
// 2/3..3/2) are left alone. Difficulties are fractional in both directions.
type vardiff struct {
	target   time.Duration
	retarget time.Duration
	min, max float64

	diff   float64
	since  time.Time
	shares int
}

const (
	vardiffMaxStep  = 16.0
	vardiffMinCount = 4  // shares before a regular retarget
	vardiffFast     = 16 // this many shares before a quarter of retarget time: too easy
)

func newVardiff(target, retarget time.Duration, minD, maxD, start float64, now time.Time) *vardiff {
	v := &vardiff{target: target, retarget: retarget, min: minD, max: maxD, since: now}
	v.diff = v.clamp(start)
	return v
}

func (v *vardiff) clamp(d float64) float64 {
	if math.IsNaN(d) || d <= 0 {
		d = v.min
	}
	return math.Min(math.Max(d, v.min), v.max)
}

// set forces a difficulty (suggested by the miner) and restarts the measurement.
func (v *vardiff) set(d float64, now time.Time) float64 {
	v.diff = v.clamp(d)
	v.since, v.shares = now, 0
	return v.diff
}

// setLimits changes the bounds (minimum-difficulty, network difficulty) and returns
// the clamped difficulty.
func (v *vardiff) setLimits(minD, maxD float64) float64 {
	if maxD < minD {
		maxD = minD
	}
	v.min, v.max = minD, maxD
	v.diff = v.clamp(v.diff)
	return v.diff
}

// share records an accepted share and returns the new difficulty when it changes.
func (v *vardiff) share(now time.Time) (float64, bool) {
	v.shares++
	el := now.Sub(v.since)
	fast := v.shares >= vardiffFast && el < v.retarget/4
	if !fast && (el < v.retarget || v.shares < vardiffMinCount) {
		return v.diff, false
	}
	return v.adjust(float64(v.shares), el, now)
}

// tick retargets between shares: after the retarget time with enough shares, or
// with too few shares for three target intervals (then the rate is taken as at most
// (shares+1/2)/elapsed, and the difficulty comes down).
func (v *vardiff) tick(now time.Time) (float64, bool) {
	el := now.Sub(v.since)
	switch {
	case el < v.retarget:
		return v.diff, false
	case v.shares >= vardiffMinCount:
		return v.adjust(float64(v.shares), el, now)
	case el >= 3*v.target:
		return v.adjust(float64(v.shares)+0.5, el, now)
	}
	return v.diff, false
}

func (v *vardiff) adjust(shares float64, el time.Duration, now time.Time) (float64, bool) {
	if el <= 0 {
		el = time.Millisecond
	}
	factor := shares / el.Seconds() * v.target.Seconds()
	factor = math.Min(math.Max(factor, 1/vardiffMaxStep), vardiffMaxStep)
	v.since, v.shares = now, 0
	if factor > 2.0/3 && factor < 1.5 {
		return v.diff, false
	}
	next := v.clamp(v.diff * factor)
	if next == v.diff {
		return v.diff, false
	}
	v.diff = next
	return next, true
}
