package stratumpool

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/stratum"
)

func TestJobMasksVersion(t *testing.T) {
	for _, v := range []uint32{0x20000000, 0x3fffe000, 0x20002004, 0x2fffffff} {
		j := &broker.Job{ID: "7", Version: int32(v), Bits: 0x1f00ffff, NTime: 5, NetTarget: big.NewInt(1 << 40),
			Assembly: &chain.Assembly{Coinb1: []byte{1}, Coinb2: []byte{2}, Extranonce2Size: 4, Branch: []chainhash.Hash{{9}}}}
		sj := Job(j)
		if sj.Version != v&^stratum.DefaultVersionMask || sj.Version&stratum.DefaultVersionMask != 0 {
			t.Errorf("version %08x became %08x", v, sj.Version)
		}
		if sj.ID != "7" || sj.Extranonce2Size != 4 || len(sj.Branch) != 1 || sj.Branch[0][0] != 9 || sj.NetDifficulty <= 0 {
			t.Errorf("job %+v", sj)
		}
	}
}

func TestStratumError(t *testing.T) {
	p := New(nil)
	tests := []struct {
		kind broker.Kind
		code int
		text string
	}{
		{broker.KindStaleJob, stratum.CodeStale, "detail"},
		{broker.KindDuplicateShare, stratum.CodeDuplicate, "detail"},
		{broker.KindLowDifficulty, stratum.CodeLowDifficulty, "detail"},
		{broker.KindBadShare, stratum.CodeOther, "detail"},
		{broker.KindOrderComplete, stratum.CodeUnauthorized, "detail"},
		{broker.KindExpired, stratum.CodeUnauthorized, "detail"},
		{broker.KindOrderClosed, stratum.CodeUnauthorized, "detail"},
		{broker.KindNotFound, stratum.CodeUnauthorized, "detail"},
	}
	for _, tc := range tests {
		err := p.stratumError(context.Background(), "ord_x", &broker.Error{Kind: tc.kind, Detail: "detail"})
		var se *stratum.Error
		if !errors.As(err, &se) || se.Code != tc.code || !strings.Contains(se.Message, tc.text) {
			t.Errorf("%s: got %v, want code %d", tc.kind, err, tc.code)
		}
	}
	plain := errors.New("disk on fire")
	if err := p.stratumError(context.Background(), "ord_x", plain); err != plain {
		t.Errorf("a plain error became %v", err)
	}
}

func TestStopOnOrder(t *testing.T) {
	tests := []struct {
		msg     string
		stop    bool
		withErr bool
	}{
		{Message(&broker.Order{ID: "ord_a", State: broker.StatePaid}), true, false},
		{Message(&broker.Order{ID: "ord_a", State: broker.StateMined, BlockHash: "00ab", Height: 7}), true, false},
		{Message(&broker.Order{ID: "ord_a", State: broker.StateConfirmed}), true, false},
		{Message(&broker.Order{ID: "ord_a", State: broker.StateWorking}), false, false},
		{Message(&broker.Order{ID: "ord_a", State: broker.StateExpired, Reason: "too slow"}), true, true},
		{Message(&broker.Order{ID: "ord_a", State: broker.StateCanceled}), true, true},
		{"order ord_a is failed: input spent", true, true},
		{"pool maintenance at noon", false, false},
		{"", false, false},
	}
	for _, tc := range tests {
		stop, err := StopOnOrder(tc.msg)
		if stop != tc.stop || (err != nil) != tc.withErr {
			t.Errorf("%q: stop %v err %v", tc.msg, stop, err)
		}
		if strings.HasPrefix(tc.msg, "order ") && !strings.HasPrefix(tc.msg, "order ord_a is ") {
			t.Errorf("message %q does not start with the order and its state", tc.msg)
		}
	}
}

// TestEveryKindHasCode: the Stratum table covers every broker kind once, and only those.
func TestEveryKindHasCode(t *testing.T) {
	kinds := broker.Kinds()
	for _, k := range kinds {
		if _, ok := codeOf(k); !ok {
			t.Errorf("kind %s has no Stratum code", k)
		}
	}
	seen := map[broker.Kind]bool{}
	for code, ks := range codeKinds {
		for _, k := range ks {
			if !slices.Contains(kinds, k) || seen[k] {
				t.Errorf("code %d: kind %q is not a broker kind or has two codes", code, k)
			}
			seen[k] = true
		}
	}
}
