package receipt_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker/receipt"
)

func testShares(n int) []receipt.Share {
	base := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	out := make([]receipt.Share, n)
	for i := range out {
		out[i] = receipt.Share{Hash: sha256.Sum256([]byte(fmt.Sprint("share", i))), Difficulty: 0.5 + float64(i%3),
			At: base.Add(time.Duration(n-i) * time.Second)}
	}
	return out
}

func testSigner(t *testing.T, seed string) *receipt.Signer {
	t.Helper()
	k := sha256.Sum256([]byte(seed))
	s, err := receipt.NewSigner(k[:])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signed(t *testing.T, s *receipt.Signer, shares []receipt.Share) *receipt.Receipt {
	t.Helper()
	r := &receipt.Receipt{Network: "private", OrderID: "ord_test", Txid: strings.Repeat("ab", 32), State: "mined",
		RequiredWork: 3.5, CreditedWork: 4.25, BlockHash: strings.Repeat("00", 4) + strings.Repeat("cd", 28), Height: 7,
		IssuedAt: time.Date(2026, 12, 4, 13, 0, 0, 123456789, time.UTC)}
	r.Fill(shares)
	if err := s.Sign(r, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSignVerify(t *testing.T) {
	s := testSigner(t, "broker")
	r := signed(t, s, testShares(5))
	if err := receipt.Verify(r, ""); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := receipt.Verify(r, s.PublicKey()); err != nil {
		t.Fatalf("verify with the key: %v", err)
	}
	if r.Shares != 5 || r.ShareDifficulty != 0.5 || r.ShareDifficultyMax != 2.5 {
		t.Fatalf("share fields: %+v", r)
	}
	if !r.FirstShareAt.Before(*r.LastShareAt) {
		t.Fatalf("first %v last %v", r.FirstShareAt, r.LastShareAt)
	}
	// A JSON round trip keeps the signature valid (times and floats are exact).
	data, _ := json.Marshal(r)
	back, err := receipt.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := receipt.Verify(back, s.PublicKey()); err != nil {
		t.Fatalf("after JSON: %v", err)
	}
}

func TestVerifyFails(t *testing.T) {
	s := testSigner(t, "broker")
	other := testSigner(t, "someone else")
	good := signed(t, s, testShares(4))
	for _, tc := range []struct {
		name   string
		change func(r *receipt.Receipt)
		pubkey string
		want   string
	}{
		{"credited work", func(r *receipt.Receipt) { r.CreditedWork *= 2 }, "", "does not match"},
		{"required work", func(r *receipt.Receipt) { r.RequiredWork = 1 }, "", "does not match"},
		{"shares", func(r *receipt.Receipt) { r.Shares++ }, "", "does not match"},
		{"txid", func(r *receipt.Receipt) { r.Txid = strings.Repeat("ac", 32) }, "", "does not match"},
		{"order", func(r *receipt.Receipt) { r.OrderID = "ord_other" }, "", "does not match"},
		{"last share", func(r *receipt.Receipt) { t := r.LastShareAt.Add(time.Nanosecond); r.LastShareAt = &t }, "", "does not match"},
		{"height", func(r *receipt.Receipt) { r.Height++ }, "", "does not match"},
		{"root", func(r *receipt.Receipt) { r.MerkleRoot = strings.Repeat("11", 32) }, "", "does not match"},
		{"key swapped", func(r *receipt.Receipt) { r.PublicKey = other.PublicKey() }, "", "does not match"},
		{"wrong expected key", func(r *receipt.Receipt) {}, other.PublicKey(), "not the expected"},
		{"resigned by other key", func(r *receipt.Receipt) { _ = other.Sign(r, nil) }, s.PublicKey(), "not the expected"},
		{"bad signature hex", func(r *receipt.Receipt) { r.Signature = "zz" }, "", "128 hex digits"},
		{"bad txid", func(r *receipt.Receipt) { r.Txid = "abc" }, "", "txid must be 64 hex digits"},
		{"version", func(r *receipt.Receipt) { r.Version = 2 }, "", "version 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := *good
			tc.change(&r)
			err := receipt.Verify(&r, tc.pubkey)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestProofs(t *testing.T) {
	s := testSigner(t, "broker")
	for n := 0; n <= 17; n++ {
		shares := testShares(n)
		r := signed(t, s, shares)
		hashes := make([][32]byte, n)
		for i, sh := range shares {
			hashes[i] = sh.Hash
		}
		tree := receipt.NewTree(hashes)
		if n == 0 && r.MerkleRoot != strings.Repeat("00", 32) {
			t.Fatalf("empty root %s", r.MerkleRoot)
		}
		for _, sh := range shares {
			p, err := tree.Prove(sh.Hash)
			if err != nil {
				t.Fatal(err)
			}
			p.OrderID = r.OrderID
			data, _ := json.Marshal(p)
			back, err := receipt.ParseProof(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := receipt.VerifyProof(r, back); err != nil {
				t.Fatalf("n=%d index %d: %v", n, p.Index, err)
			}
		}
	}
}

func TestForgedProofs(t *testing.T) {
	s := testSigner(t, "broker")
	shares := testShares(6)
	r := signed(t, s, shares)
	hashes := [][32]byte{}
	for _, sh := range shares {
		hashes = append(hashes, sh.Hash)
	}
	p, err := receipt.NewTree(hashes).Prove(shares[2].Hash)
	if err != nil {
		t.Fatal(err)
	}
	outsider := sha256.Sum256([]byte("never submitted"))
	if _, err := receipt.NewTree(hashes).Prove(outsider); err == nil || !strings.Contains(err.Error(), "not among") {
		t.Fatalf("prove outsider: %v", err)
	}
	flip := func(h string) string {
		b, _ := hex.DecodeString(h)
		b[0] ^= 1
		return hex.EncodeToString(b)
	}
	for _, tc := range []struct {
		name   string
		change func(p *receipt.Proof)
		want   string
	}{
		{"other share", func(p *receipt.Proof) { p.Share = hex.EncodeToString(outsider[:]) }, "is not part of the receipt"},
		{"changed sibling", func(p *receipt.Proof) { p.Path[0] = flip(p.Path[0]) }, "is not part of the receipt"},
		{"changed index", func(p *receipt.Proof) { p.Index = 3 }, "is not part of the receipt"},
		{"short path", func(p *receipt.Proof) { p.Path = p.Path[:1] }, "too short"},
		{"long path", func(p *receipt.Proof) { p.Path = append(p.Path, p.Path[0]) }, "hashes, 3 expected"},
		{"leaf count", func(p *receipt.Proof) { p.Leaves = 7 }, "counts 7 shares"},
		{"index out of range", func(p *receipt.Proof) { p.Index = 6 }, "not below"},
		{"other order", func(p *receipt.Proof) { p.OrderID = "ord_x" }, "for order ord_x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := *p
			q.Path = append([]string(nil), p.Path...)
			tc.change(&q)
			err := receipt.VerifyProof(r, &q)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
