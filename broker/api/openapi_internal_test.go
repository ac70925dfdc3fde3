package api

import (
	"encoding/json"
	"strconv"
	"testing"
)

// TestOpenAPIResponses: every status the server's problem table can send, and the
// statuses of the transport (405, 408, 415), is described by a response of the
// document.
func TestOpenAPIResponses(t *testing.T) {
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &spec); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, ops := range spec.Paths {
		for m, raw := range ops {
			if m == "parameters" {
				continue
			}
			var op struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil || op.OperationID == "" {
				t.Errorf("operation without operationId: %s", raw)
			}
			for code := range op.Responses {
				documented[code] = true
			}
		}
	}
	want := []int{405, 408, 415}
	for _, s := range kindStatus {
		want = append(want, s)
	}
	for _, s := range want {
		if !documented[strconv.Itoa(s)] {
			t.Errorf("status %d is sent but described by no operation", s)
		}
	}
}
