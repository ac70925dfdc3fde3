package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"context"

	"github.com/proofow/powbroker/broker/api"
	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func client(url string) (*api.Client, error) {
	c, err := api.NewClient(url)
	if err != nil {
		return nil, cli.Usagef("--api: %v", err)
	}
	return c, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}

// txArgs returns the API client and the hex transaction from the argument, or from
// stdin for "-".
func txArgs(cmd *cobra.Command, url, arg string) (*api.Client, string, error) {
	c, err := client(url)
	if err != nil || arg != "-" {
		return c, arg, err
	}
	data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 2<<20))
	if err != nil {
		return nil, "", fmt.Errorf("read stdin: %w", err)
	}
	return c, strings.TrimSpace(string(data)), nil
}

func newTxCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tx", Short: "Quote, submit and follow orders"}
	cmd.AddCommand(newTxQuoteCmd(), newTxSubmitCmd(), newTxStatusCmd(), newTxWaitCmd(), newTxCancelCmd())
	return cmd
}

func newTxQuoteCmd() *cobra.Command {
	var url string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "quote (HEX | -)",
		Short: "Show the work a transaction would cost, without ordering",
		Args:  cli.ExactArgs("the transaction (HEX, or - to read it from stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, hexTx, err := txArgs(cmd, url, args[0])
			if err != nil {
				return err
			}
			q, err := c.Quote(cmd.Context(), hexTx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), q)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "txid %s\nfee %d sat, %d vbytes\nrequired work %.8g units (about %.3g hashes, %.1f s at %.3g H/s)\n",
				q.Txid, q.Fee, q.VSize, q.RequiredWork, q.ExpectedHashes, q.EstimateSeconds, q.Hashrate)
			return nil
		},
	}
	cli.APIFlag(cmd, &url)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newTxSubmitCmd() *cobra.Command {
	var url, idem string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "submit (HEX | -)",
		Short: "Order a transaction: prints the order id and its token (shown once)",
		Args:  cli.ExactArgs("the transaction (HEX, or - to read it from stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, hexTx, err := txArgs(cmd, url, args[0])
			if err != nil {
				return err
			}
			r, err := c.CreateOrder(cmd.Context(), hexTx, idem)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{
					"id": r.ID, "token": r.Token, "state": r.State, "required_work": r.RequiredWork,
				})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "order %s\ntoken %s\nstate %s, required work %.8g units\nmine it: powminer api --api %s --order %s --token %s\n",
				r.ID, r.Token, r.State, r.RequiredWork, url, r.ID, r.Token)
			return nil
		},
	}
	cli.APIFlag(cmd, &url)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&idem, "idempotency-key", "", "makes a retried submit return the same order")
	return cmd
}

func orderCmd(use, short string, run func(cmd *cobra.Command, c *api.Client, id, token string, asJSON bool) error) (*cobra.Command, *string) {
	var url, token string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   use + " ID",
		Short: short,
		Args:  cli.ExactArgs("the order ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			token = cli.Token(token)
			if token == "" {
				return cli.Usagef("--token is required (or env POWBROKER_TOKEN)")
			}
			c, err := client(url)
			if err != nil {
				return err
			}
			return run(cmd, c, args[0], token, asJSON)
		},
	}
	cli.APIFlag(cmd, &url)
	cli.TokenFlag(cmd, &token, "the order's token")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd, &url
}

func printOrder(w io.Writer, o *api.Order, asJSON bool) error {
	if asJSON {
		return printJSON(w, o)
	}
	fmt.Fprintf(w, "order %s: %s\ntxid %s\nwork %.8g of %.8g units (%.0f%%), %d shares\n",
		o.ID, o.State, o.Txid, o.CreditedWork, o.RequiredWork, 100*o.Progress, o.Shares)
	if o.BlockHash != "" {
		fmt.Fprintf(w, "block %s at height %d, %s\n", o.BlockHash, o.Height, confirmations(o.Confirmations))
	}
	if o.State == "paid" && o.BlockWait != nil {
		fmt.Fprintln(w, o.BlockWait.Message)
	}
	if o.Reason != "" {
		fmt.Fprintf(w, "note: %s\n", o.Reason)
	}
	return nil
}

func newTxStatusCmd() *cobra.Command {
	cmd, _ := orderCmd("status", "Show an order", func(cmd *cobra.Command, c *api.Client, id, token string, asJSON bool) error {
		o, err := c.Order(cmd.Context(), id, token)
		if err != nil {
			return err
		}
		return printOrder(cmd.OutOrStdout(), o, asJSON)
	})
	return cmd
}

func newTxCancelCmd() *cobra.Command {
	cmd, _ := orderCmd("cancel", "Cancel an order that is not mined yet", func(cmd *cobra.Command, c *api.Client, id, token string, asJSON bool) error {
		o, err := c.Cancel(cmd.Context(), id, token)
		if err != nil {
			return err
		}
		return printOrder(cmd.OutOrStdout(), o, asJSON)
	})
	return cmd
}

// stateRank orders the states a waiting user can ask for.
var stateRank = map[string]int{"working": 0, "paid": 1, "mined": 2, "confirmed": 3}

func newTxWaitCmd() *cobra.Command {
	var until string
	var timeout, every time.Duration
	cmd, _ := orderCmd("wait", "Wait until an order is final or reaches --until: a progress bar on a terminal, progress lines otherwise",
		func(cmd *cobra.Command, c *api.Client, id, token string, asJSON bool) error {
			want, ok := stateRank[until]
			if until != "" && (!ok || want == 0) {
				return cli.Usagef("--until must be paid, mined or confirmed, not %q", until)
			}
			if every < time.Second || every > time.Hour {
				return cli.Usagef("--every must be between 1s and 1h")
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel func()
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			w := &waiter{c: c, id: id, token: token, out: cmd.OutOrStdout(), every: every, json: asJSON}
			w.tty = isTerminal(w.out) && !asJSON
			o, err := w.wait(ctx, until, want)
			if err != nil {
				return err
			}
			if err := printOrder(w.out, o, asJSON); err != nil {
				return err
			}
			if _, known := stateRank[o.State]; !known {
				msg := fmt.Sprintf("order %s ended %s", o.ID, o.State)
				if o.Reason != "" {
					msg += ": " + o.Reason
				}
				return errors.New(msg)
			}
			return nil
		})
	cmd.Flags().StringVar(&until, "until", "", "return once the order is paid, mined or confirmed")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0 = never)")
	cmd.Flags().DurationVar(&every, "every", 10*time.Second, "when not on a terminal, a progress line at least this often")
	return cmd
}

// waiter follows an order for tx wait.
type waiter struct {
	c         *api.Client
	id, token string
	out       io.Writer
	every     time.Duration
	tty, json bool
	last      string // the last progress line printed
}

// wait long-polls the order until it is final or reached the wanted state, showing
// progress: a bar redrawn on a terminal, a line per change (and at least one per
// every) otherwise.
func (w *waiter) wait(ctx context.Context, until string, want int) (*api.Order, error) {
	o, err := w.c.Order(ctx, w.id, w.token)
	for err == nil {
		w.show(o)
		reached := until != "" && stateRank[o.State] >= want && o.State != "working"
		if _, known := stateRank[o.State]; !known || o.Final() || reached {
			break
		}
		next, changed, werr := w.c.WaitOrderSince(ctx, w.id, w.token, o.ETag, w.every)
		if werr != nil {
			err = werr
		} else if changed {
			o = next
		} else {
			w.last = "" // nothing changed for a while: say so again
			o, err = w.c.Order(ctx, w.id, w.token)
		}
	}
	if w.tty {
		fmt.Fprintln(w.out)
	}
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("stopped waiting for order %s (%v); it continues on the broker", w.id, context.Cause(ctx))
	}
	return o, err
}

func (w *waiter) show(o *api.Order) {
	switch {
	case w.json:
	case w.tty:
		fmt.Fprint(w.out, "\r\033[K"+progressLine(o))
	default:
		if line := progressLine(o); line != w.last {
			fmt.Fprintf(w.out, "%s %s\n", time.Now().Format("15:04:05"), line)
			w.last = line
		}
	}
}

func progressLine(o *api.Order) string {
	const width = 30
	switch {
	case o.State == "paid" && o.BlockWait != nil:
		return o.BlockWait.Message
	case o.State == "working":
		n := int(o.Progress * width)
		return fmt.Sprintf("[%s%s] %3.0f%% %.6g/%.6g work units, %d shares, working", strings.Repeat("#", n), strings.Repeat(".", width-n),
			100*o.Progress, o.CreditedWork, o.RequiredWork, o.Shares)
	case o.BlockHash != "":
		return fmt.Sprintf("%s: block %s at height %d, %s", o.State, short(o.BlockHash), o.Height, confirmations(o.Confirmations))
	}
	return o.State
}

func confirmations(n int32) string {
	if n == 1 {
		return "1 confirmation"
	}
	return fmt.Sprintf("%d confirmations", n)
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newFaucetCmd() *cobra.Command {
	var url string
	var amountBTC float64
	var amount, fee int64
	cmd := &cobra.Command{
		Use:   "faucet",
		Short: "Print a signed raw transaction paying a fresh address from the test faucet (not submitted)",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("amount") {
				if cmd.Flags().Changed("amount-sat") {
					return cli.Usagef("give --amount-sat or the older --amount (in BTC), not both")
				}
				if !(amountBTC > 0) || amountBTC > 21e6 {
					return cli.Usagef("--amount must be a positive number of BTC")
				}
				amount = int64(amountBTC*1e8 + 0.5)
			}
			if amount <= 0 || amount > 21e14 {
				return cli.Usagef("--amount-sat must be a positive number of satoshi")
			}
			if fee < 0 || fee > 1e8 {
				return cli.Usagef("--fee must be between 0 and 100000000 satoshi")
			}
			c, err := client(url)
			if err != nil {
				return err
			}
			r, err := c.Faucet(cmd.Context(), amount, fee)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), r.Tx)
			return nil
		},
	}
	cli.APIFlag(cmd, &url)
	cmd.Flags().Int64Var(&amount, "amount-sat", 1_000_000, "amount in satoshi")
	cmd.Flags().Float64Var(&amountBTC, "amount", 0, "amount in BTC (older spelling of --amount-sat)")
	_ = cmd.Flags().MarkHidden("amount")
	cmd.Flags().Int64Var(&fee, "fee", 1000, "fee in satoshi (0 makes a zero-fee transaction)")
	return cmd
}
