package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/spf13/cobra"
)

// defaultNet is the network serve and demo use when none is given: the private
// network (blocks rarer than shares) on the embedded chain, regtest on a node.
func defaultNet(chainKind string) string {
	if chainKind == "rpc" {
		return "regtest"
	}
	return "private"
}

func newServeCmd() *cobra.Command {
	var (
		cfg        daemonConfig
		configFile string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the broker daemon until SIGINT or SIGTERM",
		Long: `Run the broker: the chain (the embedded, fully validating one, or a node over RPC with
--chain rpc), the SQLite store and the HTTP API.
When it listens it prints one line to stdout: {"ready":true,"http":"HOST:PORT"}, with
"stratum":"HOST:PORT" added when --stratum is given.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			final := daemonConfig{HTTP: cli.DefaultHTTP}
			if configFile != "" {
				if err := loadConfigFile(configFile, &final); err != nil {
					return err
				}
			}
			// Flags given on the command line win over the file.
			for name, p := range map[string][2]*string{
				"datadir": {&final.DataDir, &cfg.DataDir}, "net": {&final.Net, &cfg.Net}, "http": {&final.HTTP, &cfg.HTTP},
				"stratum": {&final.Stratum, &cfg.Stratum}, "private-bits": {&final.PrivateBits, &cfg.PrivateBits},
				"payout-address": {&final.PayoutAddress, &cfg.PayoutAddress}, "log-level": {&final.LogLevel, &cfg.LogLevel},
				"chain": {&final.Chain, &cfg.Chain}, "rpc-url": {&final.RPC.URL, &cfg.RPC.URL},
				"rpc-user": {&final.RPC.User, &cfg.RPC.User}, "rpc-pass": {&final.RPC.Pass, &cfg.RPC.Pass},
				"rpc-kind": {&final.RPC.Kind, &cfg.RPC.Kind}, "rpc-cookie": {&final.RPC.Cookie, &cfg.RPC.Cookie},
				"rpc-pass-file": {&final.RPC.PassFile, &cfg.RPC.PassFile}, "rpc-zmq": {&final.RPC.ZMQ, &cfg.RPC.ZMQ},
				"signet-challenge": {&final.SignetChallenge, &cfg.SignetChallenge}, "signet-key-file": {&final.SignetKeyFile, &cfg.SignetKeyFile}, "store": {&final.Store, &cfg.Store},
				"log-format": {&final.LogFormat, &cfg.LogFormat},
				"bus":        {&final.Bus, &cfg.Bus}, "bus-key-file": {&final.BusKeyFile, &cfg.BusKeyFile},
			} {
				if cmd.Flags().Changed(name) {
					*p[0] = *p[1]
				}
			}
			if cmd.Flags().Changed("pool-threads") {
				final.PoolThreads = cfg.PoolThreads
			}
			if final.Net == "" {
				final.Net = defaultNet(final.Chain)
			}
			if err := final.validate(); err != nil {
				return err
			}
			log := newLogger(final.LogLevel, final.LogFormat, os.Stderr)
			ctx := cmd.Context()
			d, err := openDaemon(ctx, final, log)
			if err != nil {
				return err
			}
			defer d.close()
			ready := map[string]any{"ready": true, "http": d.addr()}
			if a := d.stratumAddr(); a != "" {
				ready["stratum"] = a
			}
			if d.busNode != nil {
				ready["bus"] = d.busNode.ID()
			}
			line, _ := json.Marshal(ready)
			fmt.Fprintln(cmd.OutOrStdout(), string(line))
			d.logReady(final)
			err = d.run(ctx)
			log.Info("shutting down")
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "JSON config file (see configs/); flags override it")
	f.StringVar(&cfg.DataDir, "datadir", "", "directory for the chain, the database and keys (required)")
	f.StringVar(&cfg.Net, "net", "", "network: private or regtest (embedded, default private); regtest, signet, testnet4, testnet3 or mainnet (rpc, default regtest)")
	f.StringVar(&cfg.SignetChallenge, "signet-challenge", "", "block challenge of a custom signet in hex, as bitcoind -signetchallenge (with --net signet; e.g. 51)")
	f.StringVar(&cfg.SignetKeyFile, "signet-key-file", "", "WIF key signing the blocks of a custom signet whose challenge is its P2WPKH or P2TR key (default DATADIR/rpc-signet-MAGIC/signet.key; HTTP mining only)")
	f.StringVar(&cfg.HTTP, "http", cli.DefaultHTTP, "HTTP API listen address (port 0 picks a free port)")
	f.StringVar(&cfg.Stratum, "stratum", "", "Stratum v1 listen address, e.g. 127.0.0.1:3333 (port 0 picks a free port; default off)")
	f.StringVar(&cfg.PrivateBits, "private-bits", "", "fixed difficulty of the private network, compact hex (default 1d3fffff)")
	f.StringVar(&cfg.PayoutAddress, "payout-address", "", "address paid by found blocks (default: the faucet's)")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&cfg.LogFormat, "log-format", "text", "text (key=value lines) or json (one JSON object a line)")
	f.IntVar(&cfg.PoolThreads, "pool-threads", 0, "hash the pooled block template with this many threads while paid orders wait for a block (embedded chain only; 0 = off)")
	f.StringVar(&cfg.Chain, "chain", "embedded", "chain backend: embedded, or rpc (a btcd or bitcoind node)")
	f.StringVar(&cfg.RPC.URL, "rpc-url", "", "node JSON-RPC URL, e.g. http://127.0.0.1:18334 (with --chain rpc)")
	f.StringVar(&cfg.RPC.User, "rpc-user", "", "node RPC user")
	f.StringVar(&cfg.RPC.Pass, "rpc-pass", "", "node RPC password (visible in ps: prefer --rpc-pass-file, "+envRPCPass+" or the cookie)")
	f.StringVar(&cfg.RPC.PassFile, "rpc-pass-file", "", "file whose first line is the node RPC password")
	f.StringVar(&cfg.RPC.Cookie, "rpc-cookie", "", "Bitcoin Core's cookie file (default with --rpc-kind bitcoind and no password: ~/.bitcoin[/NET]/.cookie)")
	f.StringVar(&cfg.RPC.ZMQ, "rpc-zmq", "", "bitcoind's ZMQ hashblock publisher, e.g. tcp://127.0.0.1:28332 (new blocks at once; polling stays the fallback)")
	f.StringVar(&cfg.RPC.Kind, "rpc-kind", "btcd", "node kind: btcd or bitcoind")
	f.StringVar(&cfg.Bus, "bus", "", "NATS server of the Stratum gateways, nats://HOST:PORT (default off)")
	f.StringVar(&cfg.BusKeyFile, "bus-key-file", "", "file holding the bus's shared HMAC key (at least 16 bytes; required with --bus)")
	f.StringVar(&cfg.Store, "store", "", "store: sqlite (default, in the datadir) or postgres://user:pass@host:port/db (brokers on one database take turns: a second one waits as a standby)")
	return cmd
}
