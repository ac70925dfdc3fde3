package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/broker/stratumpool"
	"github.com/proofow/powbroker/cmd/internal/apiworker"
	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/proofow/powbroker/miner"
	"github.com/proofow/powbroker/stratum"
	"github.com/spf13/cobra"
)

// demoResult is the --json output.
type demoResult struct {
	Network        string           `json:"network"`
	Orders         []demoOrder      `json:"orders"`
	Blocks         []demoBlock      `json:"blocks"`
	SharesAccepted int64            `json:"shares_accepted"`
	SharesRejected int64            `json:"shares_rejected"`
	RejectedBy     map[string]int64 `json:"shares_rejected_by_type"`
	Seconds        float64          `json:"seconds"`
}

type demoOrder struct {
	ID           string     `json:"id"`
	Txid         string     `json:"txid"`
	State        string     `json:"state"`
	RequiredWork float64    `json:"required_work"`
	CreditedWork float64    `json:"credited_work"`
	Shares       int64      `json:"shares"`
	PaidAt       *time.Time `json:"paid_at"`
	MinedAt      *time.Time `json:"mined_at"`
	BlockHash    string     `json:"block_hash"`
	Height       int32      `json:"height"`
	Fee          int64      `json:"fee"`
}

type demoBlock struct {
	Hash   string   `json:"hash"`
	Height int32    `json:"height"`
	Txids  []string `json:"txids"`
}

func newDemoCmd() *cobra.Command {
	var (
		asJSON   bool
		netName  string
		bits     string
		verbose  bool
		timeout  time.Duration
		kernel   string
		maxUsers int
		overStr  bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole loop on a fresh embedded chain: faucet, orders over HTTP, workers, blocks",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if netName != "private" && netName != "regtest" {
				return cli.Usagef("--net must be private or regtest, not %q", netName)
			}
			k, err := cli.Kernel(kernel)
			if err != nil {
				return err
			}
			if maxUsers < 3 || maxUsers > 200 {
				return cli.Usagef("--max-orders must be between 3 and 200")
			}
			level := "error"
			if verbose {
				level = "info"
			}
			d := &demo{
				out: cmd.OutOrStdout(), quiet: asJSON, net: netName, kernel: k, maxOrders: maxUsers, overStratum: overStr,
				log: newLogger(level, "text", os.Stderr),
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, err := d.run(ctx, bits)
			if res != nil && asJSON {
				if perr := printJSON(cmd.OutOrStdout(), res); perr != nil {
					return perr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object at the end instead of the story")
	f.StringVar(&netName, "net", "private", "private (blocks rarer than shares) or regtest (every share is a block)")
	f.StringVar(&bits, "private-bits", "", "fixed difficulty of the private network, compact hex (default 1d3fffff)")
	f.BoolVar(&verbose, "verbose", false, "show the daemon's logs on stderr")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	cli.KernelFlag(cmd, &kernel)
	f.IntVar(&maxUsers, "max-orders", 150, "most orders the demo submits while waiting for blocks")
	f.BoolVar(&overStr, "stratum", false, "run the workers over Stratum v1 instead of the HTTP API")
	return cmd
}

type demo struct {
	out       io.Writer
	quiet     bool
	net       string
	kernel    miner.Kernel
	maxOrders int
	log       *slog.Logger
	// overStratum runs the workers over Stratum; stratumAddr is the daemon's listener.
	overStratum bool
	stratumAddr string
}

func (d *demo) sayf(format string, args ...any) {
	if !d.quiet {
		fmt.Fprintf(d.out, format+"\n", args...)
	}
}

type demoUser struct {
	id, token, txid string
	fee             int64
	threads         int
	last            *api.Order
	paidFirst       bool
}

type demoEvent struct {
	user  *demoUser
	order *api.Order
	done  bool // the follower ended (order mined or final)
	err   error
}

// demoRun is the state of one demo: the daemon, its client, the users and what they
// reached so far.
type demoRun struct {
	*demo
	start      time.Time
	daemon     *daemon
	daemonDone chan error
	c          *api.Client
	events     chan demoEvent
	users      []*demoUser
	working    int // orders still working
	mined      int
	paidFirst  int // orders paid by shares before their block
	seenBlocks map[string]bool
}

func (d *demo) run(ctx context.Context, bits string) (*demoResult, error) {
	r := &demoRun{demo: d, start: time.Now(), events: make(chan demoEvent, 256), seenBlocks: map[string]bool{}}
	dir, err := os.MkdirTemp("", "powbroker-demo-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	stop, err := r.startDaemon(ctx, dir, bits)
	if err != nil {
		return nil, err
	}
	defer stop()
	// Three users arrive at once and work side by side.
	for range 3 {
		if err := r.addUser(ctx, 1); err != nil {
			return nil, err
		}
	}
	if err := r.loop(ctx); err != nil {
		return r.result(ctx), err
	}
	res := r.result(ctx)
	if err := r.checkChain(ctx, res); err != nil {
		return res, err
	}
	d.sayf("done in %.1f s: %d orders mined in %d blocks the chain accepted; %d paid by shares before their block was found; %d shares accepted, %d rejected%s",
		res.Seconds, len(res.Orders), len(res.Blocks), r.paidFirst, res.SharesAccepted, res.SharesRejected, rejectedText(res.RejectedBy))
	return res, nil
}

// rejectedText lists rejects by type: " (stale-job 3, duplicate-share 1)", or "".
func rejectedText(by map[string]int64) string {
	if len(by) == 0 {
		return ""
	}
	kinds := make([]string, 0, len(by))
	for k := range by {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, by[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// startDaemon opens a daemon on a fresh datadir and runs it; stop ends it.
func (r *demoRun) startDaemon(ctx context.Context, dir, bits string) (stop func(), err error) {
	d := r.demo
	d.sayf("powbroker demo: a fresh %s chain in %s (kernel %s)", d.net, dir, d.kernel.Name())
	dcfg := daemonConfig{DataDir: dir, Net: d.net, HTTP: "127.0.0.1:0", PrivateBits: bits}
	if d.overStratum {
		dcfg.Stratum = "127.0.0.1:0"
	}
	dm, err := openDaemon(ctx, dcfg, d.log)
	if err != nil {
		return nil, err
	}
	r.daemon = dm
	if d.stratumAddr = dm.stratumAddr(); d.stratumAddr != "" {
		d.sayf("workers mine over Stratum v1 at stratum+tcp://%s", d.stratumAddr)
	}
	runCtx, stopDaemon := context.WithCancel(ctx)
	r.daemonDone = make(chan error, 1)
	go func() { r.daemonDone <- dm.run(runCtx) }()
	stop = func() { stopDaemon(); <-r.daemonDone; dm.close() }
	if r.c, err = api.NewClient("http://" + dm.addr()); err != nil {
		stop()
		return nil, err
	}
	st, err := r.c.Status(ctx)
	if err != nil {
		stop()
		return nil, err
	}
	d.sayf("daemon ready: HTTP API on %s, chain at height %d, network difficulty %.4g (~%.3g hashes per block), share difficulty %.4g",
		dm.addr(), st.TipHeight, st.NetworkDifficulty, st.NetworkDifficulty*4294967296, st.ShareDifficulty)
	return stop, nil
}

// addUser takes coins from the faucet, orders their transaction and starts a worker.
func (r *demoRun) addUser(ctx context.Context, threads int) error {
	fees := []int64{0, 1000, 5000}
	n := len(r.users)
	fee := fees[n%len(fees)]
	f, err := r.c.Faucet(ctx, int64(1_000_000+n*1_000), fee)
	if err != nil {
		return fmt.Errorf("faucet: %w", err)
	}
	o, err := r.c.CreateOrder(ctx, f.Tx, fmt.Sprintf("demo-user-%d", n))
	if err != nil {
		return fmt.Errorf("submit order: %w", err)
	}
	u := &demoUser{id: o.ID, token: o.Token, txid: o.Order.Txid, fee: fee, last: o.Order, threads: threads}
	r.users = append(r.users, u)
	r.working++
	r.sayf("user %d: faucet tx %s (fee %d sat) -> order %s, %.6g work units (~%.3g hashes)",
		n+1, short(u.txid), fee, u.id, o.RequiredWork, o.RequiredWork*4294967296)
	go r.work(ctx, r.c, u, r.events)
	return nil
}

// loop follows the users' orders until every one is mined, adding users while paid
// orders wait for a block and nobody works.
func (r *demoRun) loop(ctx context.Context) error {
	for {
		if r.mined == len(r.users) && (r.paidFirst > 0 || r.net == "regtest") {
			return nil
		}
		waiting := len(r.users) - r.mined - r.working // paid, waiting for a block
		if waiting > 0 && r.working == 0 && len(r.users) >= r.maxOrders {
			return fmt.Errorf("no block after %d orders (%d mined); raise --max-orders", len(r.users), r.mined)
		}
		if waiting > 0 && r.working == 0 && len(r.users) < r.maxOrders && r.ordersWaiting(ctx, r.c) {
			// Pooled mining: blocks are found by the work of every user. While paid
			// orders wait for their block and nobody works, the next user arrives; it
			// works alone with every core, on a job that carries every order so far,
			// so the block it finds mines them all.
			if err := r.addUser(ctx, runtime.NumCPU()); err != nil {
				return err
			}
		}
		var ev demoEvent
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo did not finish: %w (%d of %d orders mined)", ctx.Err(), r.mined, len(r.users))
		case err := <-r.daemonDone:
			r.daemonDone <- err // for stop
			return fmt.Errorf("daemon stopped: %v", err)
		case ev = <-r.events:
		}
		if err := r.handle(ctx, ev); err != nil {
			return err
		}
	}
}

// handle applies one follower event.
func (r *demoRun) handle(ctx context.Context, ev demoEvent) error {
	u := ev.user
	if ev.err != nil {
		return fmt.Errorf("order %s: %w", u.id, ev.err)
	}
	prev, o := u.last, ev.order
	u.last = o
	if prev.State == "working" && o.State != "working" {
		r.working--
	}
	if prev.State == o.State {
		return nil
	}
	switch o.State {
	case "paid":
		r.sayf("order %s paid: %.6g of %.6g work units in %d shares; its transaction waits in the pooled template", u.id, o.CreditedWork, o.RequiredWork, o.Shares)
	case "mined", "confirmed":
		r.mined++
		if o.PaidAt != nil && o.MinedAt != nil && !o.PaidAt.After(*o.MinedAt) {
			u.paidFirst = true
			r.paidFirst++
		}
		if blocks, err := r.c.Blocks(ctx); err == nil {
			for _, b := range blocks {
				if !r.seenBlocks[b.Hash] && b.Accepted {
					r.seenBlocks[b.Hash] = true
					r.sayf("block %s found at height %d with %d transactions", b.Hash, b.Height, len(b.Txids))
				}
			}
		}
		r.sayf("order %s mined in block %s at height %d (state was %s)", u.id, short(o.BlockHash), o.Height, prev.State)
	default:
		msg := fmt.Sprintf("order %s ended %s", u.id, o.State)
		if o.Reason != "" {
			msg += ": " + o.Reason
		}
		return errors.New(msg)
	}
	return nil
}

// checkChain checks against the chain itself: every order's transaction is in an
// accepted block of the main chain.
func (r *demoRun) checkChain(ctx context.Context, res *demoResult) error {
	for _, o := range res.Orders {
		var bh, txid chainhash.Hash
		if err := chainhash.Decode(&bh, o.BlockHash); err != nil {
			return fmt.Errorf("order %s has no block", o.ID)
		}
		if err := chainhash.Decode(&txid, o.Txid); err != nil {
			return err
		}
		ts, err := r.daemon.chain.TxStatus(ctx, txid, bh)
		if err != nil || !ts.Confirmed {
			return fmt.Errorf("order %s: transaction %s is not in the chain's main chain (%v)", o.ID, o.Txid, err)
		}
	}
	return nil
}

func (r *demoRun) result(ctx context.Context) *demoResult {
	return r.demo.result(ctx, r.c, r.users, r.start)
}

// work runs a worker for the user's order through the HTTP API, then follows the
// order until it is mined or final.
func (d *demo) work(ctx context.Context, c *api.Client, u *demoUser, events chan<- demoEvent) {
	if d.stratumAddr != "" {
		d.workStratum(ctx, c, u, events)
		return
	}
	lastShares := int64(0)
	_, _, err := apiworker.Run(ctx, apiworker.Options{
		Client: c, OrderID: u.id, Token: u.token, Kernel: d.kernel, Threads: u.threads,
		PostInterval: 300 * time.Millisecond,
		OnPost: func(r *api.SharesResponse) {
			if r.Order != nil && r.Order.Shares != lastShares && r.Order.State == "working" {
				lastShares = r.Order.Shares
				d.sayf("  %s: %d shares, %.6g/%.6g work (%.0f%%)", u.id, r.Order.Shares, r.Order.CreditedWork, r.Order.RequiredWork, 100*r.Order.Progress)
			}
		},
	})
	if err != nil && ctx.Err() == nil {
		events <- demoEvent{user: u, err: fmt.Errorf("worker: %w", err)}
		return
	}
	d.follow(ctx, c, u, events)
}

// workStratum mines for the user's order over Stratum (the order token is the worker
// name) until the broker says the order is complete, then follows the order.
func (d *demo) workStratum(ctx context.Context, c *api.Client, u *demoUser, events chan<- demoEvent) {
	st, err := stratum.Mine(ctx, stratum.MinerOptions{
		URL: "stratum+tcp://" + d.stratumAddr, User: u.token + ".demo", Kernel: d.kernel, Threads: u.threads,
		Logger: d.log, Stop: stratumpool.StopOnOrder,
	})
	if err != nil && ctx.Err() == nil {
		events <- demoEvent{user: u, err: fmt.Errorf("stratum worker: %w", err)}
		return
	}
	d.sayf("  %s: stratum worker done: %d shares accepted at difficulty %.4g", u.id, st.Accepted, st.Difficulty)
	d.follow(ctx, c, u, events)
}

// follow waits for the order's state changes until it is mined or final.
func (d *demo) follow(ctx context.Context, c *api.Client, u *demoUser, events chan<- demoEvent) {
	state := "working"
	for ctx.Err() == nil {
		// Read first, then long-poll: a change that happened before the poll started
		// must not wait for the next one.
		o, err := c.Order(ctx, u.id, u.token)
		if err == nil && o.State == state {
			var changed bool
			if o2, ch, werr := c.WaitOrderSince(ctx, u.id, u.token, o.ETag, 10*time.Second); werr != nil {
				err = werr
			} else if changed = ch; changed {
				o = o2
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				events <- demoEvent{user: u, err: err}
			}
			return
		}
		if o.State != state {
			state = o.State
			events <- demoEvent{user: u, order: o}
		}
		if o.State != "working" && o.State != "paid" {
			return
		}
	}
}

func (d *demo) result(ctx context.Context, c *api.Client, users []*demoUser, start time.Time) *demoResult {
	res := &demoResult{Network: d.net, Orders: []demoOrder{}, Blocks: []demoBlock{}}
	for _, u := range users {
		o, err := c.Order(context.WithoutCancel(ctx), u.id, u.token)
		if err != nil {
			o = u.last
		}
		res.Orders = append(res.Orders, demoOrder{
			ID: o.ID, Txid: o.Txid, State: o.State, RequiredWork: o.RequiredWork, CreditedWork: o.CreditedWork,
			Shares: o.Shares, PaidAt: o.PaidAt, MinedAt: o.MinedAt, BlockHash: o.BlockHash, Height: o.Height, Fee: o.Fee,
		})
	}
	if blocks, err := c.Blocks(context.WithoutCancel(ctx)); err == nil {
		for _, b := range blocks {
			if b.Accepted {
				res.Blocks = append(res.Blocks, demoBlock{Hash: b.Hash, Height: b.Height, Txids: b.Txids})
			}
		}
	}
	sort.Slice(res.Blocks, func(i, j int) bool { return res.Blocks[i].Height < res.Blocks[j].Height })
	if st, err := c.Status(context.WithoutCancel(ctx)); err == nil {
		res.SharesAccepted, res.SharesRejected, res.RejectedBy = st.SharesAccepted, st.SharesRejected, st.RejectedBy
	}
	res.Seconds = time.Since(start).Seconds()
	return res
}

// ordersWaiting asks the broker whether paid orders still wait for a block; the demo's
// own count can lag behind a block that was just found.
func (d *demo) ordersWaiting(ctx context.Context, c *api.Client) bool {
	for range 5 {
		st, err := c.Status(ctx)
		if err != nil {
			return true
		}
		if st.Orders["paid"] == 0 {
			return false
		}
		if st.Orders["working"] == 0 {
			// Give a block found by the last post a moment to be processed.
			time.Sleep(20 * time.Millisecond)
			continue
		}
		return true
	}
	return true
}
