// Command powminer is the powbroker worker: it scans nonce ranges of block headers with the
// fastest sha256d kernel the CPU supports and measures how fast it does.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/proofow/powbroker/cmd/internal/cli"
)

func main() {
	os.Exit(cli.Run(newRoot(), os.Args[1:], os.Stderr))
}

// newRoot builds the root command with every subcommand.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "powminer",
		Short: "Mine sha256d work for a powbroker",
	}
	root.AddCommand(
		newScanCmd(),
		newBenchCmd(),
		newAPICmd(),
		newStratumCmd(),
	)
	cli.AddVersion(root)
	return root
}
