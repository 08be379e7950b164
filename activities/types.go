package activities

import "time"

// Actor is who caused an audited fact.
type Actor struct {
	ID   string `json:"id"`
	Role string `json:"role"`
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
	CabinetID     int64  `json:"cabinet_id"`
	Priority      string `json:"priority"`
	Lines         []Line `json:"lines"`
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
}

// ReserveInput reserves every line of a request at its cabinet, or none.
type ReserveInput struct {
	RequestID string `json:"request_id"`
	CabinetID int64  `json:"cabinet_id"`
	Lines     []Line `json:"lines"`
}

// StockInput names the request whose reservations are released or consumed.
type StockInput struct {
	RequestID string `json:"request_id"`
}

// StockResult lists what a release or consume changed now; it is empty when a retry finds the
// work already done.
type StockResult struct {
	Lines []Line `json:"lines"`
	// Levels is, for a consume, the stock each line left in the cabinet; the workflow starts a
	// restock for a pocket left below its par level. Results recorded before the field existed
	// have none.
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
	Lines      []Line `json:"lines"`
}

// Error types of the non-retryable failures activities return. The workflow turns them into a
// failed request with a reason, instead of retrying what cannot succeed.
const (
	ErrInsufficientStock = "InsufficientStock"
	ErrCabinetRefused    = "CabinetRefused"
	ErrUnknownCabinet    = "UnknownCabinet"
)
