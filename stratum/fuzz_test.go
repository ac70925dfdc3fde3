package stratum

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

var requestSeeds = []string{
	`{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5.1"]}`,
	`{"id":"abc","method":"mining.authorize","params":["pow_x.rig","d=0.5"]}`,
	`{"id":null,"method":"mining.extranonce.subscribe","params":[]}`,
	`{"id":4,"method":"mining.submit","params":["w","1a","00000001","5f5e1000","0000abcd"]}`,
	`{"id":5,"method":"mining.submit","params":["w","1a","00000001","5f5e1000","0000abcd","00006000"]}`,
	`{"method": "mining.configure", "id": 1, "params": [["minimum-difficulty", "version-rolling"], {"minimum-difficulty.value": 2048, "version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]}`,
	`{"id":1,"method":"mining.suggest_difficulty","params":[0.0001]}`,
	`{"id":{},"method":"x"}`,
	`{"id":1,"method":""}`,
	`{"id":1,"method":"m","params":{"a":1}}`,
	`{"id":1e400,"method":"m"}`,
	`[1,2,3]`,
	`{"id":1,"method":"m","params":["\u0000\ud800"]}`,
	"\x00\xff{",
	`{ "id" : -0 , "method" : "a" , "params" : [ ] }`,
	`{"id":01,"method":"a"}`,
	`{"id":1,"method":"a","params":["x",]}`,
	`{"id":1,"method":"a",}`,
	`{"ID":1,"METHOD":"x","Params":["y"]}`,
	`{"id":1,"method":"a","params":["x"],"params":["y"]}`,
	`{"id":"4","method":"mining.submit","params":["w\u0041","1a"]}`,
	`{"id":1.5,"method":"a"}`,
	``,
}

// FuzzParseRequest: the line parser never panics, and every request it accepts with
// an id can be answered with a valid JSON reply echoing that id.
func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if fast, ok := parseFast(bytes.TrimSpace(line)); ok {
			slow, err := parseSlow(bytes.TrimSpace(line))
			if err != nil || !reflect.DeepEqual(fast, slow) {
				t.Fatalf("fast parse %+v differs from encoding/json's %+v (%v)", fast, slow, err)
			}
		}
		orig := bytes.Clone(line)
		req, err := ParseRequest(line)
		if req == nil {
			if err == nil {
				t.Fatal("no request and no error")
			}
			return
		}
		// The request must not alias the line: the reader's buffer is reused.
		for i := range line {
			line[i] = 'x'
		}
		again, err2 := ParseRequest(orig)
		if !reflect.DeepEqual(req, again) || (err == nil) != (err2 == nil) {
			t.Fatalf("the request changed with its input buffer: %+v vs %+v", req, again)
		}
		for _, out := range [][]byte{appendError(nil, req.ID, Errorf(20, "bad \"%s\"", line)), appendResult(nil, req.ID, true)} {
			var m struct {
				ID     json.RawMessage `json:"id"`
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if !bytes.HasSuffix(out, []byte("\n")) || bytes.Count(out, []byte("\n")) != 1 {
				t.Fatalf("reply is not one line: %q", out)
			}
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("reply %q is not JSON: %v", out, err)
			}
			if req.HasID() && !bytes.Equal(m.ID, req.ID) {
				t.Fatalf("reply id %s, request id %s", m.ID, req.ID)
			}
			if m.Result == nil || m.Error == nil {
				t.Fatalf("reply lacks result or error: %s", out)
			}
		}
		if err == nil && req.Method == "" {
			t.Fatal("accepted a request without a method")
		}
	})
}

// FuzzParseSubmit: the submit parser never panics, and what it accepts renders back
// to params that parse to the same submit.
func FuzzParseSubmit(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"id":4,"method":"mining.submit","params":["w","1a","0001","5f5e100","0000abcd"]}`))
	f.Add([]byte(`{"id":4,"method":"mining.submit","params":["w","1a","zz","5f5e1000","0000abcd"]}`))
	f.Add([]byte(`{"id":4,"method":"mining.submit","params":["w","1a","00000001","5f5e1000","0000abcd",6000]}`))
	f.Add([]byte(`{"id":4,"method":"mining.submit","params":["w\"x","1a","00000001","5F5E1000","0000ABCD","FFFFFFFF"]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := ParseRequest(line)
		if err != nil {
			return
		}
		sub, err := ParseSubmit(req.Params)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("ParseSubmit error %T is not *Error", err)
			}
			return
		}
		raw, _ := json.Marshal(sub.Params())
		var params []json.RawMessage
		if err := json.Unmarshal(raw, &params); err != nil {
			t.Fatal(err)
		}
		again, err := ParseSubmit(params)
		if err != nil {
			t.Fatalf("re-rendered submit %s does not parse: %v", raw, err)
		}
		if !reflect.DeepEqual(sub, again) {
			t.Fatalf("round trip changed the submit: %+v vs %+v", sub, again)
		}
	})
}
