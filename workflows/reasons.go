package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/internal/textcheck"
)

// ReasonCode says why a request stopped where it did, or why a step of it failed. A request's
// reason is a fixed phrase per code (plus what a person or the cabinet said, where there is
// such a text); internal errors stay in the logs. README lists the codes.
type ReasonCode string

// Reason codes.
const (
	ReasonInsufficientStock    ReasonCode = "insufficient_stock"
	ReasonCabinetRefused       ReasonCode = "cabinet_refused"
	ReasonCabinetUnreachable   ReasonCode = "cabinet_unreachable"
	ReasonCabinetNotConfigured ReasonCode = "cabinet_not_configured"
	ReasonInvalidData          ReasonCode = "invalid_data"
	ReasonRejected             ReasonCode = "rejected"
	ReasonCancelled            ReasonCode = "cancelled"
	ReasonApprovalExpired      ReasonCode = "approval_deadline_passed"
	ReasonWithdrawalExpired    ReasonCode = "withdrawal_window_passed"
	ReasonWorkflowCancelled    ReasonCode = "workflow_cancelled"
)

// maxForeignText bounds what a cabinet's own words may add to a reason.
const maxForeignText = 200

// why is the reason a transition carries: its code and its words.
type why struct {
	code ReasonCode
	text string
}

// because is a reason with a code; noReason is none.
func because(code ReasonCode, text string) why { return why{code, text} }

var noReason = why{}

// note is a reason without a code: something worth saying that does not end the request
// (an escalation, the first of two approvals).
func note(text string) why { return why{text: text} }

// cabinetFailure words the failure of a cabinet command after its attempts.
func cabinetFailure(err error, attempts int32) why {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		switch appErr.Type() {
		case activities.ErrCabinetRefused:
			return because(ReasonCabinetRefused, withForeign("the cabinet refused the order", appErr))
		case activities.ErrUnknownCabinet, activities.ErrCabinetNotConfigured:
			return because(ReasonCabinetNotConfigured, withForeign("the cabinet cannot take orders", appErr))
		case activities.ErrInvalidData, activities.ErrNotFound:
			return because(ReasonInvalidData, "the order holds data the system cannot use")
		}
	}
	return because(ReasonCabinetUnreachable, fmt.Sprintf("the cabinet did not answer (%d attempts)", attempts))
}

// deliveryFailure words the failure of a cabinet command (what: "the order", "the cancel")
// sent since durableDelivery: a refusal or a cabinet that cannot take orders as
// cabinetFailure does, else a cabinet that did not acknowledge it within the window.
func deliveryFailure(err error, what string, window time.Duration) why {
	w := cabinetFailure(err, 0)
	if w.code != ReasonCabinetUnreachable {
		return w
	}
	return because(ReasonCabinetUnreachable, "the cabinet did not acknowledge "+what+" within the withdrawal window ("+window.String()+")")
}

// admissionFailure words an admission that failed other than for want of stock.
func admissionFailure(err error) why {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == activities.ErrInsufficientStock {
		return because(ReasonInsufficientStock, appErr.Message())
	}
	return because(ReasonInvalidData, "the request holds data the system cannot use")
}

// withForeign appends the first detail of an application error (a cabinet's own words, or
// the activity's fixed explanation), cleaned and bounded, to a fixed phrase.
func withForeign(phrase string, appErr *temporal.ApplicationError) string {
	var text string
	if appErr.HasDetails() && appErr.Details(&text) == nil && text != "" {
		return phrase + ": " + textcheck.Clean(text, maxForeignText)
	}
	return phrase
}
