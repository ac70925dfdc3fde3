package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTest(t testing.TB, path string, opt Options) *Store {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = quietLogger()
	}
	s, err := Open(context.Background(), path, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB) *Store {
	return openTest(t, filepath.Join(t.TempDir(), "sub", "dir", "broker.db"), Options{})
}

func hashOf(parts ...any) [32]byte { return sha256.Sum256([]byte(fmt.Sprint(parts...))) }

func testOrder(id string, required float64) *Order {
	return &Order{
		ID:           id,
		TokenHash:    hashOf("token", id),
		State:        StateWorking,
		Txid:         strings.Repeat("ab", 32),
		RawTx:        []byte{1, 2, 3},
		RequiredWork: required,
		ExpiresAt:    time.Now().Add(time.Hour),
	}
}

func mustCreate(t testing.TB, s *Store, o *Order) *Order {
	t.Helper()
	got, created, err := s.CreateOrder(context.Background(), o, "created")
	if err != nil || !created {
		t.Fatalf("CreateOrder(%s) = created %v, %v", o.ID, created, err)
	}
	return got
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	v2 := fstest.MapFS{}
	emb, err := loadMigrations(embeddedMigrations)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range emb {
		v2["migrations/"+m.name] = &fstest.MapFile{Data: []byte(m.sql)}
	}
	next := len(emb) + 1
	v2[fmt.Sprintf("migrations/%04d_extra.sql", next)] = &fstest.MapFile{
		Data: []byte(`CREATE TABLE extra (x INTEGER); INSERT INTO extra VALUES (42);`)}
	gapped := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte(`CREATE TABLE a (x);`)},
		"migrations/0003_c.sql": {Data: []byte(`CREATE TABLE c (x);`)},
	}

	tests := []struct {
		name string
		run  func(t *testing.T, path string)
	}{
		{"fresh file gets the latest version", func(t *testing.T, path string) {
			s := openTest(t, path, Options{})
			v, err := s.SchemaVersion(ctx)
			if err != nil || v != len(emb) {
				t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(emb))
			}
			for _, table := range []string{"orders", "order_events", "assignments", "shares", "blocks", "meta", "counters"} {
				var n int
				if err := s.rdb.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?`, table).Scan(&n); err != nil || n != 1 {
					t.Errorf("table %s: count %d, %v", table, n, err)
				}
			}
			var mode string
			if err := s.rdb.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode = %q, %v", mode, err)
			}
			for pragma, want := range map[string]int{"synchronous": 2, "foreign_keys": 1, "wal_autocheckpoint": 10000} {
				var got int
				if err := s.wdb.QueryRow(`PRAGMA ` + pragma).Scan(&got); err != nil || got != want {
					t.Errorf("writer PRAGMA %s = %d, %v; want %d", pragma, got, err, want)
				}
			}
			if _, err := s.rdb.Exec(`INSERT INTO meta(key, value) VALUES('x', 'y')`); err == nil {
				t.Error("a reader connection could write")
			}
		}},
		{"reopen is idempotent and keeps data", func(t *testing.T, path string) {
			s := openTest(t, path, Options{})
			mustCreate(t, s, testOrder("o1", 5))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				s2 := openTest(t, path, Options{})
				if v, err := s2.SchemaVersion(ctx); err != nil || v != len(emb) {
					t.Fatalf("reopen %d: version %d, %v", i, v, err)
				}
				if _, err := s2.Order(ctx, "o1"); err != nil {
					t.Fatalf("reopen %d: %v", i, err)
				}
				if err := s2.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"a newer migration is applied on reopen", func(t *testing.T, path string) {
			s := openTest(t, path, Options{})
			mustCreate(t, s, testOrder("o1", 5))
			s.Close()
			s2, err := open(ctx, path, Options{Logger: quietLogger()}, v2, defaultSynchronous)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if v, err := s2.SchemaVersion(ctx); err != nil || v != next {
				t.Fatalf("version %d, %v; want %d", v, err, next)
			}
			var x int
			if err := s2.rdb.QueryRow(`SELECT x FROM extra`).Scan(&x); err != nil || x != 42 {
				t.Fatalf("extra = %d, %v", x, err)
			}
			if _, err := s2.Order(ctx, "o1"); err != nil {
				t.Fatal(err)
			}
		}},
		{"a database newer than the code is refused", func(t *testing.T, path string) {
			s, err := open(ctx, path, Options{Logger: quietLogger()}, v2, defaultSynchronous)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			_, err = Open(ctx, path, Options{Logger: quietLogger()})
			if err == nil {
				t.Fatal("Open of a newer database succeeded")
			}
			want := fmt.Sprintf("schema version %d is newer than this program supports (%d)", next, len(emb))
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not contain %q", err, want)
			}
		}},
		{"gapped migrations are an error", func(t *testing.T, path string) {
			_, err := open(ctx, path, Options{Logger: quietLogger()}, gapped, defaultSynchronous)
			if err == nil || !strings.Contains(err.Error(), "expected version 2") {
				t.Fatalf("err = %v", err)
			}
		}},
		{"path with a query character is refused", func(t *testing.T, path string) {
			if _, err := Open(ctx, path+"?x=1", Options{}); err == nil {
				t.Fatal("no error")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, filepath.Join(t.TempDir(), "db", "broker.db"))
		})
	}
}

func TestOrderRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	base := time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name  string
		order Order
	}{
		{"every field set", Order{
			ID: "full", TokenHash: hashOf("tok"), State: StatePaid, Txid: strings.Repeat("01", 32),
			RawTx: []byte{0xde, 0xad, 0xbe, 0xef}, Fee: 1234, VSize: 141, RequiredWork: 12.5,
			CreditedWork: 13.25, Shares: 7, CreatedAt: base, ExpiresAt: base.Add(time.Hour),
			PaidAt: base.Add(time.Minute), MinedAt: base.Add(2 * time.Minute),
			ConfirmedAt: base.Add(3 * time.Minute), BlockHash: strings.Repeat("00", 32), Height: 812345,
			Reason: "why not", IdempotencyKey: "key-1", RequestHash: hashOf("body"),
			UpdatedAt: base.Add(4 * time.Minute),
		}},
		{"minimal with zero times", Order{
			ID: "min", TokenHash: hashOf("tok2"), State: StateWorking, RequiredWork: 4.66e-10,
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
			for _, o := range []*Order{got, stored} {
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
	if _, err := s.Order(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
	all, err := s.AllOrders(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("AllOrders = %d, %v", len(all), err)
	}
}

func TestIdempotency(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	first := testOrder("first", 1)
	first.IdempotencyKey = "k"
	first.RequestHash = hashOf("body-1")
	mustCreate(t, s, first)

	tests := []struct {
		name        string
		id, key     string
		body        string
		wantID      string
		wantCreated bool
		wantErr     error
	}{
		{"same key same request returns the stored order", "second", "k", "body-1", "first", false, nil},
		{"same key other request is a replay", "third", "k", "body-2", "", false, ErrIdempotencyReplay},
		{"other key creates", "fourth", "k2", "body-1", "fourth", true, nil},
		{"no key creates", "fifth", "", "body-1", "fifth", true, nil},
		{"no key again creates", "sixth", "", "body-1", "sixth", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOrder(tc.id, 1)
			o.IdempotencyKey = tc.key
			o.RequestHash = hashOf(tc.body)
			got, created, err := s.CreateOrder(ctx, o, "")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if _, err := s.Order(ctx, tc.id); !errors.Is(err, ErrNotFound) {
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

func TestTransition(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustCreate(t, s, testOrder("o", 10))
	minedAt := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

	tests := []struct {
		name     string
		id       string
		from     []State
		to       State
		update   func(*Order)
		wantErr  error
		errHas   string
		wantFrom State
	}{
		{"wrong state", "o", []State{StatePaid}, StateMined, nil, ErrStateChanged, "is working", ""},
		{"unknown order", "x", []State{StateWorking}, StatePaid, nil, ErrNotFound, "", ""},
		{"no source state", "o", nil, StatePaid, nil, nil, "no source state", ""},
		{"working to paid", "o", []State{StateWorking}, StatePaid,
			func(o *Order) { o.PaidAt = minedAt.Add(-time.Minute) }, nil, "", StateWorking},
		{"paid to mined with block", "o", []State{StateWorking, StatePaid}, StateMined, func(o *Order) {
			o.MinedAt = minedAt
			o.BlockHash = "bh"
			o.Height = 101
			o.ID = "ignored"
		}, nil, "", StatePaid},
		{"same transition again fails", "o", []State{StateWorking, StatePaid}, StateMined, nil, ErrStateChanged, "is mined", ""},
		{"reorg mined to paid", "o", []State{StateMined}, StatePaid, func(o *Order) {
			o.MinedAt = time.Time{}
			o.BlockHash = ""
			o.Height = 0
			o.Reason = "reorg"
		}, nil, "", StateMined},
	}
	wantEvents := []Event{{From: "", To: StateWorking, Detail: "created"}}
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
			wantEvents = append(wantEvents, Event{From: tc.wantFrom, To: tc.to, Detail: "d:" + tc.name})
		})
	}
	o, _ := s.Order(ctx, "o")
	if o.State != StatePaid || o.Reason != "reorg" || o.BlockHash != "" || !o.MinedAt.IsZero() ||
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
	if o, _ := s.Order(ctx, "o"); o.Reason != "too big" || o.State != StatePaid {
		t.Fatalf("after SetReason: %+v", o)
	}
	if err := s.SetReason(ctx, "x", "r"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetReason unknown: %v", err)
	}
}

func TestOrdersInState(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	base := time.Now()
	states := []State{StatePaid, StateWorking, StateMined, StateWorking, StatePaid, StateExpired}
	// Created in reverse time order so "oldest first" is not insertion order.
	for i := len(states) - 1; i >= 0; i-- {
		o := testOrder(fmt.Sprintf("o%d", i), 1)
		o.State = states[i]
		o.CreatedAt = base.Add(time.Duration(i) * time.Second)
		mustCreate(t, s, o)
	}
	tests := []struct {
		states []State
		want   []string
	}{
		{[]State{StateWorking}, []string{"o1", "o3"}},
		{[]State{StateWorking, StatePaid}, []string{"o0", "o1", "o3", "o4"}},
		{[]State{StateConfirmed}, nil},
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

func TestRecordShare(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustCreate(t, s, testOrder("a", 3))
	mustCreate(t, s, testOrder("b", 1))
	exp := testOrder("c", 1)
	mustCreate(t, s, exp)
	if _, err := s.Transition(ctx, "c", []State{StateWorking}, StateExpired, "deadline", nil); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 9, 0, 0, 42, time.UTC)

	tests := []struct {
		name      string
		share     Share
		wantErr   error
		want      ShareResult
		wantCount int64
	}{
		{"first share credits", Share{HeaderHash: hashOf(1), OrderID: "a", Difficulty: 1.5, At: at},
			nil, ShareResult{OrderState: StateWorking, CreditedWork: 1.5}, 1},
		{"duplicate credits nothing", Share{HeaderHash: hashOf(1), OrderID: "a", Difficulty: 1.5, At: at},
			nil, ShareResult{Duplicate: true, OrderState: StateWorking, CreditedWork: 1.5}, 1},
		{"same hash other order is still a duplicate", Share{HeaderHash: hashOf(1), OrderID: "b", Difficulty: 5},
			nil, ShareResult{Duplicate: true, OrderState: StateWorking, CreditedWork: 0}, 0},
		{"reaching required pays", Share{HeaderHash: hashOf(2), OrderID: "a", Difficulty: 1.5, At: at.Add(time.Second)},
			nil, ShareResult{OrderState: StatePaid, CreditedWork: 3, BecamePaid: true}, 2},
		{"more work on a paid order is credited, not paid again", Share{HeaderHash: hashOf(3), OrderID: "a", Difficulty: 2},
			nil, ShareResult{OrderState: StatePaid, CreditedWork: 5}, 3},
		{"expired order is credited but not paid", Share{HeaderHash: hashOf(4), OrderID: "c", Difficulty: 2},
			nil, ShareResult{OrderState: StateExpired, CreditedWork: 2}, 1},
		{"unknown order", Share{HeaderHash: hashOf(5), OrderID: "zz", Difficulty: 2}, ErrNotFound, ShareResult{}, -1},
		{"negative difficulty", Share{HeaderHash: hashOf(6), OrderID: "a", Difficulty: -1}, nil, ShareResult{}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sh := tc.share
			got, err := s.RecordShare(ctx, &sh)
			if tc.wantCount < 0 {
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if _, err := s.Share(ctx, sh.HeaderHash); !errors.Is(err, ErrNotFound) {
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
			n, err := s.OrderShares(ctx, sh.OrderID)
			if err != nil || n != tc.wantCount {
				t.Fatalf("OrderShares = %d, %v; want %d", n, err, tc.wantCount)
			}
		})
	}
	a, _ := s.Order(ctx, "a")
	if a.State != StatePaid || a.CreditedWork != 5 || a.Shares != 3 || !a.PaidAt.Equal(at.Add(time.Second)) {
		t.Fatalf("order a = %+v", a)
	}
	ev, _ := s.Events(ctx, "a")
	if len(ev) != 2 || ev[1].From != StateWorking || ev[1].To != StatePaid || ev[1].Detail != "enough work: 3 of 3 units" {
		t.Fatalf("events of a = %+v", ev)
	}
	stored, err := s.Share(ctx, hashOf(1))
	if err != nil {
		t.Fatal(err)
	}
	if stored.OrderID != "a" || stored.Difficulty != 1.5 || !stored.At.Equal(at) {
		t.Fatalf("stored share %+v", stored)
	}
	if n, err := s.ShareStats(ctx); err != nil || n != 4 {
		t.Fatalf("ShareStats = %d, %v; want 4", n, err)
	}
	if _, err := s.OrderShares(ctx, "zz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OrderShares unknown: %v", err)
	}
}

// TestShareGroup checks that one group mixes outcomes: an unknown order fails only its own
// share, while a failing commit fails every share of the group.
func TestShareGroup(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		orders   []string // order of each share in the group
		inject   bool     // make the group's transaction fail
		wantErrs []bool
	}{
		{"unknown order fails alone", []string{"a", "nope", "a", "b"}, false, []bool{false, true, false, false}},
		{"failed commit fails everyone", []string{"a", "b", "a", "b"}, true, []bool{true, true, true, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, filepath.Join(t.TempDir(), "g.db"), Options{
				GroupDelay: time.Minute, GroupMax: len(tc.orders)})
			mustCreate(t, s, testOrder("a", 100))
			mustCreate(t, s, testOrder("b", 100))
			if tc.inject {
				// Fault injection: the last share's insert aborts the whole transaction.
				if _, err := s.wdb.Exec(`CREATE TRIGGER boom BEFORE INSERT ON shares WHEN NEW.worker = 'boom'
					BEGIN SELECT RAISE(ABORT, 'injected fault'); END`); err != nil {
					t.Fatal(err)
				}
			}
			errs := make([]error, len(tc.orders))
			var wg sync.WaitGroup
			for i, id := range tc.orders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sh := &Share{HeaderHash: hashOf(tc.name, i), OrderID: id, Difficulty: 1}
					if tc.inject && i == len(tc.orders)-1 {
						sh.Worker = "boom"
					}
					_, errs[i] = s.RecordShare(ctx, sh)
				}()
			}
			wg.Wait()
			if st := s.Stats(); st.MaxGroup != uint64(len(tc.orders)) && st.Failed != uint64(len(tc.orders)) {
				t.Fatalf("shares were not one group: %+v", st)
			}
			var credited int64
			for i, err := range errs {
				if (err != nil) != tc.wantErrs[i] {
					t.Errorf("share %d (%s): err = %v, want error %v", i, tc.orders[i], err, tc.wantErrs[i])
				}
				_, gerr := s.Share(ctx, hashOf(tc.name, i))
				if stored := gerr == nil; stored == (err != nil) {
					t.Errorf("share %d: stored=%v but err=%v", i, stored, err)
				}
				if err == nil {
					credited++
				}
			}
			if tc.orders[1] == "nope" && !errors.Is(errs[1], ErrNotFound) {
				t.Errorf("unknown order error %v does not wrap ErrNotFound", errs[1])
			}
			if n, _ := s.ShareStats(ctx); n != credited {
				t.Fatalf("ShareStats = %d, want %d", n, credited)
			}
		})
	}
}

func TestPaidExactlyOnceConcurrent(t *testing.T) {
	for _, opt := range []Options{
		{},               // defaults: 2 ms window, 2000 shares
		{GroupDelay: -1}, // no wait
		{GroupMax: 1},    // one share per commit
		{GroupMax: 7, GroupDelay: 50 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("delay=%v/max=%d", opt.GroupDelay, opt.GroupMax), func(t *testing.T) {
			testPaidExactlyOnce(t, opt)
		})
	}
}

func testPaidExactlyOnce(t *testing.T, opt Options) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "p.db"), opt)
	const (
		workers  = 64
		each     = 40
		required = 1000
	)
	mustCreate(t, s, testOrder("hot", required))
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
				h := hashOf("w", w, i)
				if i%10 == 0 {
					h = hashOf("shared", i)
				}
				r, err := s.RecordShare(ctx, &Share{HeaderHash: h, OrderID: "hot", Difficulty: 1, Worker: "w"})
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
				if r.CreditedWork >= required && r.OrderState != StatePaid {
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
	if o.State != StatePaid || o.CreditedWork != float64(unique) || o.Shares != int64(unique) || maxCredit != float64(unique) {
		t.Fatalf("order %+v (max credit seen %v), want %d shares", o, maxCredit, unique)
	}
	ev, _ := s.Events(ctx, "hot")
	n := 0
	for _, e := range ev {
		if e.To == StatePaid {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d paid events", n)
	}
	st := s.Stats()
	if st.Accepted != uint64(unique) || st.Duplicates != uint64(workers*each-unique) ||
		(opt.GroupMax != 1 && st.Groups >= uint64(workers*each)) {
		t.Fatalf("stats %+v", st)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	// A group window far longer than the test: only Close can end the group.
	s := openTest(t, path, Options{GroupDelay: time.Hour})
	mustCreate(t, s, testOrder("a", 100))
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.RecordShare(ctx, &Share{HeaderHash: hashOf("c", i), OrderID: "a", Difficulty: 1})
		}()
	}
	for s.shares.sent.Load() < n {
		time.Sleep(time.Millisecond)
	}
	// Shares queued when Close starts are committed and answered.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("queued share %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.RecordShare(ctx, &Share{HeaderHash: hashOf("late"), OrderID: "a", Difficulty: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("RecordShare after Close: %v", err)
	}
	s2 := openTest(t, path, Options{})
	o, err := s2.Order(ctx, "a")
	if err != nil || o.Shares != n || o.CreditedWork != n {
		t.Fatalf("after reopen: %+v, %v; want %d shares", o, err, n)
	}
}

func TestAssignments(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustCreate(t, s, testOrder("o", 1))
	mustCreate(t, s, testOrder("p", 1))
	base := time.Date(2026, 11, 27, 9, 0, 0, 7, time.UTC)
	as := []Assignment{
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
	if err := s.CreateAssignment(ctx, &Assignment{ID: "bad", OrderID: "missing"}); err == nil {
		t.Fatal("assignment for a missing order was stored")
	}
	if err := s.CloseAssignments(ctx, "o"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		want   Assignment
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
	if _, err := s.Assignment(ctx, "zz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown assignment: %v", err)
	}
}

func TestBlocks(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	in := []Block{
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
	want := []Block{in[2], in[1], in[3]}
	if len(got) != len(want) {
		t.Fatalf("%d blocks, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(*got[i], want[i]) {
			t.Errorf("block %d\n got %+v\nwant %+v", i, *got[i], want[i])
		}
	}
}

func TestMetaAndReserve(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s := openTest(t, path, Options{})
	if _, ok, err := s.Meta(ctx, "faucet"); ok || err != nil {
		t.Fatalf("unset meta: %v, %v", ok, err)
	}
	for _, v := range []string{"one", "two"} {
		if err := s.SetMeta(ctx, "faucet", v); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := s.Meta(ctx, "faucet"); got != v || !ok || err != nil {
			t.Fatalf("Meta = %q, %v, %v", got, ok, err)
		}
	}
	if err := s.SetMeta(ctx, "schema_version", "99"); err == nil {
		t.Fatal("schema_version was writable")
	}
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
	s.Close()
	s2 := openTest(t, path, Options{})
	if got, err := s2.Reserve(ctx, "en1", 1); err != nil || got != 12 {
		t.Fatalf("after reopen Reserve = %d, %v; want 12", got, err)
	}
	if got, _, _ := s2.Meta(ctx, "faucet"); got != "two" {
		t.Fatalf("meta after reopen %q", got)
	}
	// Concurrent reservations never overlap.
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

func TestLookups(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	states := []State{StateWorking, StatePaid, StateWorking, StateExpired}
	for i, st := range states {
		o := testOrder(fmt.Sprintf("o%d", i), 1)
		o.State = st
		if i%2 == 0 {
			o.IdempotencyKey = fmt.Sprintf("key%d", i)
		}
		mustCreate(t, s, o)
	}
	tests := []struct {
		name   string
		lookup func() (*Order, error)
		wantID string
	}{
		{"token hash", func() (*Order, error) { return s.OrderByTokenHash(ctx, hashOf("token", "o3")) }, "o3"},
		{"unknown token hash", func() (*Order, error) { return s.OrderByTokenHash(ctx, hashOf("token", "zz")) }, ""},
		{"idempotency key", func() (*Order, error) { return s.OrderByIdempotencyKey(ctx, "key2") }, "o2"},
		{"unknown idempotency key", func() (*Order, error) { return s.OrderByIdempotencyKey(ctx, "key1") }, ""},
		{"empty idempotency key", func() (*Order, error) { return s.OrderByIdempotencyKey(ctx, "") }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := tc.lookup()
			if tc.wantID == "" {
				if !errors.Is(err, ErrNotFound) {
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
	want := map[State]int{StateWorking: 2, StatePaid: 1, StateExpired: 1}
	if err != nil || !reflect.DeepEqual(counts, want) {
		t.Fatalf("CountOrders = %v, %v; want %v", counts, err, want)
	}
	// The token lookup uses an index, not a table scan.
	var plan string
	rows, err := s.rdb.Query(`EXPLAIN QUERY PLAN SELECT id FROM orders WHERE token_hash = ?`, []byte{1})
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan += detail + ";"
	}
	rows.Close()
	if !strings.Contains(plan, "orders_token_hash") {
		t.Fatalf("query plan %q does not use orders_token_hash", plan)
	}
}

func TestRecordShares(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "b.db"), Options{GroupDelay: time.Hour, GroupMax: 6})
	mustCreate(t, s, testOrder("a", 3))
	shares := []*Share{
		{HeaderHash: hashOf(1), OrderID: "a", Difficulty: 1},
		{HeaderHash: hashOf(2), OrderID: "a", Difficulty: 1},
		{HeaderHash: hashOf(1), OrderID: "a", Difficulty: 1}, // duplicate within the batch
		{HeaderHash: hashOf(3), OrderID: "nope", Difficulty: 1},
		{HeaderHash: hashOf(4), OrderID: "a", Difficulty: -1},
		{HeaderHash: hashOf(5), OrderID: "a", Difficulty: 1},
		{HeaderHash: hashOf(6), OrderID: "a", Difficulty: 1},
	}
	res, errs := s.RecordShares(ctx, shares)
	want := []ShareResult{
		{OrderState: StateWorking, CreditedWork: 1},
		{OrderState: StateWorking, CreditedWork: 2},
		{Duplicate: true, OrderState: StateWorking, CreditedWork: 2},
		{}, {},
		{OrderState: StatePaid, CreditedWork: 3, BecamePaid: true},
		{OrderState: StatePaid, CreditedWork: 4},
	}
	wantErr := []bool{false, false, false, true, true, false, false}
	for i := range shares {
		if (errs[i] != nil) != wantErr[i] || res[i] != want[i] {
			t.Errorf("share %d: %+v, %v; want %+v, error %v", i, res[i], errs[i], want[i], wantErr[i])
		}
	}
	if !errors.Is(errs[3], ErrNotFound) {
		t.Errorf("unknown order: %v", errs[3])
	}
	// All valid shares were queued before any wait, so they went into one group.
	if st := s.Stats(); st.Groups != 1 || st.MaxGroup != 6 {
		t.Errorf("stats %+v, want one group of 6", st)
	}
	s.Close()
	_, errs = s.RecordShares(ctx, shares[:1])
	if !errors.Is(errs[0], ErrClosed) {
		t.Fatalf("after Close: %v", errs[0])
	}
}

func TestLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	s := openTest(t, path, Options{})
	if _, err := Open(ctx, path, Options{Logger: quietLogger()}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open while the first is open: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, path, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}
