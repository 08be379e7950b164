package workflows

import (
	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis"
)

// TaskQueue is the one task queue of the medication request workflows and their activities;
// the worker polls it and the API starts workflows on it.
const TaskQueue = "medication-requests"

// StateQuery returns the request's whole State.
const StateQuery = "state"

// People and cabinets act on a request through Workflow Updates rather than signals: the
// validator checks the current state before anything is written to history, so approving a
// request that is not awaiting approval is refused (the API answers 409) and changes nothing,
// with no race between a query and a signal. The handler returns the new State.
const (
	ApproveUpdate   = "approve"
	RejectUpdate    = "reject"
	CancelUpdate    = "cancel"
	WithdrawnUpdate = "withdrawn"
)

// ApproveInput is a pharmacist's approval.
type ApproveInput struct {
	Actor pyxis.Actor `json:"actor"`
	Note  string      `json:"note,omitempty"`
	// Registration is the approver's professional registration (CRF) in the users directory,
	// "" for none. Two approvals of one registration are one person's, whatever the user ids.
	Registration string `json:"registration,omitempty"`
	// Voided names pharmacists whose earlier approval of this request no longer counts: the
	// users directory has deactivated them since. The handler voids their approvals
	// (approval_voided) before it counts this one.
	Voided []string `json:"voided,omitempty"`
}

// RejectInput is a pharmacist's rejection; the reason is required.
type RejectInput struct {
	Actor  pyxis.Actor `json:"actor"`
	Reason string      `json:"reason"`
}

// CancelInput is a cancellation by the requesting nurse or a pharmacist.
type CancelInput struct {
	Actor  pyxis.Actor `json:"actor"`
	Reason string      `json:"reason,omitempty"`
}

// WithdrawnInput is a report that medication was taken out of the cabinet for the request.
type WithdrawnInput struct {
	Actor     pyxis.Actor `json:"actor"`
	CabinetID int64       `json:"cabinet_id"`
	// Lines are what the cabinet dispensed, per medication, as it counted them; they may
	// differ from the order. None means every line not yet withdrawn, as ordered (a report
	// that does not say what: the API's, older cabinets').
	Lines []pyxis.Line `json:"lines,omitempty"`
	// ReportID identifies the report (the cabinet's message control id, or the API call's
	// request id), for the records it leaves.
	ReportID string `json:"report_id,omitempty"`
	// Source is where the report came from: cabinet, api or simulator.
	Source string `json:"source,omitempty"`
}

// MaxVendQuantity bounds the quantity of one line of a withdrawal report.
const MaxVendQuantity = 10000

// Error types of update rejections, so the API can map them to HTTP statuses without
// parsing messages.
const (
	// ErrInvalidState: the request's status does not allow the action (HTTP 409).
	ErrInvalidState = "InvalidState"
	// ErrNotYet: a withdrawal reported between the approval and the cabinet's confirmation of
	// the authorization (the cabinet answered, the workflow has not heard yet): the same
	// report applies once it has (HTTP 409 to a person; an inbox retry for a cabinet).
	ErrNotYet = "NotYet"
	// ErrForbidden: this actor may not take this action on this request (HTTP 403).
	ErrForbidden = "Forbidden"
	// ErrInvalidInput: the update's payload is unusable (HTTP 422).
	ErrInvalidInput = "InvalidInput"
	// ErrDuplicateApproval: this pharmacist has already approved the request (HTTP 409); a
	// second approval must come from a different pharmacist.
	ErrDuplicateApproval = "DuplicateApproval"
)

// Search attributes the workflow keeps current so operators can list requests in the Web UI,
// for example `RequestStatus="awaiting_approval" AND Priority="stat"`. None carries patient data.
var (
	RequestStatusKey = temporal.NewSearchAttributeKeyKeyword("RequestStatus")
	CabinetCodeKey   = temporal.NewSearchAttributeKeyKeyword("CabinetCode")
	PriorityKey      = temporal.NewSearchAttributeKeyKeyword("Priority")
	RequestedByKey   = temporal.NewSearchAttributeKeyKeyword("RequestedBy")
)

// SearchAttributeNames lists the custom keyword search attributes the namespace must have
// registered before a worker runs these workflows.
var SearchAttributeNames = []string{
	RequestStatusKey.GetName(), CabinetCodeKey.GetName(), PriorityKey.GetName(), RequestedByKey.GetName(),
}
