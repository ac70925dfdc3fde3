package web

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"time"
)

//go:embed static
var static embed.FS

// Overview is what the overview page renders on the server.
type Overview struct {
	Network           string
	Ready             bool
	NotReadyReason    string
	TipHeight         int32
	TipHash           string
	TipTime           time.Time
	NetworkDifficulty float64
	ShareDifficulty   float64
	Hashrate          float64
	SharesAccepted    int64
	SharesRejected    int64
	RejectedBy        []Count
	Orders            map[string]int
	BlocksAccepted    int
	BlocksRejected    int
	Workers           int
	PublicKey         string
	Recent            []OrderRow // the newest orders
}

// OrderRow is an order in the overview's list.
type OrderRow struct {
	ID       string
	State    string
	Progress float64 // 0..1
}

// Percent renders the progress for a width or a label.
func (o OrderRow) Percent() string { return fmt.Sprintf("%.1f", min(1, o.Progress)*100) }

// Count is a named number.
type Count struct {
	Name string
	N    int64
}

// Source gives the overview's data.
type Source interface {
	Overview(ctx context.Context) (*Overview, error)
}

// Handler serves the pages and their assets.
type Handler struct {
	src  Source
	page *template.Template
}

// states lists the order states in life-cycle order.
var states = [...]string{"working", "paid", "mined", "confirmed", "expired", "canceled", "failed"}

// Register adds the pages to mux: GET /, /orders, /order, /workers, /blocks and
// /assets/.
func Register(mux *http.ServeMux, src Source) {
	h := New(src)
	mux.Handle("GET /{$}", h)
	for _, p := range []string{"/orders", "/order", "/workers", "/blocks"} {
		mux.Handle("GET "+p, h)
	}
	assets, _ := fs.Sub(static, "static")
	files := http.FileServerFS(assets)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})))
}

// New returns the page handler.
func New(src Source) *Handler {
	funcs := template.FuncMap{"num": Number, "rate": Hashrate, "when": when, "states": func() []string { return states[:] }}
	t := template.Must(template.New("page.html").Funcs(funcs).ParseFS(static, "static/page.html"))
	return &Handler{src: src, page: t}
}

var titles = map[string]string{"/": "Overview", "/orders": "Orders", "/order": "Your order", "/workers": "Workers", "/blocks": "Blocks"}

// ServeHTTP renders a page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Page, Title string
		O           *Overview
		Err         string
	}{Page: r.URL.Path, Title: titles[r.URL.Path]}
	if data.Page == "/" {
		o, err := h.src.Overview(r.Context())
		if err != nil {
			data.Err = err.Error()
		}
		data.O = o
	}
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, data); err != nil {
		http.Error(w, "rendering the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(buf.Bytes())
}

// Number renders a number compactly: up to 4 significant digits, with k, M, G, T.
func Number(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v)
	}
	a := math.Abs(v)
	for _, u := range []struct {
		f float64
		s string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if a >= u.f {
			return fmt.Sprintf("%.4g%s", v/u.f, u.s)
		}
	}
	return fmt.Sprintf("%.4g", v)
}

// Hashrate renders hashes per second.
func Hashrate(v float64) string { return Number(v) + "H/s" }

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
