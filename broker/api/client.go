package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/proofow/powbroker/broker/receipt"
)

// Client talks to a powbroker API. Errors the server reports are *Problem.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a client for the API at baseURL (http://host:port).
func NewClient(baseURL string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api URL %q: want http://host:port", baseURL)
	}
	return &Client{base: u.String(), http: &http.Client{Timeout: MaxWait + 30*time.Second}}, nil
}

// maxResponse bounds what the client reads from a response.
const maxResponse = 8 << 20

func (c *Client) do(ctx context.Context, method, path, token string, hdr map[string]string, in, out any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &TransportError{URL: c.base, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return resp, fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusNotModified {
		return resp, nil
	}
	if resp.StatusCode >= 400 {
		p := &Problem{}
		if json.Unmarshal(data, p) != nil || p.Type == "" {
			return resp, &Problem{Type: "http-error", Status: resp.StatusCode,
				Detail: fmt.Sprintf("%s answers HTTP %d with %s, not a powbroker problem (is the URL right?)", c.base, resp.StatusCode, describeBody(resp.Header.Get("Content-Type"), data))}
		}
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			p.RetryAfter = ra
		}
		return resp, p
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return resp, nil
}

// Quote prices a raw transaction (hex).
func (c *Client) Quote(ctx context.Context, txHex string) (*QuoteResponse, error) {
	var out QuoteResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/quotes", "", nil, TxRequest{Tx: txHex}, &out)
	return &out, err
}

// CreateOrder submits a raw transaction; idemKey may be empty.
func (c *Client) CreateOrder(ctx context.Context, txHex, idemKey string) (*CreateResponse, error) {
	var out CreateResponse
	var hdr map[string]string
	if idemKey != "" {
		hdr = map[string]string{"Idempotency-Key": idemKey}
	}
	_, err := c.do(ctx, http.MethodPost, "/v1/orders", "", hdr, TxRequest{Tx: txHex}, &out)
	return &out, err
}

// Order reads an order; its ETag identifies this version for WaitOrderSince.
func (c *Client) Order(ctx context.Context, id, token string) (*Order, error) {
	var out Order
	resp, err := c.do(ctx, http.MethodGet, "/v1/orders/"+url.PathEscape(id), token, nil, nil, &out)
	if resp != nil {
		out.ETag = resp.Header.Get("ETag")
	}
	return &out, err
}

// WaitOrderSince long-polls until the order differs from the version etag (from Order
// or an earlier wait) or wait passes; changed is false when nothing changed, and then
// the returned order is nil.
func (c *Client) WaitOrderSince(ctx context.Context, id, token, etag string, wait time.Duration) (o *Order, changed bool, err error) {
	var out Order
	path := "/v1/orders/" + url.PathEscape(id) + "?wait=" + url.QueryEscape(wait.String())
	resp, err := c.do(ctx, http.MethodGet, path, token, map[string]string{"If-None-Match": etag}, nil, &out)
	if err != nil {
		return nil, false, err
	}
	if resp.StatusCode == http.StatusNotModified {
		return nil, false, nil
	}
	out.ETag = resp.Header.Get("ETag")
	return &out, true, nil
}

// WaitOrder long-polls an order: it returns when the order changes or wait passes.
func (c *Client) WaitOrder(ctx context.Context, id, token string, wait time.Duration) (*Order, error) {
	var out Order
	path := "/v1/orders/" + url.PathEscape(id) + "?wait=" + url.QueryEscape(wait.String())
	_, err := c.do(ctx, http.MethodGet, path, token, nil, nil, &out)
	return &out, err
}

// Cancel cancels an order.
func (c *Client) Cancel(ctx context.Context, id, token string) (*Order, error) {
	var out Order
	_, err := c.do(ctx, http.MethodDelete, "/v1/orders/"+url.PathEscape(id), token, nil, nil, &out)
	return &out, err
}

// Events reads an order's history.
func (c *Client) Events(ctx context.Context, id, token string) ([]Event, error) {
	var out []Event
	_, err := c.do(ctx, http.MethodGet, "/v1/orders/"+url.PathEscape(id)+"/events", token, nil, nil, &out)
	return out, err
}

// Assignment asks for the next assignment of an order.
func (c *Client) Assignment(ctx context.Context, id, token string) (*Assignment, error) {
	var out Assignment
	_, err := c.do(ctx, http.MethodPost, "/v1/orders/"+url.PathEscape(id)+"/assignments", token, nil, nil, &out)
	return &out, err
}

// SubmitShares posts found nonces; it is also the poll. When no share of the batch
// was accepted, the error is a *Problem whose Results and Order are filled in.
func (c *Client) SubmitShares(ctx context.Context, id, token string, shares []ShareIn) (*SharesResponse, error) {
	var out SharesResponse
	if shares == nil {
		shares = []ShareIn{}
	}
	_, err := c.do(ctx, http.MethodPost, "/v1/orders/"+url.PathEscape(id)+"/shares", token, nil, SharesRequest{Shares: shares}, &out)
	var p *Problem
	if errors.As(err, &p) && p.Results != nil {
		out = SharesResponse{Results: p.Results, Rejected: len(p.Results), Order: p.Order}
		if p.Order != nil {
			out.Stop = p.Order.Stop
		}
		return &out, err
	}
	return &out, err
}

// Status reads the broker's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var out Status
	_, err := c.do(ctx, http.MethodGet, "/v1/status", "", nil, nil, &out)
	return &out, err
}

// Blocks lists the blocks the broker found.
func (c *Client) Blocks(ctx context.Context) ([]Block, error) {
	var out []Block
	_, err := c.do(ctx, http.MethodGet, "/v1/blocks", "", nil, nil, &out)
	return out, err
}

// Faucet asks for a signed transaction paying amountSat with feeSat fee.
func (c *Client) Faucet(ctx context.Context, amountSat, feeSat int64) (*FaucetResponse, error) {
	var out FaucetResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/faucet", "", nil, FaucetRequest{AmountSat: amountSat, FeeSat: feeSat}, &out)
	return &out, err
}

// Ready asks /readyz.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/readyz", "", nil, nil, nil)
	return err
}

// TransportError is a request that got no HTTP answer: the broker is down, the host
// unknown, the connection cut.
type TransportError struct {
	URL string // the API base URL
	Err error
}

func (e *TransportError) Error() string {
	return "cannot reach the broker at " + e.URL + ": " + netReason(e.Err)
}
func (e *TransportError) Unwrap() error { return e.Err }

// Permanent tells whether retrying cannot help: the host name does not resolve.
func (e *TransportError) Permanent() bool {
	var dns *net.DNSError
	return errors.As(e.Err, &dns) && dns.IsNotFound
}

// netReason says why a request got no answer, without repeating the URL.
func netReason(err error) string {
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return fmt.Sprintf("host %q not found", dns.Name)
		}
		return "name lookup failed: " + dns.Err
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is powbroker serve running there?)"
	case errors.As(err, &op) && op.Timeout():
		return "no answer in time"
	case errors.As(err, &op):
		return op.Err.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// describeBody names what an answer that is not a problem carried: its type, or its
// first line when short.
func describeBody(ctype string, data []byte) string {
	if ctype != "" && !strings.HasPrefix(ctype, "text/plain") {
		return ctype
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	if len(line) > 80 {
		line = line[:80] + "..."
	}
	if line == "" {
		return "an empty body"
	}
	return fmt.Sprintf("%q", line)
}

// Receipt fetches an order's signed work receipt (paid or mined orders).
func (c *Client) Receipt(ctx context.Context, id, token string) (*receipt.Receipt, error) {
	var r receipt.Receipt
	_, err := c.do(ctx, http.MethodGet, "/v1/orders/"+url.PathEscape(id)+"/receipt", token, nil, nil, &r)
	return &r, err
}

// ReceiptProof fetches the proof that a share (header hash, display hex) is part of
// the order's receipt.
func (c *Client) ReceiptProof(ctx context.Context, id, token, share string) (*receipt.Proof, error) {
	var p receipt.Proof
	_, err := c.do(ctx, http.MethodGet, "/v1/orders/"+url.PathEscape(id)+"/receipt/proof?share="+url.QueryEscape(share), token, nil, nil, &p)
	return &p, err
}
