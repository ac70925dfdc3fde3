package stratum

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error codes of Stratum replies.
const (
	CodeOther         = 20 // other or malformed
	CodeStale         = 21 // job not found (stale)
	CodeDuplicate     = 22 // duplicate share
	CodeLowDifficulty = 23 // share above the target
	CodeUnauthorized  = 24 // unauthorized worker
	CodeNotSubscribed = 25 // not subscribed
)

// DefaultVersionMask is the server's BIP 310 version-rolling mask (BIP 320's bits).
const DefaultVersionMask uint32 = 0x1fffe000

// Error is a Stratum error: a code and a message, sent as [code, "message", null].
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("stratum error %d: %s", e.Code, e.Message) }

// Errorf returns an *Error with a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Request is one parsed JSON-RPC line: a request (with an id) or a notification.
type Request struct {
	// ID is the raw JSON of the id, echoed verbatim in the reply; nil when absent.
	ID     json.RawMessage
	Method string
	Params []json.RawMessage
}

// HasID tells whether the request wants a reply (an id that is present and not null).
func (r *Request) HasID() bool { return len(r.ID) > 0 && string(r.ID) != "null" }

type wireRequest struct {
	ID     json.RawMessage `json:"id"`
	Method *string         `json:"method"`
	Params json.RawMessage `json:"params"`
}

// ErrNotObject is returned for a line that is not a JSON object.
var ErrNotObject = errors.New("stratum: the line is not a JSON object")

// ParseRequest parses one line (without its newline). The id must be a number, a string
// or null; the method a non-empty string; params an array, null or absent. When the
// line is an object with a usable id but a bad method or params, the returned request
// carries that id (so the error can be answered) together with the error.
func ParseRequest(line []byte) (*Request, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return nil, ErrNotObject
	}
	if r, ok := parseFast(line); ok {
		return r, nil
	}
	return parseSlow(line)
}

// parseSlow is ParseRequest with encoding/json, for any line.
func parseSlow(line []byte) (*Request, error) {
	var w wireRequest
	if err := json.Unmarshal(line, &w); err != nil {
		return nil, fmt.Errorf("stratum: malformed JSON: %w", err)
	}
	r := &Request{}
	if len(w.ID) > 0 {
		switch c := w.ID[0]; {
		case c == '"', c == '-', c >= '0' && c <= '9', string(w.ID) == "null":
			r.ID = w.ID
		default:
			return nil, errors.New("stratum: the id must be a number, a string or null")
		}
	}
	if w.Method == nil || *w.Method == "" {
		return r, errors.New("stratum: the request has no method")
	}
	r.Method = *w.Method
	if len(w.Params) > 0 && string(w.Params) != "null" {
		if w.Params[0] != '[' {
			return r, errors.New("stratum: params must be an array")
		}
		if err := json.Unmarshal(w.Params, &r.Params); err != nil {
			return r, fmt.Errorf("stratum: params: %w", err)
		}
	}
	return r, nil
}

// paramString reads a JSON string parameter.
func paramString(raw json.RawMessage) (string, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// paramNumber reads a JSON number parameter (or a string holding a number).
func paramNumber(raw json.RawMessage) (float64, bool) {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return f, true
	}
	if s, ok := paramString(raw); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return v, err == nil
	}
	return 0, false
}

// ParseHex32 reads a big-endian uint32 written as exactly 8 hex digits.
func ParseHex32(s string) (uint32, error) {
	if len(s) != 8 {
		return 0, fmt.Errorf("%q is not 8 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not 8 hex digits", s)
	}
	return uint32(v), nil
}

// Hex32 writes v as 8 big-endian hex digits, zero padded.
func Hex32(v uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return hex.EncodeToString(b[:])
}

// Submit is a parsed mining.submit.
type Submit struct {
	Worker      string
	JobID       string
	Extranonce2 []byte
	NTime       uint32
	Nonce       uint32
	VersionBits uint32
	HasVersion  bool // a sixth parameter (BIP 310 version bits) was given
}

// ParseSubmit reads mining.submit params: worker, job id, extranonce2 (hex), ntime and
// nonce (8 hex digits each) and optional version bits (8 hex digits). Errors are
// *Error with code 20.
func ParseSubmit(params []json.RawMessage) (*Submit, error) {
	if len(params) != 5 && len(params) != 6 {
		return nil, Errorf(CodeOther, "mining.submit takes 5 or 6 params, got %d", len(params))
	}
	var s [6]string
	for i, p := range params {
		v, ok := paramString(p)
		if !ok {
			return nil, Errorf(CodeOther, "mining.submit param %d is not a string", i+1)
		}
		s[i] = v
	}
	sub := &Submit{Worker: s[0], JobID: s[1]}
	if sub.JobID == "" || len(sub.JobID) > 64 {
		return nil, Errorf(CodeOther, "job id %q is empty or too long", sub.JobID)
	}
	if len(s[2]) == 0 || len(s[2])%2 != 0 || len(s[2]) > 64 {
		return nil, Errorf(CodeOther, "extranonce2 %q is not an even number of hex digits", s[2])
	}
	en2, err := hex.DecodeString(s[2])
	if err != nil {
		return nil, Errorf(CodeOther, "extranonce2 %q is not hex", s[2])
	}
	sub.Extranonce2 = en2
	if sub.NTime, err = ParseHex32(s[3]); err != nil {
		return nil, Errorf(CodeOther, "ntime: %v", err)
	}
	if sub.Nonce, err = ParseHex32(s[4]); err != nil {
		return nil, Errorf(CodeOther, "nonce: %v", err)
	}
	if len(params) == 6 {
		if sub.VersionBits, err = ParseHex32(s[5]); err != nil {
			return nil, Errorf(CodeOther, "version bits: %v", err)
		}
		sub.HasVersion = true
	}
	return sub, nil
}

// Params renders the submit as mining.submit params (6 when HasVersion).
func (s *Submit) Params() []any {
	p := []any{s.Worker, s.JobID, hex.EncodeToString(s.Extranonce2), Hex32(s.NTime), Hex32(s.Nonce)}
	if s.HasVersion {
		p = append(p, Hex32(s.VersionBits))
	}
	return p
}

// RollVersion applies BIP 310: (jobVersion & ^mask) | (bits & mask).
func RollVersion(jobVersion, bits, mask uint32) uint32 {
	return jobVersion&^mask | bits&mask
}

// SwapWords byte-swaps every 4-byte word of h: the prevhash of mining.notify from the
// internal byte order, and back.
func SwapWords(h [32]byte) [32]byte {
	var out [32]byte
	for i := 0; i < 32; i += 4 {
		out[i], out[i+1], out[i+2], out[i+3] = h[i+3], h[i+2], h[i+1], h[i]
	}
	return out
}

// Notify is the content of a mining.notify.
type Notify struct {
	JobID    string
	PrevHash [32]byte // internal byte order (the wire form is word-swapped)
	Coinb1   []byte   // legacy serialization before extranonce1
	Coinb2   []byte   // legacy serialization after extranonce2
	Branch   [][32]byte
	Version  uint32
	Bits     uint32
	NTime    uint32
	Clean    bool
}

// Params renders the nine mining.notify params.
func (n *Notify) Params() []any {
	ph := SwapWords(n.PrevHash)
	br := make([]string, len(n.Branch))
	for i, b := range n.Branch {
		br[i] = hex.EncodeToString(b[:])
	}
	return []any{n.JobID, hex.EncodeToString(ph[:]), hex.EncodeToString(n.Coinb1), hex.EncodeToString(n.Coinb2),
		br, Hex32(n.Version), Hex32(n.Bits), Hex32(n.NTime), n.Clean}
}

// ParseNotify reads the nine mining.notify params strictly: prevhash 64 hex digits,
// version, nbits and ntime 8 each, every branch 64.
func ParseNotify(params []json.RawMessage) (*Notify, error) {
	if len(params) < 9 {
		return nil, fmt.Errorf("mining.notify has %d params, want 9", len(params))
	}
	n := &Notify{}
	var ok bool
	if n.JobID, ok = paramString(params[0]); !ok || n.JobID == "" {
		return nil, errors.New("mining.notify: bad job id")
	}
	ph, ok := paramString(params[1])
	raw, err := hex.DecodeString(ph)
	if !ok || err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("mining.notify: prevhash %q is not 64 hex digits", ph)
	}
	n.PrevHash = SwapWords([32]byte(raw))
	for i, dst := range []*[]byte{&n.Coinb1, &n.Coinb2} {
		s, ok := paramString(params[2+i])
		b, err := hex.DecodeString(s)
		if !ok || err != nil {
			return nil, fmt.Errorf("mining.notify: coinb%d is not hex", i+1)
		}
		*dst = b
	}
	var br []string
	if err := json.Unmarshal(params[4], &br); err != nil {
		return nil, fmt.Errorf("mining.notify: merkle branch: %w", err)
	}
	for _, s := range br {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("mining.notify: branch %q is not 64 hex digits", s)
		}
		n.Branch = append(n.Branch, [32]byte(b))
	}
	for i, dst := range []*uint32{&n.Version, &n.Bits, &n.NTime} {
		s, ok := paramString(params[5+i])
		if !ok {
			return nil, fmt.Errorf("mining.notify: param %d is not a string", 6+i)
		}
		v, err := ParseHex32(s)
		if err != nil {
			return nil, fmt.Errorf("mining.notify: param %d: %w", 6+i, err)
		}
		*dst = v
	}
	if err := json.Unmarshal(params[8], &n.Clean); err != nil {
		return nil, fmt.Errorf("mining.notify: clean_jobs: %w", err)
	}
	return n, nil
}

// dsha256 is sha256d.
func dsha256(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}

// MerkleRoot folds the branch into the coinbase (legacy serialization) from the left.
func MerkleRoot(coinbase []byte, branch [][32]byte) [32]byte {
	root := dsha256(coinbase)
	var buf [64]byte
	for _, b := range branch {
		copy(buf[:32], root[:])
		copy(buf[32:], b[:])
		root = dsha256(buf[:])
	}
	return root
}

// Header rebuilds the 80-byte block header of a share: coinbase = coinb1 ‖ en1 ‖ en2 ‖
// coinb2, merkle root from the branch, and the little-endian fields.
func (n *Notify) Header(en1, en2 []byte, version, ntime, nonce uint32) [80]byte {
	cb := make([]byte, 0, len(n.Coinb1)+len(en1)+len(en2)+len(n.Coinb2))
	cb = append(append(append(append(cb, n.Coinb1...), en1...), en2...), n.Coinb2...)
	root := MerkleRoot(cb, n.Branch)
	var h [80]byte
	binary.LittleEndian.PutUint32(h[0:], version)
	copy(h[4:36], n.PrevHash[:])
	copy(h[36:68], root[:])
	binary.LittleEndian.PutUint32(h[68:], ntime)
	binary.LittleEndian.PutUint32(h[72:], n.Bits)
	binary.LittleEndian.PutUint32(h[76:], nonce)
	return h
}

// appendResult appends a reply line with a JSON result and "error": null.
func appendResult(dst []byte, id json.RawMessage, result any) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendID(dst, id)
	dst = append(dst, `,"result":`...)
	switch v := result.(type) {
	case bool:
		dst = strconv.AppendBool(dst, v)
	case json.RawMessage:
		dst = append(dst, v...)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte("null")
		}
		dst = append(dst, b...)
	}
	return append(dst, `,"error":null}`+"\n"...)
}

// appendError appends an error reply: "result": null next to [code, "message", null].
func appendError(dst []byte, id json.RawMessage, e *Error) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendID(dst, id)
	dst = append(dst, `,"result":null,"error":[`...)
	dst = strconv.AppendInt(dst, int64(e.Code), 10)
	dst = append(dst, ',')
	msg, _ := json.Marshal(e.Message)
	dst = append(dst, msg...)
	return append(dst, ",null]}\n"...)
}

// appendNotification appends a server notification: id null, method, params.
func appendNotification(dst []byte, method string, params any) []byte {
	dst = append(dst, `{"id":null,"method":"`...)
	dst = append(dst, method...)
	dst = append(dst, `","params":`...)
	b, err := json.Marshal(params)
	if err != nil {
		b = []byte("[]")
	}
	dst = append(dst, b...)
	return append(dst, "}\n"...)
}

func appendID(dst []byte, id json.RawMessage) []byte {
	if len(id) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, id...)
}
