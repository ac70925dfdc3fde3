package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestJSONLogs: --log-format json writes one JSON object a line, no key twice, and the
// ready line names every listener.
func TestJSONLogs(t *testing.T) {
	pb, _ := binaries(t)
	line, wait, errb := serveLine(t, pb, "--datadir", t.TempDir(), "--net", "private", "--private-bits", "1f00ffff",
		"--http", "127.0.0.1:0", "--stratum", "127.0.0.1:0", "--log-format", "json")
	var ready struct{ HTTP, Stratum string }
	if err := json.Unmarshal([]byte(line), &ready); err != nil {
		t.Fatalf("ready line %q: %v", line, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), `"msg":"ready"`) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if code := wait(true); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	found := false
	for _, l := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		dec := json.NewDecoder(strings.NewReader(l))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("not a JSON object: %q", l)
		}
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			if seen[k.(string)] {
				t.Errorf("key %q twice in %q", k, l)
			}
			seen[k.(string)] = true
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
		}
		if strings.Contains(l, `"msg":"ready"`) {
			found = true
			for _, want := range []string{`"http":"http://` + ready.HTTP + `"`, `"stratum":"stratum+tcp://` + ready.Stratum + `"`, `"metrics":"http://` + ready.HTTP + `/metrics"`} {
				if !strings.Contains(l, want) {
					t.Errorf("ready log line %q lacks %s", l, want)
				}
			}
		}
	}
	if !found {
		t.Fatalf("no ready log line in %s", errb)
	}
}
