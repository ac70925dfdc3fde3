package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker"
)

// ReceiptStore is what the status page and work receipts need of a store beyond
// broker.Store (broker.ReceiptStore and the list of the newest orders).
type ReceiptStore interface {
	broker.ReceiptStore
	RecentOrders(ctx context.Context, limit int) ([]*broker.Order, error)
}

// Receipts: an order's shares list with hash, difficulty and time; a receipt is stored,
// replaced and read back after a reopen with its header hashes; a receipt of an unknown
// order is refused; the newest orders come first.
func Receipts(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	rs, ok := s.(ReceiptStore)
	if !ok {
		t.Fatal("the store keeps no receipts (it lacks the broker.ReceiptStore methods)")
	}
	MustCreate(t, s, TestOrder("a", 10))
	at := time.Date(2026, 12, 4, 9, 0, 0, 42, time.UTC)
	var shares []*broker.Share
	for i := range 3 {
		shares = append(shares, &broker.Share{HeaderHash: HashOf("r", i), OrderID: "a", Difficulty: float64(i + 1), At: at.Add(time.Duration(i) * time.Second)})
	}
	if _, errs := s.RecordShares(ctx, shares); errors.Join(errs...) != nil {
		t.Fatal(errs)
	}
	list, err := rs.OrderShareList(ctx, "a")
	if err != nil || len(list) != 3 {
		t.Fatalf("share list: %d, %v", len(list), err)
	}
	for i, sh := range list {
		if sh.HeaderHash != HashOf("r", i) || sh.Difficulty != float64(i+1) || !sh.At.Equal(at.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("share %d: %+v", i, sh)
		}
	}
	if _, err := rs.Receipt(ctx, "a"); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("receipt before issue: %v", err)
	}
	for _, body := range []string{`{"v":1}`, `{"v":2}`} {
		r := &broker.StoredReceipt{OrderID: "a", Body: []byte(body), Leaves: [][32]byte{HashOf("r", 0), HashOf("r", 1)}, IssuedAt: at}
		if err := rs.SaveReceipt(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := rs.SaveReceipt(ctx, &broker.StoredReceipt{OrderID: "nope", Body: []byte("{}"), IssuedAt: at}); err == nil {
		t.Fatal("a receipt of an unknown order was stored")
	}
	later := TestOrder("b", 1)
	later.CreatedAt = time.Now().Add(time.Minute)
	MustCreate(t, s, later)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = opened(t, open)
	rs = s.(ReceiptStore)
	got, err := rs.Receipt(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != `{"v":2}` || len(got.Leaves) != 2 || got.Leaves[1] != HashOf("r", 1) || !got.IssuedAt.Equal(at) {
		t.Fatalf("receipt after reopen: %+v", got)
	}
	recent, err := rs.RecentOrders(ctx, 1)
	if err != nil || len(recent) != 1 || recent[0].ID != "b" {
		t.Fatalf("recent orders: %v %v", recent, err)
	}
}

// GiveReceipt returns the Compaction suite's giveReceipt for a store that keeps
// receipts: it stores a receipt for the order (with no header hashes).
func GiveReceipt(t *testing.T, s ReceiptStore) func(orderID string) bool {
	return func(orderID string) bool {
		err := s.SaveReceipt(context.Background(), &broker.StoredReceipt{OrderID: orderID, Body: []byte("{}"), IssuedAt: time.Now()})
		if err != nil {
			t.Fatalf("save receipt: %v", err)
		}
		return true
	}
}
