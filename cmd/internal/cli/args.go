package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// NoArgs refuses arguments, naming the first one.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return Usagef("%s takes no arguments, got %q", commandName(cmd), args[0])
	}
	return nil
}

// ExactArgs wants one argument per name, and says which are missing or extra:
// "tx quote: missing the transaction (HEX, or - for stdin)".
func ExactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return Usagef("%s: missing %s", commandName(cmd), strings.Join(names[len(args):], " and "))
		case len(args) > len(names):
			return Usagef("%s: unexpected argument %q (it takes %s)", commandName(cmd), args[len(names)], strings.Join(names, " and "))
		}
		return nil
	}
}

// commandName is the command's path without the program's name: "tx quote".
func commandName(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}
