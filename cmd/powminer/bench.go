package main

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/spf13/cobra"

	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/proofow/powbroker/miner"
)

type benchResult struct {
	Kernel      string  `json:"kernel"`
	Threads     int     `json:"threads"`
	MHs         float64 `json:"mhs"`
	BaselineMHs float64 `json:"baseline_mhs"`
	Ratio       float64 `json:"ratio"`
}

func newBenchCmd() *cobra.Command {
	var (
		seconds    float64
		threads    int
		kernelName string
		asJSON     bool
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure a kernel against crypto/sha256 applied twice (single thread) in the same run",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !(seconds > 0 && seconds <= 3600) || math.IsNaN(seconds) {
				return cli.Usagef("--seconds must be above 0 and at most 3600, got %v", seconds)
			}
			if threads < 1 || threads > 4096 {
				return cli.Usagef("--threads must be between 1 and 4096, got %d", threads)
			}
			k, err := cli.Kernel(kernelName)
			if err != nil {
				return err
			}
			d := time.Duration(seconds * float64(time.Second))
			khps, bhps, err := miner.Compare(cmd.Context(), k, threads, d)
			if err != nil {
				return fmt.Errorf("bench interrupted: %w", err)
			}
			res := benchResult{
				Kernel:      k.Name(),
				Threads:     threads,
				MHs:         round3(khps / 1e6),
				BaselineMHs: round3(bhps / 1e6),
			}
			res.Ratio = round3(res.MHs / float64(threads) / res.BaselineMHs)
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			_, err = fmt.Fprintf(out, "kernel %s, %d threads: %.2f MH/s (%.2f per thread); baseline crypto/sha256 twice, 1 thread: %.2f MH/s; ratio per thread %.2f\n",
				res.Kernel, res.Threads, res.MHs, res.MHs/float64(threads), res.BaselineMHs, res.Ratio)
			return err
		},
	}
	f := c.Flags()
	f.Float64Var(&seconds, "seconds", 3, "seconds to measure the kernel and, in alternating slices, the baseline")
	cli.ThreadsFlag(c, &threads)
	cli.KernelFlag(c, &kernelName)
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	return c
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
