package miner

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedAssembly regenerates kernels_amd64.s and compares it with the committed
// file, so the generator and its output cannot drift apart.
func TestGeneratedAssembly(t *testing.T) {
	out := filepath.Join(t.TempDir(), "kernels_amd64.s")
	cmd := exec.Command("go", "run", "./internal/asmgen", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/asmgen: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("kernels_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("kernels_amd64.s is stale: run go generate ./miner")
	}
}
