package embedded

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// The crash tests run the chain in a child process (this test binary, re-executed with
// crashChildEnv set), read what the child reports as done, kill it with SIGKILL and
// open the chain again in the test process.

const (
	crashChildEnv   = "EMBEDDED_CRASH_CHILD" // the data directory
	crashActionEnv  = "EMBEDDED_CRASH_ACTION"
	crashChildBits  = testBits
	crashChildNet   = "private"
	crashChildDelay = 20 * time.Millisecond
)

// crashReport is one line a child writes after something is done.
type crashReport struct {
	Height   int32  `json:"height"`
	Hash     string `json:"hash"`
	Txid     string `json:"txid,omitempty"`
	Reserved string `json:"reserved,omitempty"` // outpoint a faucet transaction spends
}

// TestCrashChild is the child's body; it does nothing unless crashChildEnv is set.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		return
	}
	ctx := context.Background()
	// A checkpoint every 3 blocks: kills land before, during and after checkpoints.
	c, err := Open(ctx, Config{DataDir: dir, Net: crashChildNet, PrivateBits: crashChildBits, Threads: 1, CheckpointBlocks: 3})
	if err != nil {
		fmt.Println(`{"error":` + fmt.Sprintf("%q", err.Error()) + `}`)
		os.Exit(3)
	}
	out := json.NewEncoder(os.Stdout)
	report := func(r crashReport) {
		tip := mustTip(t, c)
		r.Height, r.Hash = tip.Height, tip.Hash.String()
		if err := out.Encode(r); err != nil {
			os.Exit(4)
		}
	}
	report(crashReport{})
	switch os.Getenv(crashActionEnv) {
	case "idle":
	case "one-block":
		if _, err := c.Generate(ctx, 1, nil); err != nil {
			t.Fatal(err)
		}
		report(crashReport{})
	case "mine":
		for {
			if _, err := c.Generate(ctx, 1, nil); err != nil {
				t.Fatal(err)
			}
			report(crashReport{})
		}
	case "mempool":
		// A transaction in the mempool, a block that confirms another one, and a
		// reservation handed out last.
		mined := mustFaucet(t, c, 1e6, 0)
		if err := c.AcceptToMempool(ctx, mined); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Generate(ctx, 1, nil); err != nil {
			t.Fatal(err)
		}
		pooled := mustFaucet(t, c, 2e6, 0)
		if err := c.AcceptToMempool(ctx, pooled); err != nil {
			t.Fatal(err)
		}
		report(crashReport{Txid: pooled.TxHash().String()})
		handed := mustFaucet(t, c, 3e6, 0)
		report(crashReport{Reserved: handed.TxIn[0].PreviousOutPoint.String()})
	}
	time.Sleep(time.Hour)
}

// crashChild starts a child on dir doing action; it is killed at the end of the test.
func crashChild(t *testing.T, dir, action string) (*exec.Cmd, <-chan crashReport) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashActionEnv+"="+action)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	reports := make(chan crashReport, 1024)
	go func() {
		defer close(reports)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var r crashReport
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.Hash != "" {
				reports <- r
			}
		}
	}()
	return cmd, reports
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

func nextReport(t *testing.T, reports <-chan crashReport) crashReport {
	t.Helper()
	select {
	case r, ok := <-reports:
		if !ok {
			t.Fatal("the child ended without reporting")
		}
		return r
	case <-time.After(60 * time.Second):
		t.Fatal("no report from the child in 60 s")
	}
	panic("unreachable")
}

// openAfterCrash opens dir in the test process and checks that block hash is on its
// main chain at height.
func openAfterCrash(t *testing.T, dir string, r crashReport) *Chain {
	t.Helper()
	c, err := Open(context.Background(), Config{DataDir: dir, Net: crashChildNet, PrivateBits: crashChildBits, Threads: 1, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("open after kill -9: %v", err)
	}
	var want chainhash.Hash
	if err := chainhash.Decode(&want, r.Hash); err != nil {
		t.Fatal(err)
	}
	got, err := c.bc.BlockHashByHeight(r.Height)
	if err != nil || *got != want {
		tip := mustTip(t, c)
		c.Close()
		t.Fatalf("after kill -9: block at height %d is %v (%v), want %s; tip %s at %d", r.Height, got, err, want, tip.Hash, tip.Height)
	}
	return c
}

// TestKill9RightAfterBlock: a block reported as processed is the tip after kill -9.
func TestKill9RightAfterBlock(t *testing.T) {
	dir := t.TempDir()
	cmd, reports := crashChild(t, dir, "one-block")
	nextReport(t, reports)
	r := nextReport(t, reports)
	kill9(t, cmd)
	c := openAfterCrash(t, dir, r)
	defer c.Close()
	if tip := mustTip(t, c); tip.Height != r.Height || tip.Hash.String() != r.Hash {
		t.Fatalf("tip after kill -9 %s at %d, want %s at %d", tip.Hash, tip.Height, r.Hash, r.Height)
	}
}

// TestKill9Idle: a new chain killed right after Open (its first blocks mined) keeps
// them, and a second kill after a restart changes nothing either.
func TestKill9Idle(t *testing.T) {
	dir := t.TempDir()
	var first crashReport
	for i := 0; i < 2; i++ {
		cmd, reports := crashChild(t, dir, "idle")
		r := nextReport(t, reports)
		if i == 0 {
			first = r
		} else if r != first {
			t.Fatalf("restart %d came back at %+v, want %+v", i, r, first)
		}
		time.Sleep(time.Duration(i) * 300 * time.Millisecond)
		kill9(t, cmd)
	}
	c := openAfterCrash(t, dir, first)
	defer c.Close()
	if tip := mustTip(t, c); tip.Height != first.Height {
		t.Fatalf("tip height %d, want %d", tip.Height, first.Height)
	}
}

// TestKill9WhileMining kills a child that mines without pause at random moments, over
// several cycles on the same directory: every block it reported stays on the main
// chain, and each restart continues where the last one was.
func TestKill9WhileMining(t *testing.T) {
	dir := t.TempDir()
	var last crashReport
	for cycle := 0; cycle < 4; cycle++ {
		cmd, reports := crashChild(t, dir, "mine")
		start := nextReport(t, reports)
		if cycle > 0 && start.Height < last.Height {
			t.Fatalf("cycle %d: reopened at height %d below the last reported block at %d", cycle, start.Height, last.Height)
		}
		last = start
		deadline := time.After(time.Duration(200+rand.IntN(1000)) * time.Millisecond)
	read:
		for {
			select {
			case r := <-reports:
				last = r
			case <-deadline:
				break read
			}
		}
		kill9(t, cmd)
		for r := range reports { // reported before the kill
			last = r
		}
		t.Logf("cycle %d: killed after height %d", cycle, last.Height)
	}
	c := openAfterCrash(t, dir, last)
	c.Close()
}

// TestKill9KeepsMempoolAndReservations: a transaction accepted into the mempool is
// there after kill -9, and the faucet does not hand out a coin it handed out before.
func TestKill9KeepsMempoolAndReservations(t *testing.T) {
	dir := t.TempDir()
	cmd, reports := crashChild(t, dir, "mempool")
	nextReport(t, reports)
	pooled := nextReport(t, reports)
	handed := nextReport(t, reports)
	kill9(t, cmd)
	c := openAfterCrash(t, dir, pooled)
	defer c.Close()
	found := false
	for _, id := range c.MempoolTxids() {
		found = found || id.String() == pooled.Txid
	}
	if !found {
		t.Fatalf("mempool after kill -9: %v, want %s", c.MempoolTxids(), pooled.Txid)
	}
	for i := 0; i < 20; i++ {
		tx := mustFaucet(t, c, 1e6, 0)
		if op := tx.TxIn[0].PreviousOutPoint.String(); op == handed.Reserved {
			t.Fatalf("faucet handed out %s again after kill -9", op)
		}
	}
	// The mempool transaction is mined by the next block and its input is spent.
	if _, err := c.Generate(context.Background(), 1, nil); err != nil {
		t.Fatal(err)
	}
	if len(c.MempoolTxids()) != 0 {
		t.Fatalf("mempool after a block: %v", c.MempoolTxids())
	}
}
