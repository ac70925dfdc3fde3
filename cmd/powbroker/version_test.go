package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestVersion: --version is one line and the version command lists the modules, for
// both binaries; a build with VCS stamping names the checked-out revision.
func TestVersion(t *testing.T) {
	pb, pm := binaries(t)
	for _, bin := range []string{pb, pm} {
		name := filepath.Base(bin)
		r := run(t, "", bin, "--version")
		if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(r.stdout, name+" ") || !strings.Contains(r.stdout, "go1.") {
			t.Fatalf("%s --version: %+v", name, r)
		}
		r = run(t, "", bin, "version", "--json")
		var info struct {
			Module string   `json:"module"`
			Deps   []string `json:"deps"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &info) != nil || info.Module != "github.com/proofow/powbroker" {
			t.Fatalf("%s version --json: %+v", name, r)
		}
		if name == "powbroker" && !slices.Contains(info.Deps, "github.com/btcsuite/btcd v0.24.2") {
			t.Fatalf("deps %v", info.Deps)
		}
		if r := run(t, "", bin, "version"); r.code != 0 || !strings.Contains(r.stdout, "\n  github.com/spf13/cobra v") {
			t.Fatalf("%s version: %+v", name, r)
		}
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout here (%v): the VCS revision check did not run", err)
	}
	stamped := filepath.Join(t.TempDir(), "powminer")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", stamped, "github.com/proofow/powbroker/cmd/powminer").CombinedOutput(); err != nil {
		t.Fatalf("build with VCS stamping: %v: %s", err, out)
	}
	r := run(t, "", stamped, "--version")
	gitDir, _ := exec.Command("git", "rev-parse", "--git-dir").Output()
	common, _ := exec.Command("git", "rev-parse", "--git-common-dir").Output()
	if strings.Contains(r.stdout, "no VCS revision") && string(gitDir) != string(common) {
		t.Skip("a git worktree: the go command records no VCS revision there, so the revision check did not run")
	}
	if rev := strings.TrimSpace(string(head))[:12]; !strings.Contains(r.stdout, "revision "+rev) {
		t.Fatalf("--version %q does not name revision %s", r.stdout, rev)
	}
}
