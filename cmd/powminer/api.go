package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/cmd/internal/apiworker"
	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newAPICmd() *cobra.Command {
	var (
		url, order, token, kernel string
		shareLogPath              string
		threads                   int
		asJSON, quiet, verbose    bool
	)
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Work for an order over the broker's HTTP API until it needs no more work",
		Long: `Work for an order over the broker's HTTP API: fetch assignments, scan them, post the
shares, until the broker says the order needs no more work. While the broker cannot be
reached, or is busy or not ready, it says so on stderr and retries with backoff (up to 30 s
apart); a URL that answers but is not a powbroker, or a host that does not resolve, stops it.
Exit codes, as for powminer stratum: 0 the order is paid or mined, 1 a failure, 2 misuse,
3 the order ended unpaid (canceled, expired or failed), 130 interrupted.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			token = cli.Token(token)
			if order == "" || token == "" {
				return cli.Usagef("--order and --token are required (or env POWBROKER_TOKEN)")
			}
			if threads < 1 || threads > 1024 {
				return cli.Usagef("--threads must be between 1 and 1024")
			}
			k, err := cli.Kernel(kernel)
			if err != nil {
				return err
			}
			c, err := api.NewClient(url)
			if err != nil {
				return cli.Usagef("--api: %v", err)
			}
			shares, err := openShareLog(shareLogPath)
			if err != nil {
				return err
			}
			start := time.Now()
			errOut := cmd.ErrOrStderr()
			o, st, err := apiworker.Run(cmd.Context(), apiworker.Options{
				Client: c, OrderID: order, Token: token, Kernel: k, Threads: threads,
				OnPost: func(r *api.SharesResponse) {
					for _, sh := range r.Results {
						reason := ""
						if sh.Problem != nil {
							reason = sh.Problem.Type
						}
						shares.add(sh.Hash, sh.Accepted, reason)
					}
					if !quiet && r.Accepted > 0 && r.Order != nil {
						fmt.Fprintf(errOut, "%s: +%d shares, %.6g/%.6g work units (%.0f%%)\n", r.Order.ID, r.Accepted,
							r.Order.CreditedWork, r.Order.RequiredWork, 100*r.Order.Progress)
					}
				},
				OnRetry: func(err error, wait time.Duration) {
					fmt.Fprintf(errOut, "powminer: %v; retrying in %s (Ctrl-C stops)\n", err, wait.Round(100*time.Millisecond))
				},
			})
			if cerr := shares.close(); err == nil {
				err = cerr
			}
			if err != nil {
				return workerEnd(cmd.Context(), order, o, err)
			}
			switch o.State {
			case "canceled", "expired", "failed":
				msg := fmt.Sprintf("order %s is %s", o.ID, o.State)
				if o.Reason != "" {
					msg += ": " + o.Reason
				}
				return cli.Unpaid("%s", msg)
			}
			secs := time.Since(start).Seconds()
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
					"order": o, "hashes": st.Hashes, "accepted": st.Accepted, "rejected": st.Rejected,
					"blocks": st.Blocks, "seconds": secs, "kernel": k.Name(), "threads": threads,
				})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "order %s is %s: %.6g of %.6g work units; %d shares accepted, %d rejected, %d blocks, %.3g hashes in %.1f s (%s x%d)\n",
				o.ID, o.State, o.CreditedWork, o.RequiredWork, st.Accepted, st.Rejected, st.Blocks, float64(st.Hashes), secs, k.Name(), threads)
			return nil
		},
	}
	f := cmd.Flags()
	cli.APIFlag(cmd, &url)
	f.StringVar(&order, "order", "", "order id")
	cli.TokenFlag(cmd, &token, "the order's token")
	cli.ThreadsFlag(cmd, &threads)
	cli.KernelFlag(cmd, &kernel)
	f.BoolVar(&asJSON, "json", false, "print one JSON object at the end")
	cli.OutputFlags(cmd, &quiet, &verbose)
	shareLogFlag(cmd, &shareLogPath)
	return cmd
}

// workerEnd turns a worker's error into the command's: an interrupt says what the
// order keeps (exit 130).
func workerEnd(ctx context.Context, order string, last *api.Order, err error) error {
	if ctx.Err() == nil {
		return err
	}
	if last != nil {
		return cli.Interrupted("interrupted: order %s keeps its %.6g of %.6g work units; the same command continues it", order, last.CreditedWork, last.RequiredWork)
	}
	return cli.Interrupted("interrupted: order %s keeps the work it was credited; the same command continues it", order)
}
