package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker/receipt"
	"github.com/proofow/powbroker/cmd/internal/cli"
)

// TestReceiptVerify: powbroker receipt verify accepts a good receipt and share proof,
// and rejects a changed field, another key and a forged proof with exit 1 and a reason;
// misuse exits 2.
func TestReceiptVerify(t *testing.T) {
	dir := t.TempDir()
	secret := sha256.Sum256([]byte("cli test key"))
	other := sha256.Sum256([]byte("another key"))
	s, _ := receipt.NewSigner(secret[:])
	o, _ := receipt.NewSigner(other[:])
	var shares []receipt.Share
	var hashes [][32]byte
	for i := range 5 {
		h := sha256.Sum256([]byte(fmt.Sprint("cli share ", i)))
		shares = append(shares, receipt.Share{Hash: h, Difficulty: 1, At: time.Unix(1_800_000_000+int64(i), 0)})
		hashes = append(hashes, h)
	}
	r := &receipt.Receipt{Network: "private", OrderID: "ord_cli", Txid: strings.Repeat("12", 32), State: "paid",
		RequiredWork: 5, CreditedWork: 5, IssuedAt: time.Unix(1_800_000_100, 0).UTC()}
	tree := r.Fill(shares)
	if err := s.Sign(r, nil); err != nil {
		t.Fatal(err)
	}
	write := func(name string, v any) string {
		b, _ := json.MarshalIndent(v, "", "  ")
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", r)
	changed := *r
	changed.CreditedWork = 50
	tampered := write("tampered.json", &changed)
	proof, _ := tree.Prove(hashes[3])
	proof.OrderID = r.OrderID
	goodProof := write("proof.json", proof)
	forged := *proof
	forged.Share = strings.Repeat("ee", 32)
	forgedProof := write("forged.json", &forged)

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"valid", []string{good}, 0, "receipt valid: order ord_cli"},
		{"valid with key and share", []string{good, "--pubkey", s.PublicKey(), "--share", goodProof}, 0, "is included (leaf"},
		{"json", []string{good, "--json"}, 0, `"valid":true`},
		{"changed field", []string{tampered}, 1, "NOT valid: the signature does not match"},
		{"wrong key", []string{good, "--pubkey", o.PublicKey()}, 1, "not the expected"},
		{"forged share proof", []string{good, "--share", forgedProof}, 1, "share proof " + forgedProof + " is NOT valid: share eeee"},
		{"bad pubkey", []string{good, "--pubkey", "abc"}, 2, "--pubkey"},
		{"missing file", []string{filepath.Join(dir, "nope.json")}, 2, "no such file"},
		{"no file", nil, 2, "accepts 1 arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			root := newRoot()
			root.SetOut(&out)
			code := cli.Run(root, append([]string{"receipt", "verify"}, tc.args...), &errb)
			text := out.String() + errb.String()
			if code != tc.code || !strings.Contains(text, tc.want) {
				t.Fatalf("exit %d (want %d), output %q (want %q)", code, tc.code, text, tc.want)
			}
			if tc.code != 0 && strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
				t.Fatalf("more than one line: %q", errb.String())
			}
		})
	}
}
