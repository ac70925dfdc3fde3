package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/proofow/powbroker/chain/rpcnode"
)

// TestConfigFiles: every example config in configs/ loads strictly and validates.
func TestConfigFiles(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.json")
	if err != nil || len(files) < 2 {
		t.Fatalf("configs: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var c daemonConfig
			if err := loadConfigFile(f, &c); err != nil {
				t.Fatal(err)
			}
			if err := c.validate(); err != nil {
				t.Fatal(err)
			}
			if err := c.Broker.WithDefaults(c.Net).Validate(); err != nil {
				t.Fatal(err)
			}
			if c.Chain == "rpc" {
				params, err := rpcnode.ParamsByName(c.Net)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := payoutScript(c.PayoutAddress, params, nil); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestConfigFileRejectsUnknownFields(t *testing.T) {
	cases := map[string]string{
		"unknown field": `{"net":"regtest","datadir":"x","http":"127.0.0.1:0","colour":"blue"}`,
		"bad duration":  `{"net":"regtest","datadir":"x","http":"127.0.0.1:0","broker":{"order_ttl":"soon"}}`,
		"not json":      `net = regtest`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.json")
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			var c daemonConfig
			if err := loadConfigFile(p, &c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
