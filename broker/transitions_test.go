package broker

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestLifeCycle(t *testing.T) {
	W, P, M, C := StateWorking, StatePaid, StateMined, StateConfirmed
	E, X, F := StateExpired, StateCanceled, StateFailed
	all := States()
	if !slices.Equal(all, []State{W, P, M, C, E, X, F}) {
		t.Fatalf("States() = %v", all)
	}
	allowed := map[[2]State]bool{
		{W, P}: true, {W, M}: true, {W, E}: true, {W, X}: true, {W, F}: true,
		{P, M}: true, {P, X}: true, {P, F}: true,
		{M, C}: true, {M, P}: true,
		{C, P}: true,
	}
	if len(lifeCycle) != len(all) {
		t.Fatalf("the life cycle has %d states, want %d", len(lifeCycle), len(all))
	}
	// A Broker without a store: a move the table refuses must fail before the store.
	b := &Broker{}
	for _, from := range all {
		for _, to := range all {
			want := allowed[[2]State{from, to}]
			if got := CanMove(from, to); got != want {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, want)
			}
			if want {
				continue
			}
			_, err := b.transition(context.Background(), "ord_x", []State{from}, to, "test", nil)
			if !errors.Is(err, ErrIllegalTransition) {
				t.Errorf("transition %s -> %s: %v, want ErrIllegalTransition", from, to, err)
			}
		}
	}
	// One illegal source among legal ones refuses the whole move.
	if _, err := b.transition(context.Background(), "ord_x", []State{W, E}, M, "test", nil); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("working or expired -> mined: %v", err)
	}
	if _, err := b.transition(context.Background(), "ord_x", nil, M, "test", nil); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("no source state: %v", err)
	}
	for _, s := range all {
		if s.Final() && s != C && len(lifeCycle[s]) != 0 {
			t.Errorf("final state %s has moves %v", s, lifeCycle[s])
		}
	}
}
