package requests

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis/workflows"
)

// Kind says why the service refused a call; callers switch on it, never on messages.
type Kind int

// Kinds of refusal.
const (
	// NotFound: the request, cabinet or medication the call names does not exist, or the
	// caller may not learn that it does.
	NotFound Kind = iota + 1
	// InvalidState: the request's status does not allow the action now, or it has ended.
	InvalidState
	// DuplicateApproval: this pharmacist has approved the request already.
	DuplicateApproval
	// Forbidden: this actor may not do this to this request.
	Forbidden
	// Invalid: the workflow found the call's input unusable.
	Invalid
)

// Error is a refusal of the service: its kind, and words for people.
type Error struct {
	Kind    Kind
	Message string
	// Missing names what a NotFound refusal of a new request did not find: the cabinet, or
	// the medications of some of its lines; for an Invalid one, the deactivated medications.
	Missing []Missing
	// Err is the cause, when another error was translated (an update's rejection).
	Err error
}

// Missing is one thing a new request names that does not exist: its cabinet (Line -1), or
// the medication of its line Line (from 0).
type Missing struct {
	Line int
	ID   int64
	// Inactive: the medication exists but is deactivated (an Invalid refusal).
	Inactive bool
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func refuse(kind Kind, msg string) *Error { return &Error{Kind: kind, Message: msg} }

func notFound(what string) *Error { return refuse(NotFound, what+" not found") }

// ErrWorkflowTimeout marks an action the workflow did not take in time (no worker runs, or
// the request's steps retry through an outage): the same call may succeed shortly.
var ErrWorkflowTimeout = errors.New("workflow did not answer in time")

// Refusal translates the rejection of a workflow update by its validator (a temporal
// application error of one of the workflows' rejection types) into a refusal; any other error
// is returned as it is. The service translates every update it sends; a caller that sends
// updates of its own (a refill's confirmation) translates them with it too.
func Refusal(err error) error {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return err
	}
	kind := map[string]Kind{
		workflows.ErrInvalidState:      InvalidState,
		workflows.ErrDuplicateApproval: DuplicateApproval,
		workflows.ErrForbidden:         Forbidden,
		workflows.ErrInvalidInput:      Invalid,
	}[appErr.Type()]
	if kind == 0 {
		return err
	}
	return &Error{Kind: kind, Message: appErr.Message(), Err: err}
}
