// Package cabinet talks to BD Pyxis automated dispensing cabinets: the Driver interface the
// activities use, and the in-process Simulator that stands in for a cabinet in development
// and tests.
package cabinet

import (
	"context"
	"errors"
	"fmt"
)

// Order is a dispense authorization: it lets a nurse at the cabinet withdraw these lines for
// this patient, once.
type Order struct {
	RequestID   string
	CabinetCode string
	// CabinetUnit is the nursing unit (HL7 PV1-3 point of care).
	CabinetUnit string
	// Driver names the driver that commands this cabinet ("sim" or "hl7"), Address where
	// it listens (host:port for hl7).
	Driver     string
	Address    string
	PatientMRN string
	PatientBed string
	Lines      []Line
}

// Line is one medication of an order.
type Line struct {
	MedicationID   int64
	MedicationCode string
	MedicationName string
	Unit           string
	Quantity       int32
}

// Driver commands cabinets. Implementations must make both calls idempotent per request id:
// Temporal retries activities, so the same authorization may arrive more than once.
type Driver interface {
	// Authorize asks the cabinet to release the order's lines to a nurse. It returns a
	// *RefusedError when the cabinet answered and said no; any other error is a transport
	// failure worth retrying.
	Authorize(ctx context.Context, o Order) error
	// Revoke withdraws an authorization that was not used (expiry, cancellation).
	Revoke(ctx context.Context, o Order) error
}

// RefusedError is a definite "no" from the cabinet: retrying will not change it.
type RefusedError struct {
	Cabinet string
	Reason  string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("cabinet %s refused: %s", e.Cabinet, e.Reason)
}

// ErrUnreachable reports that the cabinet did not answer.
var ErrUnreachable = errors.New("cabinet unreachable")
