package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/proofow/powbroker/broker"
)

// The crash test re-executes the test binary as a child process that records shares and
// prints each acknowledged share's hash; the parent SIGKILLs it mid-stream.
const (
	crashChildEnv = "POWBROKER_STORE_CRASH_CHILD" // database path
	crashRoundEnv = "POWBROKER_STORE_CRASH_ROUND"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path, os.Getenv(crashRoundEnv)))
	}
	os.Exit(m.Run())
}

// crashOrders are the orders of the crash test and their required work: some become paid
// during a run, others never do.
var crashOrders = []struct {
	id       string
	required float64
}{
	{"c0", 40}, {"c1", 150}, {"c2", 400}, {"c3", 900}, {"c4", 1e9}, {"c5", 1e9},
}

// crashDifficulties are exact binary fractions, so sums do not depend on their order.
var crashDifficulties = []float64{0.25, 1, 2, 0.5, 4}

func crashChild(path, round string) int {
	ctx := context.Background()
	s, err := Open(ctx, path, Options{Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 2
	}
	var (
		out sync.Mutex
		wg  sync.WaitGroup
	)
	deadline := time.Now().Add(60 * time.Second) // never outlive a broken parent for long
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev [32]byte
			for i := 0; time.Now().Before(deadline); i++ {
				h := hashOf("crash", round, w, i)
				if i%7 == 6 {
					h = prev // a duplicate now and then
				}
				prev = h
				sh := &broker.Share{HeaderHash: h, OrderID: crashOrders[(w+i)%len(crashOrders)].id,
					Difficulty: crashDifficulties[(w*3+i)%len(crashDifficulties)], Worker: "crash", Nonce: uint32(i)}
				if _, err := record(ctx, s, sh); err != nil {
					fmt.Fprintln(os.Stderr, "child record:", err)
					os.Exit(3)
				}
				line := hex.EncodeToString(h[:]) + "\n"
				out.Lock()
				os.Stdout.WriteString(line) // unbuffered: the ack leaves the process now
				out.Unlock()
			}
		}()
	}
	wg.Wait()
	return 4
}

func TestCrashDurability(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crash.db")
	s := openTest(t, path, Options{})
	for _, o := range crashOrders {
		mustCreate(t, s, testOrder(o.id, o.required))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	acked := map[[32]byte]bool{}
	for round := 0; round < 3; round++ {
		killAfter := 300 + 250*round
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashRoundEnv+"="+strconv.Itoa(round))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n, killed := 0, false
		for sc.Scan() {
			line := sc.Text()
			b, err := hex.DecodeString(line)
			if err != nil || len(b) != 32 {
				t.Fatalf("round %d: bad ack line %q", round, line)
			}
			acked[[32]byte(b)] = true
			n++
			if n == killAfter && !killed {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child did not die of SIGKILL: %v; stderr:\n%s", round, err, stderr.String())
		}
		if n < killAfter {
			t.Fatalf("round %d: only %d acks before the child ended", round, n)
		}
		t.Logf("round %d: %d acks read, killed after %d", round, n, killAfter)

		s := openTest(t, path, Options{})
		for h := range acked {
			if _, err := s.Share(ctx, h); err != nil {
				t.Fatalf("round %d: acknowledged share %x lost: %v", round, h, err)
			}
		}
		checkOrdersConsistent(t, s, round)
		if round == 2 {
			if o, _ := s.Order(ctx, "c0"); o.State != broker.StatePaid {
				t.Errorf("order c0 never became paid: %+v", o)
			}
			if o, _ := s.Order(ctx, "c5"); o.State != broker.StateWorking {
				t.Errorf("order c5 is not working: %+v", o)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// checkOrdersConsistent verifies that every order's counters equal its stored shares and
// that its state and paid event agree with its credited work.
func checkOrdersConsistent(t *testing.T, s *Store, round int) {
	t.Helper()
	ctx := context.Background()
	var total int64
	for _, c := range crashOrders {
		o, err := s.Order(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		var (
			sum float64
			cnt int64
		)
		if err := s.rdb.QueryRow(`SELECT COALESCE(SUM(difficulty), 0), count(*) FROM shares WHERE order_id = ?`,
			c.id).Scan(&sum, &cnt); err != nil {
			t.Fatal(err)
		}
		if sum != o.CreditedWork || cnt != o.Shares {
			t.Fatalf("round %d: order %s credited %v over %d shares, but its shares sum to %v over %d",
				round, c.id, o.CreditedWork, o.Shares, sum, cnt)
		}
		ev, err := s.Events(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		paidEvents := 0
		for _, e := range ev {
			if e.To == broker.StatePaid {
				paidEvents++
			}
		}
		wantPaid := o.CreditedWork >= o.RequiredWork
		if wantPaid != (o.State == broker.StatePaid) || wantPaid != (paidEvents == 1) || paidEvents > 1 ||
			wantPaid == o.PaidAt.IsZero() {
			t.Fatalf("round %d: order %s credited %v of %v is %s with %d paid events, paid at %v",
				round, c.id, o.CreditedWork, o.RequiredWork, o.State, paidEvents, o.PaidAt)
		}
		total += cnt
	}
	var rows int64
	if err := s.rdb.QueryRow(`SELECT count(*) FROM shares`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ShareStats(ctx); err != nil || n != rows || rows != total {
		t.Fatalf("round %d: ShareStats %d, %v; %d share rows; %d per orders", round, n, err, rows, total)
	}
}
