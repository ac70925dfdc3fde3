package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/proofow/powbroker/stratum"
)

type stratumResult struct {
	Order      string         `json:"order,omitempty"`
	State      string         `json:"state,omitempty"`
	Message    string         `json:"message,omitempty"`
	Accepted   int            `json:"accepted"`
	Rejected   map[string]int `json:"rejected"`
	Hashes     uint64         `json:"hashes"`
	Seconds    float64        `json:"seconds"`
	Sessions   int            `json:"sessions"`
	Difficulty float64        `json:"difficulty"`
}

// orderMessage reads the broker's "order <id> is <state>..." messages (client.show_message
// and error 24 texts).
func orderMessage(msg string) (id, state string, ok bool) {
	f := strings.Fields(msg)
	if len(f) < 4 || f[0] != "order" || f[2] != "is" {
		return "", "", false
	}
	return f[1], strings.TrimRight(f[3], ":;,."), true
}

func newStratumCmd() *cobra.Command {
	var (
		rawURL, token, password, kernelName string
		shareLogPath                        string
		threads                             int
		asJSON, quiet, verbose              bool
	)
	c := &cobra.Command{
		Use:   "stratum --url stratum+tcp://HOST:PORT --token TOKEN [--threads N]",
		Short: "Mine for an order over Stratum v1 until the broker says it is complete",
		Long: `Mine over Stratum v1: configure version rolling, subscribe, authorize with the order
token as worker name, follow the server's jobs, difficulty and extranonce, submit shares and
reconnect with backoff (up to 30 s apart). Exit codes, as for powminer api: 0 the order is
paid or mined, 1 a failure (a refused token, an unusable server), 2 misuse, 3 the order
ended unpaid (canceled, expired or failed), 130 interrupted.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			user := cli.Token(token)
			if rawURL == "" || user == "" {
				return cli.Usagef("--url and --token are required (or env POWBROKER_TOKEN)")
			}
			if _, err := stratum.ParseURLs(rawURL); err != nil {
				return cli.Usagef("--url: %v", err)
			}
			if threads < 1 {
				return cli.Usagef("--threads must be at least 1, got %d", threads)
			}
			k, err := cli.Kernel(kernelName)
			if err != nil {
				return err
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			shares, err := openShareLog(shareLogPath)
			if err != nil {
				return err
			}
			res := stratumResult{Rejected: map[string]int{}}
			errOut := cmd.ErrOrStderr()
			var accepted atomic.Int64
			start := time.Now()
			st, err := stratum.Mine(cmd.Context(), stratum.MinerOptions{
				URL: rawURL, User: user, Password: password, Kernel: k, Threads: threads, Logger: log,
				OnShare: func(r stratum.ShareResult) {
					shares.add(displayHash(r.Hash), r.Code == 0, fmt.Sprintf("%d %s", r.Code, r.Message))
					switch {
					case quiet:
					case r.Code == 0:
						fmt.Fprintf(errOut, "share accepted (%d so far)\n", accepted.Add(1))
					default:
						fmt.Fprintf(errOut, "share rejected: error %d: %s\n", r.Code, r.Message)
					}
				},
				Stop: stopOnOrder(&res),
			})
			if cerr := shares.close(); err == nil {
				err = cerr
			}
			res.Accepted, res.Hashes, res.Sessions, res.Difficulty = st.Accepted, st.Hashes, st.Sessions, st.Difficulty
			res.Seconds = time.Since(start).Seconds()
			for code, n := range st.Rejected {
				res.Rejected[fmt.Sprint(code)] = n
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, _ := json.Marshal(res)
				fmt.Fprintln(out, string(b))
			} else if res.State != "" {
				fmt.Fprintf(out, "order %s is %s: %d shares accepted, %d hashes in %.1f s\n", res.Order, res.State, res.Accepted, res.Hashes, res.Seconds)
			}
			if errors.Is(err, stratum.ErrUnauthorized) {
				return fmt.Errorf("the pool refused the worker: %w", err)
			}
			if err != nil && cmd.Context().Err() != nil {
				return cli.Interrupted("interrupted after %d accepted shares; the order keeps them, and the same command continues it", res.Accepted)
			}
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&rawURL, "url", "", "Stratum server, stratum+tcp://HOST:PORT; several, comma-separated, are tried in turn when the connection is lost")
	cli.TokenFlag(c, &token, "worker name: the order token, an optional .rigname suffix allowed; --user is the same flag")
	f.StringVar(&password, "password", "x", "password (d=<difficulty> suggests a start difficulty)")
	cli.ThreadsFlag(c, &threads)
	cli.KernelFlag(c, &kernelName)
	f.BoolVar(&asJSON, "json", false, "print one JSON object at the end")
	cli.OutputFlags(c, &quiet, &verbose)
	cli.Alias(c, "user", "token")
	shareLogFlag(c, &shareLogPath)
	return c
}

// stopOnOrder is the Stop of powminer stratum: it records the broker's last word on the
// order in res, and stops on paid or mined (no error) and on canceled, expired or
// failed (exit code 3; the message already reads "order <id> is <state>...").
func stopOnOrder(res *stratumResult) func(string) (bool, error) {
	return func(msg string) (bool, error) {
		id, state, ok := orderMessage(msg)
		if !ok {
			return false, nil
		}
		res.Order, res.State, res.Message = id, state, msg
		switch state {
		case "paid", "mined", "confirmed":
			return true, nil
		case "expired", "failed", "canceled":
			return true, cli.Unpaid("%s", msg)
		}
		return false, nil
	}
}
