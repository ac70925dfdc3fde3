package broker

import (
	"errors"
	"fmt"
	"sort"
)

// Kind is a stable identifier of a problem, used as the problem type of HTTP errors
// and shown to users. The broker keeps kinds and their titles only; each transport
// maps every kind to its own code (broker/api: an HTTP status, broker/stratumpool: a
// Stratum error code), and its tests check that every kind of Kinds has an entry.
type Kind string

// Problem kinds.
const (
	KindInvalidHex          Kind = "invalid-hex"
	KindInvalidTx           Kind = "invalid-tx"
	KindTrailingBytes       Kind = "trailing-bytes"
	KindMissingInputs       Kind = "missing-inputs"
	KindInputSpent          Kind = "input-spent"
	KindConflict            Kind = "conflict"
	KindScriptFailure       Kind = "script-failure"
	KindNonStandard         Kind = "non-standard"
	KindTxTooLarge          Kind = "tx-too-large"
	KindImmatureSpend       Kind = "immature-spend"
	KindNotFinal            Kind = "not-final"
	KindAlreadyMined        Kind = "already-mined"
	KindDuplicateOrder      Kind = "duplicate-order"
	KindNotFound            Kind = "not-found"
	KindUnauthorized        Kind = "unauthorized"
	KindAssignmentNotFound  Kind = "assignment-not-found"
	KindAssignmentMismatch  Kind = "assignment-mismatch"
	KindAssignmentExpired   Kind = "assignment-expired"
	KindNonceOutOfRange     Kind = "nonce-out-of-range"
	KindDuplicateShare      Kind = "duplicate-share"
	KindStaleJob            Kind = "stale-job"
	KindLowDifficulty       Kind = "low-difficulty"
	KindBadShare            Kind = "bad-share"
	KindOrderComplete       Kind = "order-complete"
	KindOrderClosed         Kind = "order-closed"
	KindExpired             Kind = "expired"
	KindIdempotencyMismatch Kind = "idempotency-mismatch"
	KindInvalidRequest      Kind = "invalid-request"
	KindUnknownField        Kind = "unknown-field"
	KindBodyTooLarge        Kind = "body-too-large"
	KindSlowDown            Kind = "slow-down"
	KindNodeUnavailable     Kind = "node-unavailable"
	KindNotReady            Kind = "not-ready"
	KindFaucetUnavailable   Kind = "faucet-unavailable"
	KindStorageUnavailable  Kind = "storage-unavailable"
	KindInternal            Kind = "internal"
	KindNoReceipt           Kind = "no-receipt"
	KindShareNotInReceipt   Kind = "share-not-in-receipt"
)

var kindTitle = map[Kind]string{
	KindInvalidHex: "Transaction is not valid hex", KindInvalidTx: "Not a valid transaction",
	KindTrailingBytes: "Bytes after the transaction", KindMissingInputs: "Transaction spends an output that does not exist",
	KindInputSpent: "Transaction spends an output that is already spent", KindConflict: "Transaction conflicts with another one",
	KindScriptFailure: "Signature or script check failed", KindNonStandard: "Transaction is not standard",
	KindTxTooLarge: "Transaction is too large", KindImmatureSpend: "Transaction spends an immature coinbase",
	KindNotFinal: "Transaction is not final yet", KindAlreadyMined: "Transaction is already in the chain",
	KindDuplicateOrder: "Transaction already has an order", KindNotFound: "No such order",
	KindUnauthorized: "Missing bearer token", KindAssignmentNotFound: "No such assignment",
	KindAssignmentMismatch: "Assignment belongs to another order", KindAssignmentExpired: "Assignment expired",
	KindNonceOutOfRange: "Nonce outside the assignment's range", KindDuplicateShare: "Duplicate share",
	KindStaleJob: "Share for a stale job", KindLowDifficulty: "Share does not meet the share target",
	KindBadShare: "Malformed share", KindOrderComplete: "Order needs no more work",
	KindOrderClosed: "Order is closed", KindExpired: "Order expired",
	KindIdempotencyMismatch: "Idempotency-Key reused with a different request", KindInvalidRequest: "Malformed request",
	KindUnknownField: "Unknown field in request", KindBodyTooLarge: "Request body too large",
	KindSlowDown: "Too many requests", KindNodeUnavailable: "Chain node unavailable",
	KindNotReady: "Broker not ready", KindFaucetUnavailable: "No faucet on this network",
	KindStorageUnavailable: "Storage unavailable", KindInternal: "Internal error",
	KindNoReceipt: "Order has no receipt yet", KindShareNotInReceipt: "Share is not part of the receipt",
}

// Title is a short summary of problems of this kind.
func (k Kind) Title() string { return kindTitle[k] }

// Kinds lists every problem kind, sorted.
func Kinds() []Kind {
	out := make([]Kind, 0, len(kindTitle))
	for k := range kindTitle {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Error is a problem the broker reports to a user: a kind and a precise message.
type Error struct {
	Kind   Kind
	Detail string
	Err    error
}

func (e *Error) Error() string { return string(e.Kind) + ": " + e.Detail }
func (e *Error) Unwrap() error { return e.Err }

func problem(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err, KindInternal when it carries none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}
