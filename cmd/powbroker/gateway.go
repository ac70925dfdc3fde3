package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/proofow/powbroker/broker/bus"
	"github.com/proofow/powbroker/broker/busnode"
	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/proofow/powbroker/stratum"
	"github.com/proofow/powbroker/stratum/gateway"
	"github.com/spf13/cobra"
)

// validateBus checks --bus and its key file.
func validateBus(url, keyFile string) error {
	if url == "" {
		return nil
	}
	if !strings.HasPrefix(url, "nats://") && !strings.HasPrefix(url, "tls://") {
		return cli.Usagef("--bus %q: want nats://HOST:PORT", url)
	}
	if keyFile == "" {
		return cli.Usagef("--bus needs --bus-key-file (the HMAC key shared by the broker and its gateways)")
	}
	return nil
}

// readBusKey reads the bus key file (surrounding white space dropped).
func readBusKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, cli.Usagef("--bus-key-file: %v", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < bus.MinKey {
		return nil, cli.Usagef("--bus-key-file %s: the key must have at least %d bytes", path, bus.MinKey)
	}
	return b, nil
}

// openBus connects the broker to the bus when --bus is set.
func (d *daemon) openBus(ctx context.Context, cfg daemonConfig) error {
	if cfg.Bus == "" {
		return nil
	}
	key, err := readBusKey(cfg.BusKeyFile)
	if err != nil {
		return err
	}
	d.bus, err = bus.Dial(ctx, cfg.Bus, key, "powbroker-broker", d.log.With("component", "bus"))
	if err != nil {
		return err
	}
	d.busNode = busnode.New(d.broker, d.bus, d.log.With("component", "busnode"))
	return nil
}

// gatewayConfig is what a gateway runs with; the config file has the same fields.
type gatewayConfig struct {
	Bus           string        `json:"bus"`
	BusKeyFile    string        `json:"bus_key_file"`
	Stratum       string        `json:"stratum"`
	ID            string        `json:"id,omitempty"`
	Prefix        int           `json:"prefix"`
	StratumTuning stratumTuning `json:"stratum_tuning,omitempty"`
	LogLevel      string        `json:"log_level,omitempty"`
}

func (c *gatewayConfig) validate() error {
	if c.Bus == "" {
		return cli.Usagef("--bus is required")
	}
	if err := validateBus(c.Bus, c.BusKeyFile); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Stratum); err != nil {
		return cli.Usagef("--stratum %q: want host:port (port 0 picks a free one)", c.Stratum)
	}
	if c.Prefix < 1 || c.Prefix > 255 {
		return cli.Usagef("--prefix %d: want 1 to 255 (the first extranonce1 byte, one per gateway)", c.Prefix)
	}
	return c.StratumTuning.validate()
}

func newGatewayCmd() *cobra.Command {
	var (
		cfg        gatewayConfig
		configFile string
	)
	cmd := &cobra.Command{
		Use:   "gateway --bus nats://HOST:PORT --stratum HOST:PORT --prefix N --bus-key-file FILE",
		Short: "Run a Stratum gateway of a broker reached over NATS",
		Long: `Hold Stratum sessions for a broker (serve --bus): parse, run vardiff and check every
share against the broker's jobs, then have the broker record it; a miner's share is
accepted only once the broker's store committed it. Each gateway holds its own
extranonce1 prefix (--prefix, 1..255; a prefix held by another live gateway is refused).
When it listens it prints one line: {"ready":true,"stratum":"HOST:PORT","gateway":ID,"prefix":N}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			final := gatewayConfig{}
			if configFile != "" {
				if err := loadConfigFile(configFile, &final); err != nil {
					return err
				}
			}
			for name, p := range map[string][2]*string{
				"bus": {&final.Bus, &cfg.Bus}, "bus-key-file": {&final.BusKeyFile, &cfg.BusKeyFile},
				"stratum": {&final.Stratum, &cfg.Stratum}, "id": {&final.ID, &cfg.ID}, "log-level": {&final.LogLevel, &cfg.LogLevel},
			} {
				if cmd.Flags().Changed(name) {
					*p[0] = *p[1]
				}
			}
			if cmd.Flags().Changed("prefix") {
				final.Prefix = cfg.Prefix
			}
			if err := final.validate(); err != nil {
				return err
			}
			return runGateway(cmd, final)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "JSON config file (bus, bus_key_file, stratum, id, prefix, stratum_tuning); flags override it")
	f.StringVar(&cfg.Bus, "bus", "", "NATS server, nats://HOST:PORT (required)")
	f.StringVar(&cfg.BusKeyFile, "bus-key-file", "", "file holding the bus's shared HMAC key (required)")
	f.StringVar(&cfg.Stratum, "stratum", "", "Stratum v1 listen address, e.g. 0.0.0.0:3333 (required)")
	f.StringVar(&cfg.ID, "id", "", "gateway name (default gw-PREFIX-HOSTNAME)")
	f.IntVar(&cfg.Prefix, "prefix", 0, "extranonce1 prefix 1..255, distinct per gateway (required)")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func runGateway(cmd *cobra.Command, cfg gatewayConfig) error {
	ctx := cmd.Context()
	log := newLogger(cfg.LogLevel, "", os.Stderr)
	if cfg.ID == "" {
		host, _ := os.Hostname()
		cfg.ID = fmt.Sprintf("gw-%d-%s", cfg.Prefix, host)
	}
	key, err := readBusKey(cfg.BusKeyFile)
	if err != nil {
		return err
	}
	ln, err := listenFlag("--stratum", cfg.Stratum)
	if err != nil {
		return err
	}
	defer ln.Close()
	c, err := bus.Dial(ctx, cfg.Bus, key, cfg.ID, log.With("component", "bus"))
	if err != nil {
		return err
	}
	defer c.Close()
	pool, err := gateway.New(ctx, c, gateway.Options{ID: cfg.ID, Prefix: cfg.Prefix, Logger: log.With("component", "gateway")})
	if err != nil {
		return err
	}
	t := cfg.StratumTuning
	start := t.StartDifficulty
	if start == 0 {
		start = 1
	}
	srv := stratum.NewServer(pool, t.serverConfig(start, log.With("component", "stratum")))
	line, _ := json.Marshal(map[string]any{"ready": true, "stratum": ln.Addr().String(), "gateway": cfg.ID, "prefix": cfg.Prefix})
	fmt.Fprintln(cmd.OutOrStdout(), string(line))
	log.Info("gateway serving", "stratum", ln.Addr().String(), "gateway", cfg.ID, "prefix", cfg.Prefix)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- pool.Run(ctx) }()
	go func() { errc <- srv.Serve(ctx, ln) }()
	err = <-errc
	cancel()
	<-errc
	return err
}
