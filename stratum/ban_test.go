package stratum

import (
	"testing"
	"time"
)

func TestBanListRules(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	tests := []struct {
		name      string
		threshold int
		strikes   []time.Duration // offsets from t0
		bannedAt  time.Duration   // when to ask
		want      bool
	}{
		{"below the threshold", 3, []time.Duration{0, time.Second}, 2 * time.Second, false},
		{"at the threshold", 3, []time.Duration{0, time.Second, 2 * time.Second}, 3 * time.Second, true},
		{"strikes spread over two windows", 3, []time.Duration{0, time.Second, 70 * time.Second}, 71 * time.Second, false},
		{"ban expired", 2, []time.Duration{0, 0}, 10*time.Minute + time.Second, false},
		{"ban in force just before its end", 2, []time.Duration{0, 0}, 10*time.Minute - time.Second, true},
		{"disabled", -1, []time.Duration{0, 0, 0, 0, 0}, time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBanList(tc.threshold, time.Minute, 10*time.Minute)
			for _, at := range tc.strikes {
				b.strike("192.0.2.1", t0.Add(at))
			}
			if got := b.isBanned("192.0.2.1", t0.Add(tc.bannedAt)); got != tc.want {
				t.Fatalf("banned = %v, want %v", got, tc.want)
			}
			if b.isBanned("192.0.2.2", t0.Add(tc.bannedAt)) {
				t.Fatal("another IP is banned")
			}
			b.expire(t0.Add(time.Hour))
			if n, _ := b.counts(); n != 0 || len(b.strikes) != 0 {
				t.Fatalf("after expiry: %d bans, %d strike counts", n, len(b.strikes))
			}
		})
	}
}
