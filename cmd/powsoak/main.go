// Command powsoak is powbroker's kill -9 soak: it runs the real daemon (powbroker serve,
// embedded private chain, Stratum and HTTP) under load from real miners (powminer
// stratum and powminer api processes, one order each, a new order when one completes),
// kills the daemon with SIGKILL at random moments and starts it again on the same data
// directory and ports. After each restart it checks, against what the miners were told
// (each miner writes the pool's answer to every share to its --share-log):
//
//   - every share acknowledged as accepted is in the store, once, for its order;
//   - no order is half-updated: its share count and credited work agree with its
//     stored shares, its events form one chain ending at its state, a working order has
//     less work than it needs, a mined order names a block the broker found;
//   - every block the broker counted as found before the kill is on the main chain of
//     the chain as it was left by the kill (a copy of the chain directory, opened and
//     recovered here).
//
// After the last cycle the miners finish their orders, one more block is mined for the
// orders still waiting for one, the daemon is stopped cleanly and everything is
// checked again on the final data directory: every order must be mined. powsoak
// prints one line per cycle and a summary (--json: one JSON object) and exits 0 only
// when nothing was lost, 1 otherwise, 2 for bad usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	opt, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "powsoak:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := run(ctx, opt)
	if err != nil && sum != nil {
		sum.problem("the soak stopped: %v", err)
	}
	if sum != nil {
		sum.print(os.Stdout, opt.json)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "powsoak:", err)
		os.Exit(1)
	}
	if len(sum.Problems) > 0 {
		os.Exit(1)
	}
}

// options are powsoak's flags.
type options struct {
	powbroker, powminer string
	dir                 string
	cycles              int
	stratumSessions     int
	apiSessions         int
	minUp, maxUp        time.Duration
	shareDiff           float64
	orderShares         int
	bits                string
	seed                uint64
	json                bool
	verbose             bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("powsoak", flag.ContinueOnError)
	fs.StringVar(&o.powbroker, "powbroker", "", "powbroker binary (default: next to powsoak, else on PATH)")
	fs.StringVar(&o.powminer, "powminer", "", "powminer binary (default: next to powsoak, else on PATH)")
	fs.StringVar(&o.dir, "dir", "", "working directory: datadir, config, share logs (default: a new temporary directory, removed when all is well)")
	fs.IntVar(&o.cycles, "cycles", 5, "kill -9 and restart cycles")
	fs.IntVar(&o.stratumSessions, "stratum-sessions", 6, "powminer stratum processes at once")
	fs.IntVar(&o.apiSessions, "api-sessions", 2, "powminer api processes at once")
	fs.DurationVar(&o.minUp, "min-up", 2*time.Second, "shortest time the daemon runs before a kill")
	fs.DurationVar(&o.maxUp, "max-up", 6*time.Second, "longest time the daemon runs before a kill")
	fs.Float64Var(&o.shareDiff, "share-difficulty", 1.0/(1<<24), "share difficulty over Stratum and HTTP (1/2^24: 256 hashes a share)")
	fs.IntVar(&o.orderShares, "order-shares", 5000, "shares an order needs (its price is this many shares)")
	fs.StringVar(&o.bits, "private-bits", "1e0fffff", "difficulty of the private chain (1e0fffff: about 2^20 hashes, 4096 shares of 1/2^24, a block)")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed for the kill moments (0: from the clock)")
	fs.BoolVar(&o.json, "json", false, "print the summary as one JSON object")
	fs.BoolVar(&o.verbose, "v", false, "log what happens to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.cycles < 1:
		return o, fmt.Errorf("--cycles must be at least 1")
	case o.stratumSessions < 0 || o.apiSessions < 0 || o.stratumSessions+o.apiSessions == 0:
		return o, fmt.Errorf("--stratum-sessions and --api-sessions must not be negative, and not both 0")
	case o.minUp <= 0 || o.maxUp < o.minUp:
		return o, fmt.Errorf("--min-up must be positive and --max-up at least --min-up")
	case !(o.shareDiff > 0) || o.shareDiff > 1:
		return o, fmt.Errorf("--share-difficulty must be in (0, 1]")
	case o.orderShares < 1:
		return o, fmt.Errorf("--order-shares must be at least 1")
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	var err error
	if o.powbroker, err = findBinary(o.powbroker, "powbroker"); err != nil {
		return o, err
	}
	if o.powminer, err = findBinary(o.powminer, "powminer"); err != nil {
		return o, err
	}
	return o, nil
}

// findBinary returns flag, else name next to this executable, else name on PATH.
func findBinary(flag, name string) (string, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", fmt.Errorf("--%s: %w", name, err)
		}
		return flag, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := execLookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no %s binary next to powsoak or on PATH (build it, or pass --%s)", name, name)
}
