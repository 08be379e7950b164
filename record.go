package pyxis

import "time"

// A request's workflow records its lifecycle in steps: each step's transitions, together with
// the stock change they go with, in one database transaction (Admission, Step). These are the
// types of those steps, as the workflow sends them to its activities and as the database
// layer takes them.

// Transition is one transition of a request as it is recorded: a status change, or an event
// (an escalation) that leaves the status where it was. (RequestID, Seq) identifies it, so a
// retried or late write never records it twice nor moves the request backwards.
type Transition struct {
	RequestID string `json:"request_id"`
	Seq       int32  `json:"seq"`
	// Status is the status after the transition; From the one before ("" for the first).
	Status string `json:"status"`
	// Action names the audit entry; empty means the Status.
	Action string    `json:"action"`
	Reason string    `json:"reason,omitempty"`
	Actor  Actor     `json:"actor"`
	At     time.Time `json:"at"`
	// Details are kept with the transition's audit entry.
	Details map[string]any `json:"details,omitempty"`
	// Header is set on the first transition only, which creates the request's projection.
	Header *RequestHeader `json:"header,omitempty"`
	From   string         `json:"from,omitempty"`
	// ReasonCode says why, from the workflows' reason table; Reason holds the words.
	ReasonCode string `json:"reason_code,omitempty"`
	// Note is a pharmacist's note on an approval, Registration the professional registration
	// the approval was given under.
	Note         string `json:"note,omitempty"`
	Registration string `json:"registration,omitempty"`
	// Vended is what the withdrawal report this transition records dispensed, ReportID which
	// report it was.
	Vended   []Line `json:"vended,omitempty"`
	ReportID string `json:"report_id,omitempty"`
	// ApprovalDeadline and WithdrawalDeadline, when set, are the deadlines the request has
	// from this transition on (set on the transition that starts the wait).
	ApprovalDeadline   *time.Time `json:"approval_deadline,omitempty"`
	WithdrawalDeadline *time.Time `json:"withdrawal_deadline,omitempty"`
}

// Vend is one withdrawal report: what a cabinet says it dispensed for a request, each line's
// medication and quantity as the cabinet counted it, which may differ from the order.
type Vend struct {
	CabinetID int64  `json:"cabinet_id"`
	Lines     []Line `json:"lines"`
	// ReportID identifies the report (the cabinet's message control id, or the API call's
	// request id); it is kept with the movements and discrepancies, for whoever traces them.
	ReportID string `json:"report_id,omitempty"`
	Actor    Actor  `json:"actor"`
	// Source is where the report came through: "cabinet" or "api".
	Source string    `json:"source"`
	At     time.Time `json:"at"`
}

// StockChange is what a step does to the request's hold on stock.
type StockChange string

// Stock changes a step may carry.
const (
	// StockNone records transitions (and vends) only.
	StockNone StockChange = ""
	// StockRelease gives back what the request still holds: every terminal status does,
	// dispensed after its vends took their lines (a short line opens its discrepancy).
	StockRelease StockChange = "release"
)

// Step is one durable step of a request: transitions to record, in seq order, and the stock
// changes that go with them: withdrawal reports (Vends, applied first, in order), then Stock.
type Step struct {
	RequestID   string       `json:"request_id"`
	Transitions []Transition `json:"transitions"`
	Vends       []Vend       `json:"vends,omitempty"`
	Stock       StockChange  `json:"stock,omitempty"`
}

// StepResult is what a step's stock changes did now; empty when a retry finds it done.
// Consumed holds, per medication, what vends took and the levels they left; Discrepancies
// the ids of what vends or a release found to differ from the order.
type StepResult struct {
	Released      []Line
	Consumed      []ConsumedLine
	Discrepancies []int64
}

// ConsumedLine is a line taken out of a cabinet, with the stock left after it.
type ConsumedLine struct {
	MedicationID int64
	Quantity     int32
	OnHand       int32
	ParLevel     int32
}

// Admission is the first step of a request: it is submitted, and its lines are reserved at
// its cabinet or it fails for want of stock. Submitted carries the request's header;
// Reserved is recorded when every line is held, Refused (with the shortage's words as its
// reason) when one is short.
type Admission struct {
	RequestID string     `json:"request_id"`
	CabinetID int64      `json:"cabinet_id"`
	Lines     []Line     `json:"lines"`
	Submitted Transition `json:"submitted"`
	Reserved  Transition `json:"reserved"`
	Refused   Transition `json:"refused"`
}

// AdmissionResult says how an admission went. Short is nil when the lines are reserved.
type AdmissionResult struct {
	Short *InsufficientStockError
	// Reason is the reason Refused was recorded with.
	Reason string
}

// A cabinet command that the cabinet does not acknowledge is retried until the request's
// withdrawal window closes (the outage rule of issue 16). Its attempts are not in the
// workflow's history (Temporal retries the activity on its own), so each failed attempt is
// recorded in Postgres, where the request view, the metrics and the alerts read it.

// Cabinet commands a delivery is made of.
const (
	DeliveryAuthorize = "authorize"
	DeliveryRevoke    = "revoke"
)

// DeliveryAttempt is one failed attempt of a cabinet command for a request.
type DeliveryAttempt struct {
	RequestID string
	// Command is DeliveryAuthorize or DeliveryRevoke.
	Command string
	// Attempt is the attempt's number (1 for the first) among the command's attempts.
	Attempt int32
	// LastError says, in fixed words, how the attempt failed (never an address).
	LastError string
	At        time.Time
	// MaybeDelivered says the message was sent and no answer came: the cabinet may hold it.
	MaybeDelivered bool
}

// CabinetDelivery is a cabinet command still waiting for the cabinet's acknowledgment: how
// many attempts failed, how the last one did, and since when the command waits.
type CabinetDelivery struct {
	Command   string    `json:"command"`
	Attempts  int32     `json:"attempts"`
	LastError string    `json:"last_error"`
	Since     time.Time `json:"since"`
}
