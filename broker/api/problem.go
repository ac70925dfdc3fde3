package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/proofow/powbroker/broker"
)

// ProblemContentType is the media type of RFC 9457 problem details.
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem detail. Type is a stable identifier (a relative URI
// such as "invalid-tx"); Detail says what happened in words a person understands.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance,omitempty"`
	// Extensions for the shares endpoint when no share of a batch was accepted.
	Results []ShareOut `json:"results,omitempty"`
	Order   *Order     `json:"order,omitempty"`
	// RetryAfter is set from the Retry-After header by the client.
	RetryAfter int `json:"-"`
}

func (p *Problem) Error() string {
	if p.Detail == "" {
		return p.Type
	}
	return fmt.Sprintf("%s: %s", p.Type, p.Detail)
}

// Is matches problems by type, so errors.Is(err, &Problem{Type: "not-found"}) works.
func (p *Problem) Is(target error) bool {
	var t *Problem
	return errors.As(target, &t) && t.Type == p.Type
}

// problemOf turns any error into a problem; internal errors keep their text out.
func problemOf(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var be *broker.Error
	if errors.As(err, &be) {
		return &Problem{Type: string(be.Kind), Title: be.Kind.Title(), Status: statusOf(be.Kind), Detail: be.Detail}
	}
	k := broker.KindInternal
	return &Problem{Type: string(k), Title: k.Title(), Status: statusOf(k), Detail: "the broker failed to handle the request; it was logged"}
}

func newProblem(kind broker.Kind, format string, args ...any) *Problem {
	return &Problem{Type: string(kind), Title: kind.Title(), Status: statusOf(kind), Detail: fmt.Sprintf(format, args...)}
}

func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Status == 0 {
		p.Status = http.StatusInternalServerError
	}
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	if p.Status == http.StatusTooManyRequests || p.Status == http.StatusServiceUnavailable {
		retry := p.RetryAfter
		if retry <= 0 {
			retry = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="powbroker", error="invalid_request"`)
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
