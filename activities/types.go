package activities

import "time"

// Actor is who caused an audited fact.
type Actor struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	Name string `json:"name,omitempty"`
}

// Line is one medication and its quantity.
type Line struct {
	MedicationID int64 `json:"medication_id"`
	Quantity     int32 `json:"quantity"`
}

// RequestHeader is what the projection needs to know about a request when its first
// transition is recorded.
type RequestHeader struct {
	RequesterID   string `json:"requester_id"`
	RequesterName string `json:"requester_name"`
	PatientMRN    string `json:"patient_mrn"`
	PatientBed    string `json:"patient_bed"`
	PatientFamily string `json:"patient_family,omitempty"`
	PatientGiven  string `json:"patient_given,omitempty"`
	CabinetID     int64  `json:"cabinet_id"`
	Priority      string `json:"priority"`
	Lines         []Line `json:"lines"`
	// RequiredApprovals is how many pharmacists must approve (0 means 1).
	RequiredApprovals int32 `json:"required_approvals,omitempty"`
}

// RecordInput is one transition of a request: it updates the projection and appends an audit
// entry in one transaction. (RequestID, Seq) identifies it, so a retry writes nothing twice.
type RecordInput struct {
	RequestID string         `json:"request_id"`
	Seq       int32          `json:"seq"`
	Status    string         `json:"status"`
	Action    string         `json:"action"`
	Reason    string         `json:"reason,omitempty"`
	Actor     Actor          `json:"actor"`
	At        time.Time      `json:"at"`
	Details   map[string]any `json:"details,omitempty"`
	// Header is set on the first transition only, which creates the projection row.
	Header *RequestHeader `json:"header,omitempty"`
	// From is the status before the transition; Note a pharmacist's note on an approval.
	From string `json:"from,omitempty"`
	// ReasonCode says why, from the workflows' reason table; Reason holds the words.
	ReasonCode string `json:"reason_code,omitempty"`
	Note       string `json:"note,omitempty"`
	// Vended is what the withdrawal report this transition records dispensed, ReportID which
	// report it was.
	Vended   []Line `json:"vended,omitempty"`
	ReportID string `json:"report_id,omitempty"`
	// ApprovalDeadline and WithdrawalDeadline are set on the transition that starts the wait.
	ApprovalDeadline   *time.Time `json:"approval_deadline,omitempty"`
	WithdrawalDeadline *time.Time `json:"withdrawal_deadline,omitempty"`
}

// AdmitInput is the first step of a request: record its submission and reserve its lines in
// one transaction, ending with Reserved when every line is held or with Refused (its reason
// filled in) when one is short.
type AdmitInput struct {
	RequestID string      `json:"request_id"`
	CabinetID int64       `json:"cabinet_id"`
	Lines     []Line      `json:"lines"`
	Submitted RecordInput `json:"submitted"`
	Reserved  RecordInput `json:"reserved"`
	Refused   RecordInput `json:"refused"`
}

// AdmitResult says how the admission went: Reserved, or refused for Reason.
type AdmitResult struct {
	Reserved bool   `json:"reserved"`
	Reason   string `json:"reason,omitempty"`
}

// StockRelease is the stock change of a step that gives back what the request still holds
// (StepInput.Stock): every terminal status does, dispensed after its vends took their lines.
const StockRelease = "release"

// StepInput is one durable step of a request: its pending transitions, recorded in order, and
// the stock changes that go with them, in one transaction: withdrawal reports (Vends, applied
// first), then Stock ("" or StockRelease).
type StepInput struct {
	RequestID   string        `json:"request_id"`
	Transitions []RecordInput `json:"transitions"`
	Vends       []Vend        `json:"vends,omitempty"`
	Stock       string        `json:"stock,omitempty"`
}

// Vend is one withdrawal report: what the cabinet says it dispensed for the request.
type Vend struct {
	CabinetID int64     `json:"cabinet_id"`
	Lines     []Line    `json:"lines"`
	ReportID  string    `json:"report_id,omitempty"`
	Actor     Actor     `json:"actor"`
	Source    string    `json:"source"`
	At        time.Time `json:"at"`
}

// StockResult lists what a step's stock changes did now; it is empty when a retry finds the
// work already done.
type StockResult struct {
	Lines []Line `json:"lines"`
	// Levels is, for what vends took, the stock each line left in the cabinet; the workflow
	// starts a restock for a pocket left below its par level.
	Levels []StockLevel `json:"levels,omitempty"`
}

// StockLevel is what a pocket holds after a change, and its par level.
type StockLevel struct {
	MedicationID int64 `json:"medication_id"`
	OnHand       int32 `json:"on_hand"`
	ParLevel     int32 `json:"par_level"`
}

// BelowPar reports whether the pocket needs a refill.
func (l StockLevel) BelowPar() bool { return l.OnHand < l.ParLevel }

// CabinetInput is a command to the request's cabinet.
type CabinetInput struct {
	RequestID  string `json:"request_id"`
	CabinetID  int64  `json:"cabinet_id"`
	PatientMRN string `json:"patient_mrn"`
	PatientBed string `json:"patient_bed"`
	// PatientFamily and PatientGiven name the patient when the request does (PID-5).
	PatientFamily string `json:"patient_family,omitempty"`
	PatientGiven  string `json:"patient_given,omitempty"`
	// Priority is stat, urgent or routine (TQ1-9).
	Priority string `json:"priority,omitempty"`
	Lines    []Line `json:"lines"`
}

// Error types of the non-retryable failures activities return. The workflow turns them into a
// failed request with a reason, instead of retrying what cannot succeed.
const (
	ErrInsufficientStock = "InsufficientStock"
	// ErrCabinetRefused: the cabinet answered no; its own words are the first detail.
	ErrCabinetRefused = "CabinetRefused"
	// ErrUnknownCabinet: the request's cabinet does not exist.
	ErrUnknownCabinet = "UnknownCabinet"
	// ErrCabinetNotConfigured: the cabinet exists but cannot be commanded here (a simulated
	// cabinet where simulators are not allowed, a driver without an address). The first
	// detail says which, in fixed words.
	ErrCabinetNotConfigured = "CabinetNotConfigured"
	// ErrSettled: a reserve for a request whose stock was already released or consumed.
	ErrSettled = "StockSettled"
	// ErrInvalidData: Postgres refused the data as it is (invalid text, a check or not-null
	// constraint): no retry can succeed.
	ErrInvalidData = "InvalidData"
	// ErrNotFound: a row the step needs does not exist (a foreign key, a missing request).
	ErrNotFound = "NotFound"
)
