package rpcnode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/proofow/powbroker/chain"
)

// MaxResponseSize bounds a JSON-RPC response body. The largest answers are a full block
// in hex (at most 8 MB for a 4 MB block) and a template with its transactions.
const MaxResponseSize = 32 << 20

// RPC error codes this package interprets (btcd and Core agree on them).
const (
	codeNotFound    = -5  // RPC_INVALID_ADDRESS_OR_KEY: block or transaction not found
	codeDeserialize = -22 // RPC_DESERIALIZATION_ERROR: the block did not decode
	codeVerify      = -25 // RPC_VERIFY_ERROR: btcd, a proposal failing for a non-rule reason
	codeWarmup      = -28 // RPC_IN_WARMUP (Core): not ready to serve
)

// RPCError is an error answer of the node: the request reached the node and it said no.
// Whether that is a real answer (a block that does not exist) or a sign that the node
// cannot serve (warming up) is decided by the caller; transport and decoding failures
// are never an RPCError but wrap chain.ErrUnavailable.
type RPCError struct {
	Method  string
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("%s: node error %d: %s", e.Method, e.Code, e.Message)
}

// rpcRequest is one JSON-RPC call. Version is "1.0" for btcd (which answers in the
// 1.0 style) and "2.0" for Bitcoin Core, whose 28+ servers then answer strictly in 2.0.
type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

// rpcResponse is the union of a JSON-RPC 1.0 response (result and error both present,
// one of them null) and a 2.0 response (exactly one of them present).
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
}

type rpcErrorBody struct {
	Code    *int    `json:"code"`
	Message *string `json:"message"`
}

// client is a small JSON-RPC over HTTP POST client with a per-request timeout and
// bounded, strict response decoding. It never retries: retrying is the caller's
// decision (the tip poller simply polls again).
type client struct {
	url       string
	creds     *credentials
	version   string
	timeout   time.Duration
	http      *http.Client
	nextID    atomic.Uint64
	maxBody   int64
	transport *http.Transport
	// observe, when set, sees every request's method, duration and error.
	observe func(method string, d time.Duration, err error)
}

func newClient(url string, creds *credentials, version string, timeout time.Duration) *client {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &client{
		url: url, creds: creds, version: version, timeout: timeout,
		http:      &http.Client{Transport: tr},
		maxBody:   MaxResponseSize,
		transport: tr,
	}
}

func (c *client) close() { c.transport.CloseIdleConnections() }

// unavailable wraps err so that errors.Is(err, chain.ErrUnavailable) holds.
func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", chain.ErrUnavailable, fmt.Sprintf(format, args...))
}

// call performs one request and decodes its result into out (nil to ignore it). The
// error is an *RPCError for an error answer and wraps chain.ErrUnavailable otherwise.
func (c *client) call(ctx context.Context, method string, out any, params ...any) error {
	raw, err := c.callRaw(ctx, method, params...)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return unavailable("%s: malformed result: %v", method, err)
	}
	return nil
}

// callRaw performs one request and returns the raw result ("null" included). When
// the node refuses the credentials and they come from a cookie file that changed
// (bitcoind restarted and wrote a new one), the request is sent once more.
func (c *client) callRaw(ctx context.Context, method string, params ...any) (_ json.RawMessage, err error) {
	if c.observe != nil {
		start := time.Now()
		defer func() { c.observe(method, time.Since(start), err) }()
	}
	if params == nil {
		params = []any{}
	}
	raw, err := c.callOnce(ctx, method, params)
	if errors.Is(err, errRefused) {
		changed, rerr := c.creds.reload()
		if rerr != nil {
			return nil, fmt.Errorf("%w: %w", err, rerr)
		}
		if changed {
			raw, err = c.callOnce(ctx, method, params)
		}
	}
	return raw, err
}

// errRefused marks an answer of HTTP 401 or 403.
var errRefused = errors.New("the node refused the RPC credentials")

func (c *client) callOnce(ctx context.Context, method string, params []any) (json.RawMessage, error) {
	id := c.nextID.Add(1)
	body, err := json.Marshal(rpcRequest{JSONRPC: c.version, ID: id, Method: method, Params: params})
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", method, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	// Marks the request as safe to resend on a dead keep-alive connection; a nil
	// value sends no header.
	req.Header["Idempotency-Key"] = nil
	req.SetBasicAuth(c.creds.get())
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, method, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, c.transportError(ctx, method, err)
	}
	if int64(len(data)) > c.maxBody {
		return nil, unavailable("%s: response larger than %d bytes", method, c.maxBody)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("%w: %s: %w (HTTP %d): check the RPC user and password or cookie", chain.ErrUnavailable, method, errRefused, resp.StatusCode)
	}
	result, err := decodeResponse(data, id)
	if err != nil {
		var rpcErr *RPCError
		if errors.As(err, &rpcErr) {
			rpcErr.Method = method
			if rpcErr.Code == codeWarmup {
				return nil, fmt.Errorf("%w: %w", chain.ErrUnavailable, rpcErr)
			}
			return nil, rpcErr
		}
		return nil, unavailable("%s: HTTP %d: %v", method, resp.StatusCode, err)
	}
	return result, nil
}

func (c *client) transportError(ctx context.Context, method string, err error) error {
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: no answer from %s within %s: %w", chain.ErrUnavailable, method, c.url, c.timeout, err)
	}
	return fmt.Errorf("%w: %s: %s: %w", chain.ErrUnavailable, method, c.url, err)
}

// decodeResponse parses one JSON-RPC response body strictly: a single JSON object,
// nothing after it, an id equal to wantID, and either a non-null error (returned as
// *RPCError) or a result. Both the 1.0 style (result and error present, one null) and
// the 2.0 style (exactly one present, "jsonrpc":"2.0") are accepted.
func decodeResponse(data []byte, wantID uint64) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var resp rpcResponse
	if err := dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("malformed JSON-RPC response: %w", err)
	}
	if dec.More() {
		return nil, errors.New("malformed JSON-RPC response: data after the response object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("malformed JSON-RPC response: data after the response object")
	}
	if resp.JSONRPC != "" && resp.JSONRPC != "2.0" && resp.JSONRPC != "1.0" {
		return nil, fmt.Errorf("malformed JSON-RPC response: version %q", resp.JSONRPC)
	}
	hasError := len(resp.Error) > 0 && string(resp.Error) != "null"
	if hasError {
		var eb rpcErrorBody
		if err := json.Unmarshal(resp.Error, &eb); err != nil || eb.Code == nil {
			return nil, fmt.Errorf("malformed JSON-RPC error object %.100s", resp.Error)
		}
		msg := ""
		if eb.Message != nil {
			msg = *eb.Message
		}
		// An error answer may carry a null id (a parse error on the server side);
		// otherwise it must be ours.
		if len(resp.ID) > 0 && string(resp.ID) != "null" && !idMatches(resp.ID, wantID) {
			return nil, fmt.Errorf("JSON-RPC response id %.40s, want %d", resp.ID, wantID)
		}
		return nil, &RPCError{Code: *eb.Code, Message: msg}
	}
	if !idMatches(resp.ID, wantID) {
		return nil, fmt.Errorf("JSON-RPC response id %.40s, want %d", resp.ID, wantID)
	}
	if len(resp.Result) == 0 {
		if resp.JSONRPC == "2.0" || len(resp.Error) == 0 {
			return nil, errors.New("malformed JSON-RPC response: neither result nor error")
		}
		// 1.0 style with "error": null and no result key: treat as null result.
		return json.RawMessage("null"), nil
	}
	return resp.Result, nil
}

func idMatches(raw json.RawMessage, want uint64) bool {
	s := strings.TrimSpace(string(raw))
	return s == fmt.Sprint(want) || s == fmt.Sprintf("%q", fmt.Sprint(want))
}
