package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker"
)

func TestReceipts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "broker.db")
	s := openTest(t, path, Options{})
	mustCreate(t, s, testOrder("a", 10))
	at := time.Date(2026, 12, 4, 9, 0, 0, 42, time.UTC)
	var shares []*broker.Share
	for i := range 3 {
		shares = append(shares, &broker.Share{HeaderHash: hashOf("r", i), OrderID: "a", Difficulty: float64(i + 1), At: at.Add(time.Duration(i) * time.Second)})
	}
	if _, errs := s.RecordShares(ctx, shares); errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatal(errs)
	}
	list, err := s.OrderShareList(ctx, "a")
	if err != nil || len(list) != 3 {
		t.Fatalf("share list: %d, %v", len(list), err)
	}
	for i, sh := range list {
		if sh.HeaderHash != hashOf("r", i) || sh.Difficulty != float64(i+1) || !sh.At.Equal(at.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("share %d: %+v", i, sh)
		}
	}
	if _, err := s.Receipt(ctx, "a"); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("receipt before issue: %v", err)
	}
	for _, body := range []string{`{"v":1}`, `{"v":2}`} {
		r := &broker.StoredReceipt{OrderID: "a", Body: []byte(body), Leaves: [][32]byte{hashOf("r", 0), hashOf("r", 1)}, IssuedAt: at}
		if err := s.SaveReceipt(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openTest(t, path, Options{})
	got, err := s.Receipt(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != `{"v":2}` || len(got.Leaves) != 2 || got.Leaves[1] != hashOf("r", 1) || !got.IssuedAt.Equal(at) {
		t.Fatalf("receipt after reopen: %+v", got)
	}
	if err := s.SaveReceipt(ctx, &broker.StoredReceipt{OrderID: "nope", Body: []byte("{}"), IssuedAt: at}); err == nil {
		t.Fatal("receipt of an unknown order was stored")
	}
}
