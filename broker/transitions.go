package broker

import (
	"context"
	"errors"
	"fmt"
)

// lifeCycle is the order life cycle: for each state, the states it may move to. Every
// state change of an order is checked against it (by transition, and by CreditShare's
// working -> paid in the share writer). Expired, canceled and failed are the end;
// confirmed is final for its owner, but a reorg can still take its block away. Read only.
var lifeCycle = map[State][]State{
	StateWorking:   {StatePaid, StateMined, StateExpired, StateCanceled, StateFailed},
	StatePaid:      {StateMined, StateCanceled, StateFailed},
	StateMined:     {StateConfirmed, StatePaid}, // paid: its block left the main chain
	StateConfirmed: {StatePaid},                 // the same, for a recently confirmed order
	StateExpired:   nil,
	StateCanceled:  nil,
	StateFailed:    nil,
}

// ErrIllegalTransition is a state change the life cycle does not allow.
var ErrIllegalTransition = errors.New("illegal order transition")

// CanMove tells whether the life cycle lets an order go from one state to another.
func CanMove(from, to State) bool {
	for _, s := range lifeCycle[from] {
		if s == to {
			return true
		}
	}
	return false
}

// checkMove checks expected source states against the life cycle.
func checkMove(id string, from []State, to State) error {
	if len(from) == 0 {
		return fmt.Errorf("order %s to %s: no source state: %w", id, to, ErrIllegalTransition)
	}
	for _, f := range from {
		if !CanMove(f, to) {
			return fmt.Errorf("order %s from %s to %s: %w", id, f, to, ErrIllegalTransition)
		}
	}
	return nil
}

// transition is the one way the broker changes an order's state: it checks every
// expected source state against the life cycle (an illegal move is an error wrapping
// ErrIllegalTransition and touches nothing), stores the change with its event
// (Store.Transition, which refuses an order no longer in one of from with
// ErrStateChanged), then applies what follows from it (moved). Every error is
// returned; one after the store committed (closing assignments) is also logged, and
// comes with the new order.
func (b *Broker) transition(ctx context.Context, id string, from []State, to State, detail string, update func(*Order)) (*Order, error) {
	if err := checkMove(id, from, to); err != nil {
		return nil, err
	}
	next, err := b.store.Transition(ctx, id, from, to, detail, update)
	if err != nil {
		return nil, fmt.Errorf("order %s to %s: %w", id, to, err)
	}
	return next, b.moved(ctx, id, from, next, detail)
}

// moved applies what follows a committed state change of order id from one of the
// states in from to o.State: the in-memory active set follows it (an order leaving
// working and paid leaves the templates, one back in paid after a reorg re-enters
// them), an order that leaves working has its assignments closed, and its watchers are
// woken (settled, which the share writer's working -> paid goes through too: paid).
func (b *Broker) moved(ctx context.Context, id string, from []State, o *Order, detail string) error {
	var err error
	switch {
	case !o.State.Active():
		b.removeActive(id)
	case !b.setActiveState(id, o.State):
		if err = b.addActive(o); err != nil {
			err = fmt.Errorf("reactivate order %s: %w", id, err)
			b.log.Error("order transition", "order", id, "to", o.State, "err", err)
		}
	}
	return errors.Join(err, b.settled(ctx, id, from, o.State, detail))
}

// settled finishes a state change: an order that left working has its assignments
// closed (an error is logged and returned), and its watchers are woken.
func (b *Broker) settled(ctx context.Context, id string, from []State, to State, detail string) error {
	var err error
	for _, f := range from {
		if f == StateWorking {
			if err = b.store.CloseAssignments(ctx, id); err != nil {
				err = fmt.Errorf("close the assignments of order %s: %w", id, err)
				b.log.Error("order transition", "order", id, "to", to, "err", err)
			}
			break
		}
	}
	b.log.Info("order "+string(to), "order", id, "detail", detail)
	if to == StatePaid || to == StateMined {
		b.receiptAtEnd(ctx, id) // before anything may compact the order's shares
	}
	b.watch.notify(id)
	return err
}

// paid applies the share writer's working -> paid of an order (CreditShare, committed
// with the share that completed the payment): work for it stops. A paid order's
// transaction stays in the template until mined, so no new job is needed.
func (b *Broker) paid(ctx context.Context, id string, credited float64) {
	from := []State{StateWorking}
	if err := checkMove(id, from, StatePaid); err != nil {
		b.log.Error("order transition", "order", id, "err", err)
		return
	}
	b.setActiveState(id, StatePaid)
	_ = b.settled(ctx, id, from, StatePaid, fmt.Sprintf("enough work: %.8g units", credited))
}
