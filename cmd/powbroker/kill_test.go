package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/miner"
)

// TestKill9KeepsAcknowledgedShares: shares the daemon acknowledged over HTTP survive a
// kill -9 of the daemon: after a restart the order has every one of them credited.
func TestKill9KeepsAcknowledgedShares(t *testing.T) {
	pb, _ := binaries(t)
	dir := t.TempDir()
	args := []string{"--datadir", dir, "--net", "private", "--private-bits", "1e00ffff", "--http", "127.0.0.1:0", "--log-level", "warn"}
	proc, addr := startServe(t, pb, args...)
	var ready struct{ HTTP string }
	ready.HTTP = addr
	c, err := api.NewClient("http://" + ready.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f, err := c.Faucet(ctx, 1_000_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.CreateOrder(ctx, f.Tx, "")
	if err != nil {
		t.Fatal(err)
	}
	a := o.Assignment
	raw, _ := hex.DecodeString(a.Header)
	var h miner.Header
	copy(h[:], raw)
	share, _ := api.ParseDisplayTarget(a.ShareTarget)
	netT, _ := api.ParseDisplayTarget(a.NetworkTarget)
	var ns []api.ShareIn
	sctx, stop := context.WithCancel(ctx)
	_, _ = miner.Best().Scan(sctx, &h, a.NonceStart, a.NonceCount, &share, func(fd miner.Found) {
		if len(ns) < 12 && !netT.Meets(&fd.Hash) {
			ns = append(ns, api.ShareIn{AssignmentID: a.ID, Nonce: fd.Nonce})
			if len(ns) == 12 {
				stop()
			}
		}
	})
	stop()
	acked := 0
	for _, sh := range ns {
		r, err := c.SubmitShares(ctx, o.ID, o.Token, []api.ShareIn{sh})
		if err != nil || r.Accepted != 1 {
			t.Fatalf("share: %+v %v", r, err)
		}
		acked++
	}
	// kill -9 right after the last acknowledgement.
	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = proc.Wait()
	line, wait, errb := serveLine(t, pb, args...)
	if err := json.Unmarshal([]byte(line), &ready); err != nil {
		t.Fatalf("restart ready line %q: %v; %s", line, err, errb)
	}
	c, _ = api.NewClient("http://" + ready.HTTP)
	got, err := c.Order(ctx, o.ID, o.Token)
	if err != nil {
		t.Fatal(err)
	}
	if got.Shares != int64(acked) || got.CreditedWork != float64(acked)*a.ShareDifficulty {
		t.Fatalf("after kill -9: %d shares, %g work; acknowledged %d", got.Shares, got.CreditedWork, acked)
	}
	if code := wait(true); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}

// startServe runs serve and returns the process and its HTTP address; the process is
// killed at the end of the test if still running.
func startServe(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var ready struct {
		Ready bool   `json:"ready"`
		HTTP  string `json:"http"`
	}
	if err := json.NewDecoder(stdout).Decode(&ready); err != nil || !ready.Ready {
		t.Fatalf("no ready line: %v", err)
	}
	return cmd, ready.HTTP
}
