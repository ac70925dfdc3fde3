// Command powbroker is the broker daemon and its user CLI: serve runs the daemon, demo
// shows the whole loop on a private chain, tx quotes, submits and follows orders, and
// faucet hands out test coins.
package main

import (
	"os"

	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "powbroker",
		Short: "Pay for getting a Bitcoin transaction mined with proof of work",
	}
	root.AddCommand(newServeCmd(), newDemoCmd(), newTxCmd(), newFaucetCmd(), newGatewayCmd(), newReceiptCmd())
	for _, c := range root.Commands() {
		if c.Name() == "serve" || c.Name() == "demo" {
			c.PreRunE = func(*cobra.Command, []string) error { return needCgo() }
		}
	}
	cli.AddVersion(root)
	return root
}

func main() {
	os.Exit(cli.Run(newRoot(), os.Args[1:], os.Stderr))
}
