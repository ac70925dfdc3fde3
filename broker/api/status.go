package api

import (
	"net/http"

	"github.com/proofow/powbroker/broker"
)

// kindStatus is the HTTP status of each broker problem kind (every kind has one; a test
// checks it). Read only.
var kindStatus = map[broker.Kind]int{
	broker.KindInvalidHex: http.StatusBadRequest, broker.KindInvalidTx: http.StatusUnprocessableEntity,
	broker.KindTrailingBytes: http.StatusUnprocessableEntity, broker.KindMissingInputs: http.StatusUnprocessableEntity,
	broker.KindInputSpent: http.StatusConflict, broker.KindConflict: http.StatusConflict,
	broker.KindScriptFailure: http.StatusUnprocessableEntity, broker.KindNonStandard: http.StatusUnprocessableEntity,
	broker.KindTxTooLarge: http.StatusUnprocessableEntity, broker.KindImmatureSpend: http.StatusUnprocessableEntity,
	broker.KindNotFinal: http.StatusUnprocessableEntity, broker.KindAlreadyMined: http.StatusConflict,
	broker.KindDuplicateOrder: http.StatusConflict, broker.KindNotFound: http.StatusNotFound,
	broker.KindUnauthorized: http.StatusUnauthorized, broker.KindAssignmentNotFound: http.StatusNotFound,
	broker.KindAssignmentMismatch: http.StatusForbidden, broker.KindAssignmentExpired: http.StatusGone,
	broker.KindNonceOutOfRange: http.StatusUnprocessableEntity, broker.KindDuplicateShare: http.StatusConflict,
	broker.KindStaleJob: http.StatusConflict, broker.KindLowDifficulty: http.StatusUnprocessableEntity,
	broker.KindBadShare: http.StatusUnprocessableEntity, broker.KindOrderComplete: http.StatusConflict,
	broker.KindOrderClosed: http.StatusConflict, broker.KindExpired: http.StatusGone,
	broker.KindIdempotencyMismatch: http.StatusUnprocessableEntity, broker.KindInvalidRequest: http.StatusBadRequest,
	broker.KindUnknownField: http.StatusBadRequest, broker.KindBodyTooLarge: http.StatusRequestEntityTooLarge,
	broker.KindSlowDown: http.StatusTooManyRequests, broker.KindNodeUnavailable: http.StatusServiceUnavailable,
	broker.KindNotReady: http.StatusServiceUnavailable, broker.KindFaucetUnavailable: http.StatusNotFound,
	broker.KindStorageUnavailable: http.StatusServiceUnavailable, broker.KindInternal: http.StatusInternalServerError,
	broker.KindNoReceipt: http.StatusConflict, broker.KindShareNotInReceipt: http.StatusNotFound,
}

// statusOf is the HTTP status of problems of a kind (500 for a kind without one).
func statusOf(k broker.Kind) int {
	if s, ok := kindStatus[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}
