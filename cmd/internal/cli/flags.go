package cli

import (
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/proofow/powbroker/miner"
)

// DefaultHTTP is the daemon's default HTTP listen address. Port 8390 is used by no
// common Bitcoin software: Core takes 8332/8333 and 18332-48333, btcd 8334/18334/18556,
// electrs and Fulcrum 50001/50002 (electrs monitoring 4224), LND 9735/10009/8080,
// Core Lightning 9735-9736/3010, mempool.space 8999, p2pool 9332/9333, Stratum 3333.
const DefaultHTTP = "127.0.0.1:8390"

// DefaultAPI is the URL the user commands reach the daemon at by default.
const DefaultAPI = "http://" + DefaultHTTP

// APIFlag adds --api, defaulting to $POWBROKER_API, then DefaultAPI.
func APIFlag(cmd *cobra.Command, v *string) {
	def := os.Getenv("POWBROKER_API")
	if def == "" {
		def = DefaultAPI
	}
	cmd.Flags().StringVar(v, "api", def, "broker API URL (env POWBROKER_API)")
}

// TokenFlag adds --token; Token reads it with $POWBROKER_TOKEN as the fallback.
func TokenFlag(cmd *cobra.Command, v *string, what string) {
	cmd.Flags().StringVar(v, "token", "", what+" (env POWBROKER_TOKEN)")
}

// Token is the flag's value, or $POWBROKER_TOKEN when the flag is empty.
func Token(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv("POWBROKER_TOKEN")
}

// ThreadsFlag adds --threads with the one default every hashing command shares.
func ThreadsFlag(cmd *cobra.Command, v *int) {
	cmd.Flags().IntVar(v, "threads", runtime.NumCPU(), "hashing threads (default: one per CPU)")
}

// KernelFlag adds --kernel, listing the kernels this CPU runs.
func KernelFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "kernel", "", "hashing kernel: "+KernelNames()+" (default: the fastest this CPU runs, "+miner.Best().Name()+")")
}

// KernelNames lists the kernels this CPU can run, fastest first.
func KernelNames() string {
	var names []string
	for _, k := range miner.Kernels() {
		if k.Available {
			names = append(names, k.Name)
		}
	}
	return strings.Join(names, ", ")
}

// Kernel returns the named kernel, or the fastest available one when name is empty.
func Kernel(name string) (miner.Kernel, error) {
	if name == "" {
		return miner.Best(), nil
	}
	k, err := miner.ByName(name)
	if err != nil {
		return nil, Usagef("--kernel %q: this CPU runs %s", name, KernelNames())
	}
	return k, nil
}

// OutputFlags adds the flags every long-running worker command shares: --quiet (no
// progress lines) and --verbose (session details on stderr).
func OutputFlags(cmd *cobra.Command, quiet, verbose *bool) {
	cmd.Flags().BoolVar(quiet, "quiet", false, "no progress lines on stderr")
	cmd.Flags().BoolVar(verbose, "verbose", false, "log details on stderr")
}

// Alias makes old, a flag name scripts may use, another spelling of current.
func Alias(cmd *cobra.Command, old, current string) {
	prev := cmd.Flags().GetNormalizeFunc()
	cmd.Flags().SetNormalizeFunc(func(f *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == old {
			name = current
		}
		return prev(f, name)
	})
}
