// Package storetest is the conformance suite of broker.Store: every storage backend
// (SQLite in package store, PostgreSQL later) runs the same behaviours through Run, in
// the manner of decred/dcrpool's pool tests run on two databases.
//
// The suite asserts only what the interface promises (orders and their events,
// idempotency, state transitions, lookups, assignments, blocks, counters, the share
// writer's duplicate and paid rules under concurrency, closing); what belongs to one
// backend (migrations, pragmas, file locks, fault injection, group sizes) stays in that
// backend's own tests.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker"
)

// Store is what the suite tests: the broker's interface, Close, and a read of one
// recorded share (ErrNotFound when it is not stored).
type Store interface {
	broker.Store
	Close() error
	Share(ctx context.Context, hash [32]byte) (*broker.Share, error)
}

// NewDB creates one fresh, empty database for a test and returns the function that
// opens it. open may be called again after the store it returned was closed: it opens
// the same database (a restart). The suite closes every store it opens; NewDB and open
// register their own cleanup with t.
type NewDB func(t *testing.T) (open func(t *testing.T) Store)

// Run runs every behaviour of the suite as a subtest on fresh databases from newDB.
func Run(t *testing.T, newDB NewDB) {
	tests := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) Store)
	}{
		{"OrderRoundTrip", OrderRoundTrip},
		{"Idempotency", Idempotency},
		{"Transition", Transition},
		{"OrdersInState", OrdersInState},
		{"Lookups", Lookups},
		{"RecordShares", RecordShares},
		{"RecordBatch", RecordBatch},
		{"PaidExactlyOnce", func(t *testing.T, open func(t *testing.T) Store) { PaidExactlyOnce(t, opened(t, open)) }},
		{"CloseAndReopen", CloseAndReopen},
		{"Assignments", Assignments},
		{"Blocks", Blocks},
		{"Reserve", Reserve},
		{"Receipts", Receipts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newDB(t)) })
	}
}

// opened opens a store and closes it at the end of the test.
func opened(t *testing.T, open func(t *testing.T) Store) Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// HashOf is a deterministic header hash for test shares.
func HashOf(parts ...any) [32]byte { return sha256.Sum256([]byte(fmt.Sprint(parts...))) }

// TestOrder is a working order requiring the given work.
func TestOrder(id string, required float64) *broker.Order {
	return &broker.Order{
		ID:           id,
		TokenHash:    HashOf("token", id),
		State:        broker.StateWorking,
		Txid:         strings.Repeat("ab", 32),
		RawTx:        []byte{1, 2, 3},
		RequiredWork: required,
		ExpiresAt:    time.Now().Add(time.Hour),
	}
}

// MustCreate stores o with the event detail "created".
func MustCreate(t testing.TB, s broker.Store, o *broker.Order) *broker.Order {
	t.Helper()
	got, created, err := s.CreateOrder(context.Background(), o, "created")
	if err != nil || !created {
		t.Fatalf("CreateOrder(%s) = created %v, %v", o.ID, created, err)
	}
	return got
}

// Record records one share through RecordShares.
func Record(ctx context.Context, s broker.Store, sh *broker.Share) (broker.Recorded, error) {
	res, errs := s.RecordShares(ctx, []*broker.Share{sh})
	return res[0], errs[0]
}

// OrderRoundTrip: an order reads back exactly as created, with its creation event.
func OrderRoundTrip(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := opened(t, open)
	base := time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name  string
		order broker.Order
	}{
		{"every field set", broker.Order{
			ID: "full", TokenHash: HashOf("tok"), State: broker.StatePaid, Txid: strings.Repeat("01", 32),
			RawTx: []byte{0xde, 0xad, 0xbe, 0xef}, Fee: 1234, VSize: 141, RequiredWork: 12.5,
			CreditedWork: 13.25, Shares: 7, CreatedAt: base, ExpiresAt: base.Add(time.Hour),
			PaidAt: base.Add(time.Minute), MinedAt: base.Add(2 * time.Minute),
			ConfirmedAt: base.Add(3 * time.Minute), BlockHash: strings.Repeat("00", 32), Height: 812345,
			Reason: "why not", IdempotencyKey: "key-1", RequestHash: HashOf("body"),
			UpdatedAt: base.Add(4 * time.Minute),
		}},
		{"minimal with zero times", broker.Order{
			ID: "min", TokenHash: HashOf("tok2"), State: broker.StateWorking, RequiredWork: 4.66e-10,
			CreatedAt: base,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.order
			stored, created, err := s.CreateOrder(ctx, &in, "hello")
			if err != nil || !created {
				t.Fatalf("CreateOrder: %v, %v", created, err)
			}
			got, err := s.Order(ctx, in.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.order
			if want.UpdatedAt.IsZero() {
				want.UpdatedAt = want.CreatedAt
			}
			for _, o := range []*broker.Order{got, stored} {
				if !bytes.Equal(o.RawTx, want.RawTx) {
					t.Errorf("RawTx = %x, want %x", o.RawTx, want.RawTx)
				}
				cp, w := *o, want
				cp.RawTx, w.RawTx = nil, nil
				if !reflect.DeepEqual(cp, w) {
					t.Errorf("order mismatch\n got %+v\nwant %+v", cp, w)
				}
			}
			ev, err := s.Events(ctx, in.ID)
			if err != nil || len(ev) != 1 || ev[0].From != "" || ev[0].To != in.State || ev[0].Detail != "hello" {
				t.Fatalf("events = %+v, %v", ev, err)
			}
		})
	}
	if _, err := s.Order(ctx, "nope"); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
	if ev, err := s.Events(ctx, "nope"); err != nil || len(ev) != 0 {
		t.Fatalf("events of an unknown order: %v, %v", ev, err)
	}
	all, err := s.OrdersInState(ctx, broker.States()...)
	if err != nil || len(all) != 2 {
		t.Fatalf("all orders = %d, %v", len(all), err)
	}
}

// Idempotency: a key with the same request returns the stored order, with another
// request it is ErrIdempotencyReplay and nothing is stored.
func Idempotency(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := opened(t, open)
	first := TestOrder("first", 1)
	first.IdempotencyKey = "k"
	first.RequestHash = HashOf("body-1")
	MustCreate(t, s, first)

	tests := []struct {
		name        string
		id, key     string
		body        string
		wantID      string
		wantCreated bool
		wantErr     error
	}{
		{"same key same request returns the stored order", "second", "k", "body-1", "first", false, nil},
		{"same key other request is a replay", "third", "k", "body-2", "", false, broker.ErrIdempotencyReplay},
		{"other key creates", "fourth", "k2", "body-1", "fourth", true, nil},
		{"no key creates", "fifth", "", "body-1", "fifth", true, nil},
		{"no key again creates", "sixth", "", "body-1", "sixth", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := TestOrder(tc.id, 1)
			o.IdempotencyKey = tc.key
			o.RequestHash = HashOf(tc.body)
			got, created, err := s.CreateOrder(ctx, o, "")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if _, err := s.Order(ctx, tc.id); !errors.Is(err, broker.ErrNotFound) {
					t.Fatalf("replayed order was stored: %v", err)
				}
				return
			}
			if created != tc.wantCreated || got.ID != tc.wantID {
				t.Fatalf("got %s created=%v, want %s created=%v", got.ID, created, tc.wantID, tc.wantCreated)
			}
		})
	}
	ev, _ := s.Events(ctx, "first")
	if len(ev) != 1 {
		t.Fatalf("first has %d events, want 1", len(ev))
	}
}

// Transition: compare-and-set on the state, the update's fields, immutable fields,
// events in order, SetReason.
func Transition(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := opened(t, open)
	MustCreate(t, s, TestOrder("o", 10))
	minedAt := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	W, P, M := broker.StateWorking, broker.StatePaid, broker.StateMined

	tests := []struct {
		name     string
		id       string
		from     []broker.State
		to       broker.State
		update   func(*broker.Order)
		wantErr  error
		errHas   string
		wantFrom broker.State
	}{
		{"wrong state", "o", []broker.State{P}, M, nil, broker.ErrStateChanged, "is working", ""},
		{"unknown order", "x", []broker.State{W}, P, nil, broker.ErrNotFound, "", ""},
		{"no source state", "o", nil, P, nil, nil, "no source state", ""},
		{"working to paid", "o", []broker.State{W}, P,
			func(o *broker.Order) { o.PaidAt = minedAt.Add(-time.Minute) }, nil, "", W},
		{"paid to mined with block", "o", []broker.State{W, P}, M, func(o *broker.Order) {
			o.MinedAt = minedAt
			o.BlockHash = "bh"
			o.Height = 101
			o.ID = "ignored"
		}, nil, "", P},
		{"same transition again fails", "o", []broker.State{W, P}, M, nil, broker.ErrStateChanged, "is mined", ""},
		{"reorg mined to paid", "o", []broker.State{M}, P, func(o *broker.Order) {
			o.MinedAt = time.Time{}
			o.BlockHash = ""
			o.Height = 0
			o.Reason = "reorg"
		}, nil, "", M},
	}
	wantEvents := []broker.Event{{From: "", To: W, Detail: "created"}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := s.Order(ctx, "o")
			got, err := s.Transition(ctx, tc.id, tc.from, tc.to, "d:"+tc.name, tc.update)
			if tc.wantErr != nil || tc.errHas != "" {
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.errHas)
				}
				after, _ := s.Order(ctx, "o")
				if !reflect.DeepEqual(before, after) {
					t.Fatalf("failed transition changed the order")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			read, err := s.Order(ctx, "o")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, read) {
				t.Fatalf("returned %+v\nread     %+v", got, read)
			}
			if read.State != tc.to || read.ID != "o" || !read.UpdatedAt.After(before.UpdatedAt) {
				t.Fatalf("after transition: %+v", read)
			}
			wantEvents = append(wantEvents, broker.Event{From: tc.wantFrom, To: tc.to, Detail: "d:" + tc.name})
		})
	}
	o, _ := s.Order(ctx, "o")
	if o.State != P || o.Reason != "reorg" || o.BlockHash != "" || !o.MinedAt.IsZero() ||
		!o.PaidAt.Equal(minedAt.Add(-time.Minute)) {
		t.Fatalf("final order %+v", o)
	}
	ev, err := s.Events(ctx, "o")
	if err != nil || len(ev) != len(wantEvents) {
		t.Fatalf("events %+v, %v; want %d", ev, err, len(wantEvents))
	}
	for i, e := range ev {
		w := wantEvents[i]
		if e.From != w.From || e.To != w.To || e.Detail != w.Detail || e.OrderID != "o" {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
		if i > 0 && (e.Seq <= ev[i-1].Seq || e.At.Before(ev[i-1].At)) {
			t.Errorf("event %d out of order", i)
		}
	}
	if err := s.SetReason(ctx, "o", "too big"); err != nil {
		t.Fatal(err)
	}
	if o, _ := s.Order(ctx, "o"); o.Reason != "too big" || o.State != P {
		t.Fatalf("after SetReason: %+v", o)
	}
	if err := s.SetReason(ctx, "x", "r"); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("SetReason unknown: %v", err)
	}
}

// OrdersInState lists the orders of the given states, oldest first.
func OrdersInState(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := opened(t, open)
	base := time.Now()
	W, P := broker.StateWorking, broker.StatePaid
	states := []broker.State{P, W, broker.StateMined, W, P, broker.StateExpired}
	// Created in reverse time order so "oldest first" is not insertion order.
	for i := len(states) - 1; i >= 0; i-- {
		o := TestOrder(fmt.Sprintf("o%d", i), 1)
		o.State = states[i]
		o.CreatedAt = base.Add(time.Duration(i) * time.Second)
		MustCreate(t, s, o)
	}
	tests := []struct {
		states []broker.State
		want   []string
	}{
		{[]broker.State{W}, []string{"o1", "o3"}},
		{[]broker.State{W, P}, []string{"o0", "o1", "o3", "o4"}},
		{[]broker.State{broker.StateConfirmed}, nil},
		{nil, nil},
	}
	for _, tc := range tests {
		got, err := s.OrdersInState(ctx, tc.states...)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, o := range got {
			ids = append(ids, o.ID)
		}
		if !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("OrdersInState(%v) = %v, want %v", tc.states, ids, tc.want)
		}
	}
}

// Lookups by token hash and idempotency key, and the counts per state.
func Lookups(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := opened(t, open)
	W, P, E := broker.StateWorking, broker.StatePaid, broker.StateExpired
	for i, st := range []broker.State{W, P, W, E} {
		o := TestOrder(fmt.Sprintf("o%d", i), 1)
		o.State = st
		if i%2 == 0 {
			o.IdempotencyKey = fmt.Sprintf("key%d", i)
		}
		MustCreate(t, s, o)
	}
	tests := []struct {
		name   string
		lookup func() (*broker.Order, error)
		wantID string
	}{
		{"token hash", func() (*broker.Order, error) { return s.OrderByTokenHash(ctx, HashOf("token", "o3")) }, "o3"},
		{"unknown token hash", func() (*broker.Order, error) { return s.OrderByTokenHash(ctx, HashOf("token", "zz")) }, ""},
		{"idempotency key", func() (*broker.Order, error) { return s.OrderByIdempotencyKey(ctx, "key2") }, "o2"},
		{"unknown idempotency key", func() (*broker.Order, error) { return s.OrderByIdempotencyKey(ctx, "key1") }, ""},
		{"empty idempotency key", func() (*broker.Order, error) { return s.OrderByIdempotencyKey(ctx, "") }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := tc.lookup()
			if tc.wantID == "" {
				if !errors.Is(err, broker.ErrNotFound) {
					t.Fatalf("got %v, %v; want ErrNotFound", o, err)
				}
				return
			}
			if err != nil || o.ID != tc.wantID {
				t.Fatalf("got %v, %v; want %s", o, err, tc.wantID)
			}
		})
	}
	counts, err := s.CountOrders(ctx)
	want := map[broker.State]int{W: 2, P: 1, E: 1}
	if err != nil || !reflect.DeepEqual(counts, want) {
		t.Fatalf("CountOrders = %v, %v; want %v", counts, err, want)
	}
}

// RecordShares: crediting, duplicates (also across orders), the paid rule and its
// event, unknown orders and bad shares failing alone, the stored share.
func RecordShares(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := opened(t, open)
	W, P := broker.StateWorking, broker.StatePaid
	MustCreate(t, s, TestOrder("a", 3))
	MustCreate(t, s, TestOrder("b", 1))
	MustCreate(t, s, TestOrder("c", 1))
	if _, err := s.Transition(ctx, "c", []broker.State{W}, broker.StateExpired, "deadline", nil); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 9, 0, 0, 42, time.UTC)
	type R = broker.Recorded
	steps := []struct {
		name      string
		share     broker.Share
		wantErr   error
		want      R
		wantCount int64 // the order's shares after it; -1: the share is refused
	}{
		{"first share credits", broker.Share{HeaderHash: HashOf(1), OrderID: "a", Difficulty: 1.5, At: at},
			nil, R{OrderState: W, CreditedWork: 1.5}, 1},
		{"duplicate credits nothing", broker.Share{HeaderHash: HashOf(1), OrderID: "a", Difficulty: 1.5, At: at},
			nil, R{Duplicate: true, OrderState: W, CreditedWork: 1.5}, 1},
		{"same hash other order is still a duplicate", broker.Share{HeaderHash: HashOf(1), OrderID: "b", Difficulty: 5},
			nil, R{Duplicate: true, OrderState: W, CreditedWork: 0}, 0},
		{"reaching required pays", broker.Share{HeaderHash: HashOf(2), OrderID: "a", Difficulty: 1.5, At: at.Add(time.Second)},
			nil, R{OrderState: P, CreditedWork: 3, BecamePaid: true}, 2},
		{"more work on a paid order is credited, not paid again", broker.Share{HeaderHash: HashOf(3), OrderID: "a", Difficulty: 2},
			nil, R{OrderState: P, CreditedWork: 5}, 3},
		{"expired order is credited but not paid", broker.Share{HeaderHash: HashOf(4), OrderID: "c", Difficulty: 2},
			nil, R{OrderState: broker.StateExpired, CreditedWork: 2}, 1},
		{"unknown order", broker.Share{HeaderHash: HashOf(5), OrderID: "zz", Difficulty: 2}, broker.ErrNotFound, R{}, -1},
		{"negative difficulty", broker.Share{HeaderHash: HashOf(6), OrderID: "a", Difficulty: -1}, nil, R{}, -1},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			sh := tc.share
			got, err := Record(ctx, s, &sh)
			if tc.wantCount < 0 {
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if _, err := s.Share(ctx, sh.HeaderHash); !errors.Is(err, broker.ErrNotFound) {
					t.Fatalf("rejected share stored: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("result %+v, want %+v", got, tc.want)
			}
			o, err := s.Order(ctx, sh.OrderID)
			if err != nil || o.Shares != tc.wantCount {
				t.Fatalf("order %s has %v shares, %v; want %d", sh.OrderID, o, err, tc.wantCount)
			}
		})
	}
	a, _ := s.Order(ctx, "a")
	if a.State != P || a.CreditedWork != 5 || a.Shares != 3 || !a.PaidAt.Equal(at.Add(time.Second)) {
		t.Fatalf("order a = %+v", a)
	}
	ev, _ := s.Events(ctx, "a")
	if len(ev) != 2 || ev[1].From != W || ev[1].To != P || ev[1].Detail != "enough work: 3 of 3 units" {
		t.Fatalf("events of a = %+v", ev)
	}
	stored, err := s.Share(ctx, HashOf(1))
	if err != nil {
		t.Fatal(err)
	}
	if stored.OrderID != "a" || stored.Difficulty != 1.5 || !stored.At.Equal(at) {
		t.Fatalf("stored share %+v", stored)
	}

}

// RecordBatch: one call with several shares answers them in order, each judged alone
// (a duplicate within the call, an unknown order, a bad difficulty), and after Close
// every share gets ErrStoreClosed.
func RecordBatch(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := opened(t, open)
	W, P := broker.StateWorking, broker.StatePaid
	type R = broker.Recorded
	MustCreate(t, s, TestOrder("d", 3))
	batch := []*broker.Share{
		{HeaderHash: HashOf("d", 1), OrderID: "d", Difficulty: 1},
		{HeaderHash: HashOf("d", 2), OrderID: "d", Difficulty: 1},
		{HeaderHash: HashOf("d", 1), OrderID: "d", Difficulty: 1}, // duplicate within the batch
		{HeaderHash: HashOf("d", 3), OrderID: "nope", Difficulty: 1},
		{HeaderHash: HashOf("d", 4), OrderID: "d", Difficulty: -1},
		{HeaderHash: HashOf("d", 5), OrderID: "d", Difficulty: 1},
		{HeaderHash: HashOf("d", 6), OrderID: "d", Difficulty: 1},
	}
	res, errs := s.RecordShares(ctx, batch)
	want := []R{
		{OrderState: W, CreditedWork: 1},
		{OrderState: W, CreditedWork: 2},
		{Duplicate: true, OrderState: W, CreditedWork: 2},
		{}, {},
		{OrderState: P, CreditedWork: 3, BecamePaid: true},
		{OrderState: P, CreditedWork: 4},
	}
	wantErr := []bool{false, false, false, true, true, false, false}
	for i := range batch {
		if (errs[i] != nil) != wantErr[i] || res[i] != want[i] {
			t.Errorf("share %d: %+v, %v; want %+v, error %v", i, res[i], errs[i], want[i], wantErr[i])
		}
	}
	if !errors.Is(errs[3], broker.ErrNotFound) {
		t.Errorf("unknown order: %v", errs[3])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Record(ctx, s, batch[0]); !errors.Is(err, broker.ErrStoreClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// PaidExactlyOnce: many concurrent writers with overlapping hashes; the order becomes
// paid exactly once, at exactly its required work, and every unique share is credited.
// Backends call it directly too, with their own group settings.
func PaidExactlyOnce(t *testing.T, s broker.Store) {
	ctx := context.Background()
	const (
		workers  = 64
		each     = 40
		required = 1000
	)
	MustCreate(t, s, TestOrder("hot", required))
	var (
		mu        sync.Mutex
		paid      int
		maxCredit float64
		wg        sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// Every tenth share repeats a hash another worker also sends.
				h := HashOf("w", w, i)
				if i%10 == 0 {
					h = HashOf("shared", i)
				}
				r, err := Record(ctx, s, &broker.Share{HeaderHash: h, OrderID: "hot", Difficulty: 1, Worker: "w"})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if r.BecamePaid {
					paid++
					if r.CreditedWork != required {
						t.Errorf("became paid at %v, want %v", r.CreditedWork, required)
					}
				}
				if r.CreditedWork >= required && r.OrderState != broker.StatePaid {
					t.Errorf("credited %v but state %s", r.CreditedWork, r.OrderState)
				}
				maxCredit = max(maxCredit, r.CreditedWork)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	unique := workers*each - workers*(each/10) + each/10
	if paid != 1 {
		t.Fatalf("BecamePaid reported %d times", paid)
	}
	o, _ := s.Order(ctx, "hot")
	if o.State != broker.StatePaid || o.CreditedWork != float64(unique) || o.Shares != int64(unique) || maxCredit != float64(unique) {
		t.Fatalf("order %+v (max credit seen %v), want %d shares", o, maxCredit, unique)
	}
	ev, _ := s.Events(ctx, "hot")
	n := 0
	for _, e := range ev {
		if e.To == broker.StatePaid {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d paid events", n)
	}
	st := s.Stats()
	if st.Accepted != uint64(unique) || st.Duplicates != uint64(workers*each-unique) {
		t.Fatalf("stats %+v", st)
	}
}

// SendShares records n shares of difficulty 1 for an order, each from its own
// goroutine, with header hashes HashOf(prefix, i); wait returns their errors once all
// were answered.
func SendShares(ctx context.Context, s broker.Store, orderID, prefix string, n int) (wait func() []error) {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Record(ctx, s, &broker.Share{HeaderHash: HashOf(prefix, i), OrderID: orderID, Difficulty: 1})
		}()
	}
	return func() []error {
		wg.Wait()
		return errs
	}
}

// CloseAndReopen: shares answered before Close are there after a reopen; Close twice
// is fine.
func CloseAndReopen(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	MustCreate(t, s, TestOrder("a", 100))
	const n = 20
	for i, err := range SendShares(ctx, s, "a", "c", n)() {
		if err != nil {
			t.Fatalf("share %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s2 := opened(t, open)
	o, err := s2.Order(ctx, "a")
	if err != nil || o.Shares != n || o.CreditedWork != n {
		t.Fatalf("after reopen: %+v, %v; want %d shares", o, err, n)
	}
	if r, err := Record(ctx, s2, &broker.Share{HeaderHash: HashOf("c", 0), OrderID: "a", Difficulty: 1}); err != nil || !r.Duplicate {
		t.Fatalf("a share from before the restart again: %+v, %v; want a duplicate", r, err)
	}
}

// Assignments round-trip; CloseAssignments closes only its order's.
func Assignments(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := opened(t, open)
	MustCreate(t, s, TestOrder("o", 1))
	MustCreate(t, s, TestOrder("p", 1))
	base := time.Date(2026, 11, 27, 9, 0, 0, 7, time.UTC)
	as := []broker.Assignment{
		{ID: "a1", OrderID: "o", JobID: "j1", Extranonce1: []byte{0, 0, 0, 1}, Extranonce2: []byte{9, 9, 9, 9},
			Header: bytes.Repeat([]byte{7}, 80), NonceStart: 0xfffff000, NonceCount: 1 << 32, ShareDiff: 0.001,
			CreatedAt: base, ExpiresAt: base.Add(time.Minute)},
		{ID: "a2", OrderID: "o", JobID: "j1", Extranonce1: []byte{0, 0, 0, 2}, Header: make([]byte, 80), CreatedAt: base},
		{ID: "a3", OrderID: "p", JobID: "j2", Extranonce1: []byte{0, 0, 0, 3}, Header: make([]byte, 80), CreatedAt: base},
	}
	for i := range as {
		if err := s.CreateAssignment(ctx, &as[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateAssignment(ctx, &broker.Assignment{ID: "bad", OrderID: "missing"}); err == nil {
		t.Fatal("assignment for a missing order was stored")
	}
	if err := s.CloseAssignments(ctx, "o"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		want   broker.Assignment
		closed bool
	}{{as[0], true}, {as[1], true}, {as[2], false}} {
		got, err := s.Assignment(ctx, tc.want.ID)
		if err != nil {
			t.Fatal(err)
		}
		w := tc.want
		w.Closed = tc.closed
		if got.Extranonce2 == nil && len(w.Extranonce2) == 0 {
			got.Extranonce2 = w.Extranonce2
		}
		if !reflect.DeepEqual(*got, w) {
			t.Errorf("assignment\n got %+v\nwant %+v", *got, w)
		}
	}
	if _, err := s.Assignment(ctx, "zz"); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("unknown assignment: %v", err)
	}
}

// Blocks: the same hash again replaces it; listed by height, then time found.
func Blocks(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := opened(t, open)
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	in := []broker.Block{
		{Hash: "h3", Height: 3, PrevHash: "h2", Txids: []string{"cb", "t1"}, OrderIDs: []string{"o1"}, FoundAt: t0, Accepted: true},
		{Hash: "h2b", Height: 2, PrevHash: "h1", Txids: []string{"cb"}, OrderIDs: []string{}, FoundAt: t0.Add(time.Second), Reason: "stale"},
		{Hash: "h2", Height: 2, PrevHash: "h1", Txids: []string{"cb"}, OrderIDs: []string{}, FoundAt: t0, Accepted: true},
		{Hash: "h3", Height: 3, PrevHash: "h2", Txids: []string{"cb", "t1", "t2"}, OrderIDs: []string{"o1", "o2"}, FoundAt: t0, Accepted: false, Reason: "rejected: bad"},
	}
	for i := range in {
		if err := s.AddBlock(ctx, &in[i]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Blocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []broker.Block{in[2], in[1], in[3]}
	if len(got) != len(want) {
		t.Fatalf("%d blocks, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(*got[i], want[i]) {
			t.Errorf("block %d\n got %+v\nwant %+v", i, *got[i], want[i])
		}
	}
}

// Reserve hands out ranges that never overlap, across reopens and concurrent callers.
func Reserve(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	steps := []struct {
		counter string
		n       uint64
		want    uint64
	}{
		{"en1", 1, 0}, {"en1", 10, 1}, {"other", 5, 0}, {"en1", 1, 11},
	}
	for _, st := range steps {
		got, err := s.Reserve(ctx, st.counter, st.n)
		if err != nil || got != st.want {
			t.Fatalf("Reserve(%s, %d) = %d, %v; want %d", st.counter, st.n, got, err, st.want)
		}
	}
	if _, err := s.Reserve(ctx, "en1", 0); err == nil {
		t.Fatal("Reserve 0 succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := opened(t, open)
	if got, err := s2.Reserve(ctx, "en1", 1); err != nil || got != 12 {
		t.Fatalf("after reopen Reserve = %d, %v; want 12", got, err)
	}
	var (
		mu   sync.Mutex
		seen = map[uint64]bool{}
		wg   sync.WaitGroup
	)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, err := s2.Reserve(ctx, "c", 3)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for v := first; v < first+3; v++ {
				if seen[v] {
					t.Errorf("value %d reserved twice", v)
				}
				seen[v] = true
			}
		}()
	}
	wg.Wait()
	if len(seen) != 60 {
		t.Fatalf("%d values reserved, want 60", len(seen))
	}
}
