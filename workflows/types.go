// Package workflows defines the MedicationRequest workflow: the durable lifecycle of one
// medication request, from the nurse's submission to the cabinet's withdrawal report. Its
// state, message names and payload types live here too, because the API shares them.
package workflows

import (
	"slices"
	"time"

	"github.com/medreq/pyxis"
)

// Status is where a medication request stands in its lifecycle.
type Status string

// The lifecycle of DESIGN.md. The last five are terminal.
const (
	StatusSubmitted        Status = "submitted"
	StatusAwaitingApproval Status = "awaiting_approval"
	StatusApproved         Status = "approved"
	StatusReadyAtCabinet   Status = "ready_at_cabinet"
	StatusDispensed        Status = "dispensed"
	StatusRejected         Status = "rejected"
	StatusCancelled        Status = "cancelled"
	StatusExpired          Status = "expired"
	StatusFailed           Status = "failed"
)

// Statuses lists every status, in lifecycle order; the API validates filters against it.
var Statuses = []Status{
	StatusSubmitted, StatusAwaitingApproval, StatusApproved, StatusReadyAtCabinet,
	StatusDispensed, StatusRejected, StatusCancelled, StatusExpired, StatusFailed,
}

// Valid reports whether s is one of the lifecycle's statuses.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Terminal reports whether no transition leaves s.
func (s Status) Terminal() bool {
	switch s {
	case StatusDispensed, StatusRejected, StatusCancelled, StatusExpired, StatusFailed:
		return true
	}
	return false
}

// Passing reports whether the system's own next step leaves s, with nobody to act first:
// submitted (the admission reserves the lines) and approved (the cabinet is commanded). A
// request seen there for long is stuck (pyxis check); a reader waiting for a change is
// answered once it moves on (GET /v1/requests/{id}?wait).
func (s Status) Passing() bool {
	return s == StatusSubmitted || s == StatusApproved
}

// Policy holds the tunables a request is started with. The API resolves them from its
// configuration, so a running workflow keeps the deadlines it was created under.
type Policy struct {
	ApprovalTimeout   time.Duration `json:"approval_timeout"`
	WithdrawalTimeout time.Duration `json:"withdrawal_timeout"`
	// CabinetAttempts bounds how often a cabinet command is tried before the request fails,
	// in runs of v0.1.0 only: since, a command is retried until the withdrawal window closes.
	CabinetAttempts int32 `json:"cabinet_attempts"`
	// CabinetRetryInterval is the first back-off between cabinet attempts; it doubles.
	CabinetRetryInterval time.Duration `json:"cabinet_retry_interval"`
}

// Input starts a MedicationRequest: what the request is created with (its header, whose
// fields are the JSON fields of the input in every history), the code of its cabinet, and
// the policy it runs under.
type Input struct {
	pyxis.RequestHeader
	CabinetCode string `json:"cabinet_code"`
	Policy      Policy `json:"policy"`
}

// Transition is one audited step: a status change, or an event such as an escalation that
// leaves the status where it was (From == To).
type Transition struct {
	Seq    int32       `json:"seq"`
	From   Status      `json:"from,omitempty"`
	To     Status      `json:"to"`
	Action string      `json:"action"`
	Actor  pyxis.Actor `json:"actor"`
	At     time.Time   `json:"at"`
	Reason string      `json:"reason,omitempty"`
	// ReasonCode says why, from the reason table (reasons.go); Reason holds the words.
	ReasonCode ReasonCode `json:"reason_code,omitempty"`
}

// Approval records a pharmacist's approval.
type Approval struct {
	Actor pyxis.Actor `json:"actor"`
	At    time.Time   `json:"at"`
	Note  string      `json:"note,omitempty"`
	// Registration is the approver's professional registration, as the users directory held
	// it: two approvals are two people only when it differs.
	Registration string `json:"registration,omitempty"`
}

// State is the whole current state of a request, as the StateQuery returns it and as the
// workflow returns it when it completes.
type State struct {
	ID          string         `json:"id"`
	Status      Status         `json:"status"`
	Priority    pyxis.Priority `json:"priority"`
	CabinetID   int64          `json:"cabinet_id"`
	CabinetCode string         `json:"cabinet_code"`
	Patient     pyxis.Patient  `json:"patient"`
	Requester   pyxis.Actor    `json:"requester"`
	Lines       []pyxis.Line   `json:"lines"`
	Approvals   []Approval     `json:"approvals"`
	Transitions []Transition   `json:"transitions"`
	Reason      string         `json:"reason,omitempty"`
	ReasonCode  ReasonCode     `json:"reason_code,omitempty"`
	// Vended is what withdrawal reports dispensed so far, per medication.
	Vended             []pyxis.Line `json:"vended,omitempty"`
	RequiredApprovals  int32        `json:"required_approvals"`
	Escalated          bool         `json:"escalated"`
	CreatedAt          time.Time    `json:"created_at"`
	UpdatedAt          time.Time    `json:"updated_at"`
	ApprovalDeadline   *time.Time   `json:"approval_deadline,omitempty"`
	WithdrawalDeadline *time.Time   `json:"withdrawal_deadline,omitempty"`
	// Version is the projection's version of the request (it grows with every change); 0 when
	// the state comes from the workflow or its start, before the projection holds it all.
	Version int64 `json:"version"`
	// CabinetDelivery is the cabinet command the request waits for, while the cabinet has not
	// acknowledged it. The projection knows it (its activity records each failed attempt);
	// the workflow does not, since Temporal retries the activity without telling it.
	CabinetDelivery *pyxis.CabinetDelivery `json:"cabinet_delivery,omitempty"`
}
