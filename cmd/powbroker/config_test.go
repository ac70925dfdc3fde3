package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
				network, err := c.rpcNetwork()
				if err != nil {
					t.Fatal(err)
				}
				params := network.Params
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

// TestServeConfigFile: serve reads the example config, and flags override it.
func TestServeConfigFile(t *testing.T) {
	pb, _ := binaries(t)
	line, wait, errb := serveLine(t, pb, "--config", "../../configs/embedded-regtest.json",
		"--datadir", t.TempDir(), "--http", "127.0.0.1:0", "--log-level", "warn")
	var ready struct {
		Ready bool   `json:"ready"`
		HTTP  string `json:"http"`
	}
	if err := json.Unmarshal([]byte(line), &ready); err != nil || !ready.Ready || strings.HasSuffix(ready.HTTP, ":8390") {
		t.Fatalf("ready line %q (%v); stderr %s", line, err, errb)
	}
	var st struct {
		Network string `json:"network"`
	}
	if code := getJSON(t, "http://"+ready.HTTP+"/v1/status", &st); code != 200 || st.Network != "regtest" {
		t.Fatalf("status %d %+v: the file's net should hold", code, st)
	}
	if code := wait(true); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}

// TestGatewayConfigFiles: every example gateway config in configs/scale loads strictly
// and validates.
func TestGatewayConfigFiles(t *testing.T) {
	files, err := filepath.Glob("../../configs/scale/gateway-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("gateway configs: %v %v", files, err)
	}
	for _, f := range files {
		var c gatewayConfig
		if err := loadConfigFile(f, &c); err != nil {
			t.Fatal(err)
		}
		if err := c.validate(); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}
