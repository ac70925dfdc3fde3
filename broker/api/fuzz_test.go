package api

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeShares: the strict decoder of request bodies never panics, and what it
// accepts round-trips.
func FuzzDecodeShares(f *testing.F) {
	for _, s := range []string{
		`{"shares":[]}`, `{"shares":[{"assignment_id":"asg_1","nonce":4294967295}]}`,
		`{"shares":[{"assignment_id":"a","nonce":-1}]}`, `{"shares":null}`, `{}`, ``, `[]`,
		`{"shares":[],"x":1}`, `{"shares":[]} {}`, `{"shares":[{"nonce":1e3}]}`, "\x00\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req SharesRequest
		if err := decodeStrict(body, &req); err != nil {
			if problemOf(err).Status != 400 {
				t.Fatalf("status %d for %q", problemOf(err).Status, body)
			}
			return
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var back SharesRequest
		if err := decodeStrict(again, &back); err != nil {
			t.Fatalf("re-decode %s: %v", again, err)
		}
		if len(back.Shares) != len(req.Shares) {
			t.Fatal("round trip lost shares")
		}
	})
}
