package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proofow/powbroker/cmd/internal/cli"
)

// FuzzConfigFile: the config loader and its validation never panic; every refusal is
// a usage error of one line (serve exits 2 with it); a config that loads and
// validates writes back to JSON that loads and validates again to the same config.
func FuzzConfigFile(f *testing.F) {
	files, _ := filepath.Glob("../../configs/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"net":"regtest","datadir":"x","http":"127.0.0.1:0","colour":"blue"}`,
		`{"net":"private","datadir":"x","http":"127.0.0.1:0","private_bits":"0x1d3fffff","stratum":"127.0.0.1:0","stratum_tuning":{"max_conns":-1}}`,
		`{"net":"regtest","datadir":"x","http":"127.0.0.1:0","broker":{"order_ttl":"soon"}}`,
		`{"net":"private","datadir":"x","http":"127.0.0.1:0","stratum_tuning":{"min_difficulty":2,"max_difficulty":1}}`,
		`{"chain":"rpc","net":"regtest","datadir":"x","http":":1","rpc":{"url":"http://h:1","kind":"bitcoind"},"payout_address":"x"}`,
		`{"net":"regtest"} {}`, `null`, `[]`, ``, "\xff",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var c daemonConfig
		err := loadConfigFile(p, &c)
		if err == nil {
			err = c.validate()
		}
		if err != nil {
			var ue *cli.UsageError
			if !errors.As(err, &ue) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("refusal is not a one-line usage error: %T %q", err, err)
			}
			return
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("a valid config does not marshal: %v", err)
		}
		if err := os.WriteFile(p, again, 0o600); err != nil {
			t.Fatal(err)
		}
		var back daemonConfig
		if err := loadConfigFile(p, &back); err != nil {
			t.Fatalf("written back config %s does not load: %v", again, err)
		}
		if err := back.validate(); err != nil {
			t.Fatalf("written back config %s does not validate: %v", again, err)
		}
		if b2, _ := json.Marshal(back); string(b2) != string(again) {
			t.Fatalf("round trip changed the config:\n%s\n%s", again, b2)
		}
	})
}
