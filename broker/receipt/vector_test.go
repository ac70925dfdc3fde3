package receipt_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/broker/receipt"
)

// TestREADMEVector checks the README's test vector: the receipt verifies, its message
// hash is the one printed, signing it again with the printed key (and zero auxiliary
// randomness) gives the same signature, the merkle root is built from the three
// listed shares, and the proof holds.
func TestREADMEVector(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inline := func(name string) string {
		m := regexp.MustCompile("<!-- receipt-vector:" + name + " -->`([0-9a-f]{64})`").FindSubmatch(readme)
		if m == nil {
			t.Fatalf("README has no receipt-vector:%s", name)
		}
		return string(m[1])
	}
	block := func(name string) []byte {
		m := regexp.MustCompile("(?s)<!-- receipt-vector:" + name + " -->\n```json\n(.*?)\n```").FindSubmatch(readme)
		if m == nil {
			t.Fatalf("README has no receipt-vector:%s block", name)
		}
		return m[1]
	}
	r, err := receipt.Parse(block("receipt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := receipt.Verify(r, r.PublicKey); err != nil {
		t.Fatalf("README receipt: %v", err)
	}
	msg, _ := r.Message()
	if got := hex.EncodeToString(msg[:]); got != inline("message") {
		t.Fatalf("message %s, README says %s", got, inline("message"))
	}
	secret, _ := hex.DecodeString(inline("secret"))
	s, err := receipt.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	again := *r
	var aux [32]byte
	if err := s.Sign(&again, &aux); err != nil {
		t.Fatal(err)
	}
	if again.Signature != r.Signature || again.PublicKey != r.PublicKey {
		t.Fatalf("re-signed: %s by %s, README: %s by %s", again.Signature, again.PublicKey, r.Signature, r.PublicKey)
	}
	var hashes [][32]byte
	for i := range 3 {
		hashes = append(hashes, sha256.Sum256([]byte(fmt.Sprint("share ", i))))
	}
	root := receipt.NewTree(hashes).Root()
	if hex.EncodeToString(root[:]) != r.MerkleRoot {
		t.Fatalf("root of the listed shares %x, README %s", root, r.MerkleRoot)
	}
	p, err := receipt.ParseProof(block("proof"))
	if err != nil {
		t.Fatal(err)
	}
	if want := chainhash.Hash(hashes[0]).String(); p.Share != want {
		t.Fatalf("proof is for %s, the README says SHA256(\"share 0\") = %s", p.Share, want)
	}
	if err := receipt.VerifyProof(r, p); err != nil {
		t.Fatalf("README proof: %v", err)
	}
	// The JSON in the README is exactly what the package writes.
	out, _ := json.MarshalIndent(r, "", "  ")
	if !bytes.Equal(out, block("receipt")) {
		t.Fatalf("README receipt differs from its encoding:\n%s", out)
	}
}
