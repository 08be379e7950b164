package activities

import (
	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
)

// AdmitResult says how the admission went: Reserved, or refused for Reason.
type AdmitResult struct {
	Reserved bool   `json:"reserved"`
	Reason   string `json:"reason,omitempty"`
}

// StockResult lists what a step's stock changes did now; it is empty when a retry finds the
// work already done.
type StockResult struct {
	Lines []pyxis.Line `json:"lines"`
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

// CabinetInput is a command to the request's cabinet: the request, and what it was created
// with (its patient, cabinet, priority and lines).
type CabinetInput struct {
	RequestID string `json:"request_id"`
	pyxis.RequestHeader
}

// Delivery is a cabinet command as the workflow sends it: the order, prepared once, with its
// times fixed (cabinet.Order: IssuedAt, StartAt, EndAt), so that every attempt puts the same
// message on the wire, and the cabinet's id, by which each attempt reads where the cabinet is
// now (its driver, address and status: an operator may mend an address during an outage).
// The order's fields are the JSON fields of the input, as the orders of v0.1.0 were, so
// their histories decode into it (CabinetID zero: the order's own address is used).
type Delivery struct {
	cabinet.Order
	CabinetID int64 `json:"cabinet_id,omitempty"`
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
