// Package api is powbroker's HTTP API (ProofOW API v1, DESIGN.md §8): the handlers
// over a broker.Broker, RFC 9457 problem+json errors, bearer tokens, idempotent order
// creation and long-polling, and Client, the Go client both command-line programs use.
package api
