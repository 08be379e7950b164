package workflows

import "go.temporal.io/sdk/temporal"

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
	Actor Actor  `json:"actor"`
	Note  string `json:"note,omitempty"`
	// Voided names pharmacists whose earlier approval of this request no longer counts: the
	// users directory has deactivated them since. The handler voids their approvals
	// (approval_voided) before it counts this one.
	Voided []string `json:"voided,omitempty"`
}

// RejectInput is a pharmacist's rejection; the reason is required.
type RejectInput struct {
	Actor  Actor  `json:"actor"`
	Reason string `json:"reason"`
}

// CancelInput is a cancellation by the requesting nurse or a pharmacist.
type CancelInput struct {
	Actor  Actor  `json:"actor"`
	Reason string `json:"reason,omitempty"`
}

// WithdrawnInput is the cabinet's report that the medication was taken out.
type WithdrawnInput struct {
	Actor     Actor `json:"actor"`
	CabinetID int64 `json:"cabinet_id"`
}

// Error types of update rejections, so the API can map them to HTTP statuses without
// parsing messages.
const (
	// ErrInvalidState: the request's status does not allow the action (HTTP 409).
	ErrInvalidState = "InvalidState"
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
