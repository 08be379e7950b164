package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/requests"
)

// Error codes of the JSON error body. Clients switch on these, never on messages.
const (
	CodeInvalidJSON       = "invalid_json"
	CodeValidation        = "validation_failed"
	CodeNotFound          = "not_found"
	CodeConflict          = "conflict"
	CodeInvalidState      = "invalid_state"
	CodeDuplicateApproval = "duplicate_approval"
	CodeUnauthorized      = "unauthorized"
	CodeForbidden         = "forbidden"
	CodeTooLarge          = "payload_too_large"
	CodeIdempotencyReuse  = "idempotency_key_reused"
	CodeControlledStock   = "controlled_stock"
	CodeSamePerson        = "same_person"
	CodeControlledInStock = "controlled_list_in_stock"
	CodeUnavailable       = "unavailable"
	CodeInternal          = "internal"
)

// ErrorBody is the envelope of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a stable code, a sentence for people, and optional
// structured details (for validation, one entry per bad field).
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// FieldError names one invalid field of a request body.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// apiError is an error that already knows its HTTP response.
type apiError struct {
	status int
	detail ErrorDetail
}

func (e *apiError) Error() string { return e.detail.Message }

func newError(status int, code, msg string, details any) *apiError {
	return &apiError{status: status, detail: ErrorDetail{Code: code, Message: msg, Details: details}}
}

func notFound(what string) *apiError {
	return newError(http.StatusNotFound, CodeNotFound, what+" not found", nil)
}

func validation(fields []FieldError) *apiError {
	return newError(http.StatusUnprocessableEntity, CodeValidation, "the request is invalid", fields)
}

// abort writes err as the response. It is the one place where errors become HTTP statuses:
// the request service's refusals (requests.Error), the data layer's errors (package pyxis)
// and Temporal's are mapped here, and anything unexpected is logged and answered 500 without
// its text, which may hold SQL or internals.
func abort(c *gin.Context, err error) {
	status, detail := classify(err)
	if status == http.StatusServiceUnavailable {
		// A dependency is down or slow: say when to come back, as RFC 9110 suggests.
		c.Header("Retry-After", retryAfterSeconds)
	}
	if status >= 500 {
		slog.ErrorContext(c.Request.Context(), "request failed", "error", err, "path", c.FullPath(), "request_id", c.GetString(requestIDKey))
	}
	_ = c.Error(err) // kept on the context for middleware that acts on what failed
	c.AbortWithStatusJSON(status, ErrorBody{Error: detail})
}

func classify(err error) (int, ErrorDetail) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.detail
	}
	var refused *requests.Error
	if errors.As(err, &refused) {
		return refusal(refused)
	}
	switch {
	case errors.Is(err, pyxis.ErrNotFound):
		return http.StatusNotFound, ErrorDetail{Code: CodeNotFound, Message: "not found"}
	case errors.Is(err, pyxis.ErrConflict):
		return http.StatusConflict, ErrorDetail{Code: CodeConflict, Message: "already exists"}
	case errors.Is(err, pyxis.ErrNotOpen):
		return http.StatusConflict, ErrorDetail{Code: CodeInvalidState, Message: "it is no longer open: resolved or completed already"}
	case errors.Is(err, pyxis.ErrControlledStock):
		return http.StatusConflict, ErrorDetail{Code: CodeControlledStock, Message: "on_hand of a controlled medication changes only " +
			"through a count (POST /v1/cabinets/{id}/counts, which records a discrepancy a pharmacist resolves with set_on_hand) " +
			"or a load (POST /v1/cabinets/{id}/loads); this call may change par_level only"}
	case errors.Is(err, pyxis.ErrSamePerson):
		return http.StatusConflict, ErrorDetail{Code: CodeSamePerson, Message: "a discrepancy is resolved by someone other than " +
			"who counted, wasted or reported the vend in question"}
	case errors.Is(err, pyxis.ErrControlledInStock):
		return http.StatusConflict, ErrorDetail{Code: CodeControlledInStock, Message: "the controlled list of a medication cannot be " +
			"lowered or removed while any pocket holds it (raising it is always allowed)"}
	case errors.Is(err, pyxis.ErrStockBelowReserved):
		return http.StatusConflict, ErrorDetail{Code: CodeConflict, Message: "on_hand cannot go below what is reserved for pending requests"}
	case errors.Is(err, pyxis.ErrIdempotencyMismatch):
		return http.StatusUnprocessableEntity, ErrorDetail{Code: CodeIdempotencyReuse, Message: "this Idempotency-Key was used for a different request"}
	case errors.Is(err, pyxis.ErrInvalid):
		return http.StatusUnprocessableEntity, ErrorDetail{Code: CodeValidation, Message: "a value is out of range"}
	case errors.Is(err, pyxis.ErrInvalidCursor):
		return http.StatusBadRequest, ErrorDetail{Code: CodeValidation, Message: "invalid cursor"}
	}
	if unavailable(err) {
		return http.StatusServiceUnavailable, ErrorDetail{Code: CodeUnavailable, Message: "the request service is not answering; try again shortly"}
	}
	return http.StatusInternalServerError, ErrorDetail{Code: CodeInternal, Message: "internal error"}
}

// refusal is the answer to a refusal of the request service (or of a workflow update the api
// sends itself, translated by requests.Refusal). A NotFound of a new request names, in its
// details, the field of the body that names what is missing.
func refusal(e *requests.Error) (int, ErrorDetail) {
	detail := ErrorDetail{Message: e.Message}
	var status int
	switch e.Kind {
	case requests.NotFound:
		status, detail.Code = http.StatusNotFound, CodeNotFound
		if len(e.Missing) > 0 {
			detail.Details = missingFields(e.Missing)
		}
	case requests.InvalidState:
		status, detail.Code = http.StatusConflict, CodeInvalidState
	case requests.DuplicateApproval:
		status, detail.Code = http.StatusConflict, CodeDuplicateApproval
	case requests.Forbidden:
		status, detail.Code = http.StatusForbidden, CodeForbidden
	default:
		status, detail.Code = http.StatusUnprocessableEntity, CodeValidation
		if len(e.Missing) > 0 {
			detail.Details = missingFields(e.Missing)
		}
	}
	return status, detail
}

// missingFields names the fields of a create body that name what does not exist.
func missingFields(missing []requests.Missing) []FieldError {
	out := make([]FieldError, len(missing))
	for i, m := range missing {
		if m.Line < 0 {
			out[i] = FieldError{Field: "cabinet_id", Message: fmt.Sprintf("no cabinet %d", m.ID)}
		} else {
			msg := fmt.Sprintf("no medication %d", m.ID)
			if m.Inactive {
				msg = fmt.Sprintf("medication %d is deactivated", m.ID)
			}
			out[i] = FieldError{Field: fmt.Sprintf("items[%d].medication_id", m.Line), Message: msg}
		}
	}
	return out
}

// retryAfterSeconds is what a 503 asks the client to wait before trying again.
const retryAfterSeconds = "5"

// unavailable reports whether err means a dependency (Postgres, Temporal) did not answer, or
// the workflow did not take an action in time, or cannot take one now (WorkflowNotReady: its
// last workflow task failed or timed out, as while its database steps retry through a
// Postgres outage): the same call may succeed shortly.
func unavailable(err error) bool {
	var (
		down      *serviceerror.Unavailable
		deadline  *serviceerror.DeadlineExceeded
		exhausted *serviceerror.ResourceExhausted
		notReady  *serviceerror.WorkflowNotReady
	)
	return errors.Is(err, pyxis.ErrUnavailable) || errors.As(err, &down) || errors.As(err, &deadline) ||
		errors.As(err, &exhausted) || errors.As(err, &notReady) || errors.Is(err, requests.ErrWorkflowTimeout) ||
		errors.Is(err, context.DeadlineExceeded)
}
