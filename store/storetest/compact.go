package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker"
)

// Compaction is the behaviour of a broker.ShareCompactor: the shares of orders that
// ended before the cut-off are dropped, their totals stay; working and paid orders,
// orders that ended after the cut-off, and orders that were paid or mined but have no
// stored receipt keep their shares. giveReceipt (nil when the store keeps no
// receipts) stores a receipt for an order and reports whether it could; then the
// paid order must be compacted too.
func Compaction(t *testing.T, s broker.Store, giveReceipt func(orderID string) bool) {
	c, ok := s.(broker.ShareCompactor)
	if !ok {
		t.Fatalf("%T does not implement broker.ShareCompactor", s)
	}
	ctx := context.Background()
	W := broker.StateWorking
	for _, id := range []string{"work", "cancel", "expire", "late", "paidcancel"} {
		MustCreate(t, s, TestOrder(id, 100))
		for i := range 5 {
			if _, err := Record(ctx, s, &broker.Share{HeaderHash: HashOf(id, i), OrderID: id, Difficulty: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	end := func(id string, to broker.State, update func(*broker.Order)) {
		if _, err := s.Transition(ctx, id, []broker.State{W}, to, "ended", update); err != nil {
			t.Fatal(err)
		}
	}
	end("cancel", broker.StateCanceled, nil)
	end("expire", broker.StateExpired, nil)
	end("paidcancel", broker.StateCanceled, func(o *broker.Order) { o.PaidAt = time.Now() })
	cut := time.Now().Add(time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	end("late", broker.StateCanceled, nil)

	orders, shares, err := c.CompactShares(ctx, cut, 1)
	if err != nil || orders != 1 || shares != 5 {
		t.Fatalf("CompactShares with limit 1 = %d orders, %d shares, %v", orders, shares, err)
	}
	orders, shares, err = c.CompactShares(ctx, cut, 100)
	if err != nil || orders != 1 || shares != 5 {
		t.Fatalf("CompactShares = %d orders, %d shares, %v; want the second ended order", orders, shares, err)
	}
	if orders, _, err := c.CompactShares(ctx, cut, 100); err != nil || orders != 0 {
		t.Fatalf("a second pass compacted %d orders, %v", orders, err)
	}
	for _, id := range []string{"work", "cancel", "expire", "late", "paidcancel"} {
		o, err := s.Order(ctx, id)
		if err != nil || o.Shares != 5 || o.CreditedWork != 5 {
			t.Fatalf("order %s after compaction: %+v, %v (totals must stay)", id, o, err)
		}
	}
	// The shares that stay are still duplicates; the compacted ones are gone.
	for id, kept := range map[string]bool{"work": true, "late": true, "paidcancel": true, "cancel": false, "expire": false} {
		r, err := Record(ctx, s, &broker.Share{HeaderHash: HashOf(id, 0), OrderID: id, Difficulty: 1})
		if err != nil || r.Duplicate != kept {
			t.Fatalf("share of %s after compaction: duplicate %v, %v; want %v", id, r.Duplicate, err, kept)
		}
	}
	if giveReceipt != nil && giveReceipt("paidcancel") {
		orders, shares, err := c.CompactShares(ctx, time.Now(), 100)
		if err != nil || orders < 1 || shares < 5 {
			t.Fatalf("with its receipt stored the paid order was not compacted: %d, %d, %v", orders, shares, err)
		}
	}
}
