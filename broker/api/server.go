package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/metrics"
	"github.com/proofow/powbroker/broker/sse"
	"github.com/proofow/powbroker/broker/web"
)

// Limits on requests.
const (
	MaxBodyBytes     = 512 << 10 // orders and quotes: a transaction of MaxTxBytes as hex fits
	MaxSharesPerPost = 1000
	MaxWait          = 60 * time.Second
)

// openAPI is the API's OpenAPI 3.1 description, served at /v1/openapi.json.
//
//go:embed openapi.json
var openAPI []byte

// ServerOptions tune the HTTP server.
type ServerOptions struct {
	Logger *slog.Logger
	// RequestsPerSecond per client IP (a token bucket with a burst of 4x); 0 = 200.
	RequestsPerSecond float64
	// TokenRequestsPerSecond per order token, whatever the client IP (a burst of 4x);
	// 0 = RequestsPerSecond.
	TokenRequestsPerSecond float64
	// MaxLongPollsPerIP bounds the ?wait= long-polls one client IP has open; 0 = 32.
	MaxLongPollsPerIP int
	// Limits bound slow and large requests (zero fields: DefaultLimits).
	Limits Limits
	// Metrics serves GET /metrics; nil serves a registry of the broker's figures
	// with the Go and process collectors (metrics.New and WatchBroker).
	Metrics http.Handler
	// Workers lists the Stratum sessions for the status page; nil: none.
	Workers WorkerLister
}

// Server serves the API over a broker.
type Server struct {
	b          *broker.Broker
	log        *slog.Logger
	mux        *http.ServeMux
	ipLimit    *keyedLimiter
	tokenLimit *keyedLimiter
	polls      *pollGate
	limits     Limits
	// The status page: its event stream and the Stratum workers it lists.
	hub        *sse.Hub
	workerList WorkerLister
}

// NewServer returns the API handler.
func NewServer(b *broker.Broker, opt ServerOptions) *Server {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rps := opt.RequestsPerSecond
	if rps <= 0 {
		rps = 200
	}
	trps := opt.TokenRequestsPerSecond
	if trps <= 0 {
		trps = rps
	}
	polls := opt.MaxLongPollsPerIP
	if polls <= 0 {
		polls = 32
	}
	s := &Server{b: b, log: log, mux: http.NewServeMux(),
		ipLimit: newKeyedLimiter(rps, int(4*rps)), tokenLimit: newKeyedLimiter(trps, int(4*trps)),
		polls: &pollGate{max: polls, byKey: make(map[string]int)}, limits: opt.Limits.withDefaults(),
		hub: sse.NewHub(sse.Options{}), workerList: opt.Workers}
	s.mux.HandleFunc("POST /v1/quotes", s.handle(s.quote))
	s.mux.HandleFunc("POST /v1/orders", s.handle(s.createOrder))
	s.mux.HandleFunc("GET /v1/orders/{id}", s.handle(s.getOrder))
	s.mux.HandleFunc("DELETE /v1/orders/{id}", s.handle(s.cancelOrder))
	s.mux.HandleFunc("GET /v1/orders/{id}/events", s.handle(s.events))
	s.mux.HandleFunc("POST /v1/orders/{id}/assignments", s.handle(s.assignment))
	s.mux.HandleFunc("POST /v1/orders/{id}/shares", s.handle(s.shares))
	s.mux.HandleFunc("GET /v1/status", s.handle(s.status))
	s.mux.HandleFunc("GET /v1/blocks", s.handle(s.blocks))
	s.mux.HandleFunc("POST /v1/faucet", s.handle(s.faucet))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	s.mux.HandleFunc("GET /readyz", s.handle(s.readyz))
	if opt.Metrics == nil {
		m := metrics.New()
		m.WatchBroker(b)
		opt.Metrics = m.Handler()
	}
	s.mux.Handle("GET /metrics", opt.Metrics)
	s.mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	s.mux.HandleFunc("GET /v1/orders", s.handle(s.listOrders))
	s.mux.HandleFunc("GET /v1/orders/{id}/receipt", s.handle(s.getReceipt))
	s.mux.HandleFunc("GET /v1/orders/{id}/receipt/proof", s.handle(s.getReceiptProof))
	s.mux.HandleFunc("GET /v1/workers", s.handle(s.listWorkers))
	s.mux.HandleFunc("GET /v1/stats", s.handle(s.stats))
	s.mux.Handle("GET /v1/stream", s.hub)
	web.Register(s.mux, s)
	s.mux.HandleFunc("/", s.noRoute)
	return s
}

// Limits returns the server's limits (Serve applies them to the connections).
func (s *Server) Limits() Limits { return s.limits }

// ServeHTTP applies the limits, recovers from panics, and reads what is left of the
// body before the answer goes out (see Limits.DrainBytes).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in handler", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			writeProblem(w, r, problemOf(errors.New("panic")))
		}
		s.drain(w, r)
	}()
	s.startBody(w, r)
	if !s.ipLimit.allow(clientIP(r)) {
		writeProblem(w, r, slowDown("more than the allowed requests per second from %s", clientIP(r)))
		return
	}
	if tok, err := bearer(r); err == nil && !s.tokenLimit.allow(tokenKey(tok)) {
		writeProblem(w, r, slowDown("more than the allowed requests per second for this order"))
		return
	}
	s.mux.ServeHTTP(w, r)
}

func slowDown(format string, args ...any) *Problem {
	p := newProblem(broker.KindSlowDown, format, args...)
	p.RetryAfter = 1
	return p
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// handle adapts a handler that returns its failure: the error becomes a problem.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(err)
	if p.Status >= 500 && p.Type == string(broker.KindInternal) {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeProblem(w, r, p)
}

// readBody reads a bounded body within the body deadline; it returns the raw bytes
// for idempotency hashing.
// probeMethods are the methods noRoute tries on a path that did not match.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// noRoute answers what no route matched: 405 with Allow when the path exists for
// other methods, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range probeMethods {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		writeProblem(w, r, newProblem(broker.KindNotFound, "no endpoint %s %s", r.Method, r.URL.Path))
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeProblem(w, r, &Problem{Type: "method-not-allowed", Title: "Method Not Allowed", Status: http.StatusMethodNotAllowed,
		Detail: fmt.Sprintf("%s %s is not served; this path takes %s", r.Method, r.URL.Path, strings.Join(allow, ", "))})
}

// jsonBody tells whether a request's Content-Type admits a JSON body: none given,
// application/json, or a +json type.
func jsonBody(r *http.Request) (string, bool) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return ct, err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if ct, ok := jsonBody(r); err == nil && !ok && len(bytes.TrimSpace(body)) > 0 {
		endBody(w)
		return nil, &Problem{Type: "unsupported-media-type", Title: "Unsupported Media Type", Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("the body is sent as %q; send it as application/json", ct)}
	}
	if err != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &mbe):
			return nil, newProblem(broker.KindBodyTooLarge, "the request body is larger than %d bytes", limit)
		case errors.As(err, &ne) && ne.Timeout():
			return nil, requestTimeout(s.limits.BodyTimeout)
		}
		return nil, newProblem(broker.KindInvalidRequest, "reading the request body: %v", err)
	}
	endBody(w)
	return body, nil
}

// decodeStrict decodes one JSON object, rejecting unknown fields and trailing data.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return newProblem(broker.KindInvalidRequest, "the request body is empty; a JSON object is expected")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return newProblem(broker.KindUnknownField, "%s is not a field of this request", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return newProblem(broker.KindInvalidRequest, "the body is not the expected JSON: %v", err)
	}
	if dec.More() {
		return newProblem(broker.KindInvalidRequest, "the body has data after the JSON object")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return newProblem(broker.KindInvalidRequest, "the body has data after the JSON object")
	}
	return nil
}

func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", newProblem(broker.KindUnauthorized, "send the order's token as Authorization: Bearer <token>")
	}
	const p = "Bearer "
	if len(h) < len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", newProblem(broker.KindUnauthorized, "the Authorization header must be \"Bearer <token>\"")
	}
	return strings.TrimSpace(h[len(p):]), nil
}

// readTx reads a {"tx": hex} body strictly; body is the request as received.
func (s *Server) readTx(w http.ResponseWriter, r *http.Request) (req TxRequest, body []byte, err error) {
	if body, err = s.readBody(w, r, MaxBodyBytes); err != nil {
		return req, nil, err
	}
	err = decodeStrict(body, &req)
	return req, body, err
}

func (s *Server) quote(w http.ResponseWriter, r *http.Request) error {
	req, _, err := s.readTx(w, r)
	if err != nil {
		return err
	}
	q, err := s.b.Quote(r.Context(), req.Tx)
	if err != nil {
		return err
	}
	rate := 10e6
	if v := r.URL.Query().Get("hashrate"); v != "" {
		f, perr := strconv.ParseFloat(v, 64)
		if perr != nil || !(f > 0) || f > 1e21 {
			return newProblem(broker.KindInvalidRequest, "hashrate %q must be a positive number of hashes per second", v)
		}
		rate = f
	}
	writeJSON(w, http.StatusOK, QuoteResponse{
		Txid: q.Txid, Fee: q.Fee, VSize: q.VSize, Weight: q.Weight, RequiredWork: q.RequiredWork,
		ExpectedHashes: q.ExpectedHashes, ShareDifficulty: q.ShareDifficulty, Hashrate: rate,
		EstimateSeconds: q.ExpectedHashes / rate, Settlement: settlementJSON(q.Settlement),
	})
	return nil
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) error {
	req, body, err := s.readTx(w, r)
	if err != nil {
		return err
	}
	c, err := s.b.CreateOrder(r.Context(), req.Tx, r.Header.Get("Idempotency-Key"), body)
	if err != nil {
		return err
	}
	resp := CreateResponse{
		ID: c.Order.ID, Token: c.Token, State: string(c.Order.State), RequiredWork: c.Order.RequiredWork,
		Order: orderJSON(s.b.View(c.Order)),
	}
	if c.Assignment != nil {
		resp.Assignment = assignmentJSON(s.b.AssignmentView(c.Assignment))
	}
	status := http.StatusCreated
	if c.Replayed {
		status = http.StatusOK
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/v1/orders/"+c.Order.ID)
	writeJSON(w, status, resp)
	return nil
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) error {
	token, err := bearer(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, perr := time.ParseDuration(v)
		if perr != nil {
			n, nerr := strconv.Atoi(v)
			if nerr != nil {
				return newProblem(broker.KindInvalidRequest, "wait %q must be a duration like 30s", v)
			}
			d = time.Duration(n) * time.Second
		}
		if d < 0 || d > MaxWait {
			return newProblem(broker.KindInvalidRequest, "wait %s must be between 0 and %s", d, MaxWait)
		}
		wait = d
	}
	etag := r.Header.Get("If-None-Match")
	var v *broker.View
	if wait > 0 {
		ip := clientIP(r)
		if !s.polls.enter(ip) {
			return slowDown("more than %d long-polls open at once from %s", s.polls.max, ip)
		}
		defer s.polls.leave(ip)
		v, _, err = s.b.WaitOrder(r.Context(), id, token, etag, wait)
	} else {
		v, err = s.b.Order(r.Context(), id, token)
	}
	if err != nil {
		if r.Context().Err() != nil {
			return nil
		}
		return err
	}
	w.Header().Set("ETag", v.ETag())
	if etag != "" && etag == v.ETag() {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	writeJSON(w, http.StatusOK, orderJSON(v))
	return nil
}

// byToken calls f with the request's context, the order id of its path and its bearer
// token.
func byToken[T any](r *http.Request, f func(ctx context.Context, id, token string) (T, error)) (T, error) {
	token, err := bearer(r)
	if err != nil {
		var zero T
		return zero, err
	}
	return f(r.Context(), r.PathValue("id"), token)
}

func (s *Server) cancelOrder(w http.ResponseWriter, r *http.Request) error {
	v, err := byToken(r, s.b.Cancel)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, orderJSON(v))
	return nil
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	evs, err := byToken(r, s.b.Events)
	if err != nil {
		return err
	}
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		out = append(out, Event{At: e.At.UTC(), From: string(e.From), To: string(e.To), Detail: e.Detail})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) assignment(w http.ResponseWriter, r *http.Request) error {
	token, err := bearer(r)
	if err != nil {
		return err
	}
	if _, err := s.readBody(w, r, 1024); err != nil {
		return err
	}
	a, err := s.b.NextAssignment(r.Context(), r.PathValue("id"), token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, assignmentJSON(a))
	return nil
}

func (s *Server) shares(w http.ResponseWriter, r *http.Request) error {
	token, err := bearer(r)
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r, 128<<10)
	if err != nil {
		return err
	}
	var req SharesRequest
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	if len(req.Shares) > MaxSharesPerPost {
		return newProblem(broker.KindInvalidRequest, "%d shares in one request; at most %d", len(req.Shares), MaxSharesPerPost)
	}
	posts := make([]broker.SharePost, len(req.Shares))
	for i, sh := range req.Shares {
		posts[i] = broker.SharePost{AssignmentID: sh.AssignmentID, Nonce: sh.Nonce}
	}
	outs, view, err := s.b.SubmitShares(r.Context(), r.PathValue("id"), token, posts)
	if err != nil {
		return err
	}
	resp := SharesResponse{Results: make([]ShareOut, len(outs)), Order: orderJSON(view), Stop: view.Stop()}
	if j := s.b.CurrentJob(); j != nil {
		resp.Job = j.ID
	}
	for i, o := range outs {
		so := ShareOut{AssignmentID: o.Post.AssignmentID, Nonce: o.Post.Nonce}
		var se *broker.ShareError
		if errors.As(o.Err, &se) {
			so.Block, so.BlockAccepted = se.Block, se.BlockAccepted
			so.Hash = displayHash(se.Hash)
		}
		if o.Err != nil {
			so.Problem = problemOf(o.Err)
			resp.Rejected++
		} else {
			so.Accepted, so.Block, so.Hash, so.Difficulty = true, o.Result.Block, displayHash(o.Result.Hash), o.Result.Difficulty
			so.BlockAccepted = o.Result.BlockAccepted
			resp.Accepted++
		}
		resp.Results[i] = so
	}
	if resp.Accepted == 0 && resp.Rejected > 0 {
		// Nothing accepted: the request failed; say why with the first share's problem.
		p := *resp.Results[0].Problem
		p.Results, p.Order = resp.Results, resp.Order
		writeProblem(w, r, &p)
		return nil
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	st, err := s.b.Status(r.Context())
	if err != nil {
		return err
	}
	out := Status{
		Network: st.Network, Ready: st.Ready, NotReadyReason: st.NotReadyReason,
		TipHash: st.Tip.Hash.String(), TipHeight: st.Tip.Height, NetworkDifficulty: st.NetworkDifficulty,
		ShareDifficulty: st.ShareDifficulty, JobID: st.JobID, JobOrders: st.JobOrders,
		Orders: make(map[string]int), SharesAccepted: st.SharesAccepted, SharesRejected: st.SharesRejected,
		BlocksFound: st.BlocksFound, Hashrate: st.Hashrate, UptimeSeconds: st.Uptime.Seconds(),
		TipTime: st.Tip.MedianTime.UTC(), PublicKey: s.b.ReceiptPublicKey(),
	}
	for k, v := range st.Orders {
		out.Orders[string(k)] = v
	}
	out.RejectedBy = make(map[string]int64, len(st.RejectedBy))
	for k, v := range st.RejectedBy {
		out.RejectedBy[string(k)] = v
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) blocks(w http.ResponseWriter, r *http.Request) error {
	bs, err := s.b.Blocks(r.Context())
	if err != nil {
		return err
	}
	out := make([]Block, 0, len(bs))
	for _, b := range bs {
		out = append(out, blockJSON(b))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func blockJSON(b *broker.Block) Block {
	return Block{Hash: b.Hash, Height: b.Height, PrevHash: b.PrevHash, Txids: b.Txids, Orders: b.OrderIDs,
		Accepted: b.Accepted, Reason: b.Reason, FoundAt: b.FoundAt.UTC()}
}

func (s *Server) faucet(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, 4096)
	if err != nil {
		return err
	}
	var req FaucetRequest
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	if req.AmountSat == 0 {
		req.AmountSat = btcutil.SatoshiPerBitcoin / 100
	}
	tx, err := s.b.Faucet(r.Context(), req.AmountSat, req.FeeSat)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return fmt.Errorf("serialize faucet tx: %w", err)
	}
	writeJSON(w, http.StatusOK, FaucetResponse{Tx: hex.EncodeToString(buf.Bytes()), Txid: tx.TxHash().String(),
		AmountSat: req.AmountSat, FeeSat: req.FeeSat})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.b.Ready(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
	return nil
}

// Serve runs the API on ln until ctx ends, then shuts down gracefully. A handler with
// a Limits method (a *Server) gets its limits applied, any other DefaultLimits. The
// body timeout is applied per request by the Server, not as the http.Server's
// ReadTimeout, which would also cut long-polls off (it stays armed while the handler
// runs, and the server's background read then cancels the request).
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	lim := DefaultLimits()
	if l, ok := h.(interface{ Limits() Limits }); ok {
		lim = l.Limits()
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		WriteTimeout:      MaxWait + 15*time.Second,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if l, ok := h.(interface{ liveLoop(context.Context) }); ok {
		go l.liveLoop(ctx)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		_ = srv.Close()
	}
	<-errc
	if log != nil {
		log.Info("http server stopped")
	}
	return nil
}
