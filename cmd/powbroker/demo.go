package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
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

func (d *demo) run(ctx context.Context, bits string) (*demoResult, error) {
	start := time.Now()
	dir, err := os.MkdirTemp("", "powbroker-demo-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	logger := d.log
	d.sayf("powbroker demo: a fresh %s chain in %s (kernel %s)", d.net, dir, d.kernel.Name())
	dcfg := daemonConfig{DataDir: dir, Net: d.net, HTTP: "127.0.0.1:0", PrivateBits: bits}
	if d.overStratum {
		dcfg.Stratum = "127.0.0.1:0"
	}
	daemon, err := openDaemon(ctx, dcfg, logger)
	if err != nil {
		return nil, err
	}
	if d.stratumAddr = daemon.stratumAddr(); d.stratumAddr != "" {
		d.sayf("workers mine over Stratum v1 at stratum+tcp://%s", d.stratumAddr)
	}
	defer daemon.close()
	runCtx, stopDaemon := context.WithCancel(ctx)
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- daemon.run(runCtx) }()
	defer func() { stopDaemon(); <-daemonDone }()

	c, err := api.NewClient("http://" + daemon.addr())
	if err != nil {
		return nil, err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	d.sayf("daemon ready: HTTP API on %s, chain at height %d, network difficulty %.4g (~%.3g hashes per block), share difficulty %.4g",
		daemon.addr(), st.TipHeight, st.NetworkDifficulty, st.NetworkDifficulty*4294967296, st.ShareDifficulty)

	events := make(chan demoEvent, 256)
	var users []*demoUser
	working := 0
	fees := []int64{0, 1000, 5000}
	addUser := func(threads int) error {
		n := len(users)
		fee := fees[n%len(fees)]
		f, err := c.Faucet(ctx, int64(1_000_000+n*1_000), fee)
		if err != nil {
			return fmt.Errorf("faucet: %w", err)
		}
		r, err := c.CreateOrder(ctx, f.Tx, fmt.Sprintf("demo-user-%d", n))
		if err != nil {
			return fmt.Errorf("submit order: %w", err)
		}
		u := &demoUser{id: r.ID, token: r.Token, txid: r.Order.Txid, fee: fee, last: r.Order, threads: threads}
		users = append(users, u)
		working++
		d.sayf("user %d: faucet tx %s (fee %d sat) -> order %s, %.6g work units (~%.3g hashes)",
			n+1, short(u.txid), fee, u.id, r.RequiredWork, r.RequiredWork*4294967296)
		go d.work(ctx, c, u, events)
		return nil
	}
	// Three users arrive at once and work side by side.
	for range 3 {
		if err := addUser(1); err != nil {
			return nil, err
		}
	}
	seenBlocks := map[string]bool{}
	mined := 0
	paidFirst := 0
	for {
		if mined == len(users) && (paidFirst > 0 || d.net == "regtest") {
			break
		}
		waiting := len(users) - mined - working // paid, waiting for a block
		if waiting > 0 && working == 0 && len(users) >= d.maxOrders {
			return d.result(ctx, c, users, start), fmt.Errorf("no block after %d orders (%d mined); raise --max-orders", len(users), mined)
		}
		if waiting > 0 && working == 0 && len(users) < d.maxOrders && d.ordersWaiting(ctx, c) {
			// Pooled mining: blocks are found by the work of every user. While paid
			// orders wait for their block and nobody works, the next user arrives; it
			// works alone with every core, on a job that carries every order so far,
			// so the block it finds mines them all.
			if err := addUser(runtime.NumCPU()); err != nil {
				return nil, err
			}
		}
		var ev demoEvent
		select {
		case <-ctx.Done():
			return d.result(ctx, c, users, start), fmt.Errorf("demo did not finish: %w (%d of %d orders mined)", ctx.Err(), mined, len(users))
		case err := <-daemonDone:
			return nil, fmt.Errorf("daemon stopped: %v", err)
		case ev = <-events:
		}
		u := ev.user
		if ev.err != nil {
			return d.result(ctx, c, users, start), fmt.Errorf("order %s: %w", u.id, ev.err)
		}
		prev := u.last
		u.last = ev.order
		o := ev.order
		if prev.State == "working" && o.State != "working" {
			working--
		}
		if prev.State != o.State {
			switch o.State {
			case "paid":
				d.sayf("order %s paid: %.6g of %.6g work units in %d shares; its transaction waits in the pooled template", u.id, o.CreditedWork, o.RequiredWork, o.Shares)
			case "mined", "confirmed":
				mined++
				if o.PaidAt != nil && o.MinedAt != nil && !o.PaidAt.After(*o.MinedAt) {
					u.paidFirst = true
					paidFirst++
				}
				blocks, err := c.Blocks(ctx)
				if err == nil {
					for _, b := range blocks {
						if !seenBlocks[b.Hash] && b.Accepted {
							seenBlocks[b.Hash] = true
							d.sayf("block %s found at height %d with %d transactions", b.Hash, b.Height, len(b.Txids))
						}
					}
				}
				d.sayf("order %s mined in block %s at height %d (state was %s)", u.id, short(o.BlockHash), o.Height, prev.State)
			default:
				return d.result(ctx, c, users, start), fmt.Errorf("order %s ended %s: %s", u.id, o.State, o.Reason)
			}
		}
	}
	res := d.result(ctx, c, users, start)
	// Check against the chain itself: every order's transaction in an accepted block.
	for _, o := range res.Orders {
		var bh, txid chainhash.Hash
		if err := chainhash.Decode(&bh, o.BlockHash); err != nil {
			return res, fmt.Errorf("order %s has no block", o.ID)
		}
		if err := chainhash.Decode(&txid, o.Txid); err != nil {
			return res, err
		}
		ts, err := daemon.chain.TxStatus(ctx, txid, bh)
		if err != nil || !ts.Confirmed {
			return res, fmt.Errorf("order %s: transaction %s is not in the chain's main chain (%v)", o.ID, o.Txid, err)
		}
	}
	d.sayf("done in %.1f s: %d orders mined in %d blocks the chain accepted; %d paid by shares before their block was found; %d shares accepted, %d rejected %v",
		res.Seconds, len(res.Orders), len(res.Blocks), paidFirst, res.SharesAccepted, res.SharesRejected, res.RejectedBy)
	return res, nil
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
