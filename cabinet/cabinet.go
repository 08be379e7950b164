// Package cabinet talks to BD Pyxis automated dispensing cabinets: the Driver interface the
// activities use, the types of what cabinets are told (Order, Item) and report (Event), the
// contract between the report listener and the application (EventHandler, ReportError), and
// the in-process Simulator that stands in for a cabinet in development and tests.
package cabinet

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Priorities of an order, as the request has them; HL7 writes them S, A and R (TQ1-9).
const (
	PriorityStat    = "stat"
	PriorityUrgent  = "urgent"
	PriorityRoutine = "routine"
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
	Driver  string
	Address string
	// Status is the cabinet's status when the order was prepared (online, offline,
	// maintenance); a driver need not look at it.
	Status     string
	PatientMRN string
	// PatientFamily and PatientGiven are the patient's family and given names (PID-5);
	// both may be empty when the name is not known, and PID-5 is then sent empty.
	PatientFamily string
	PatientGiven  string
	PatientBed    string
	// Priority is PriorityStat, PriorityUrgent or PriorityRoutine; empty is routine.
	Priority string
	Lines    []Line
}

// Target returns the cabinet the order goes to.
func (o Order) Target() CabinetTarget {
	return CabinetTarget{Driver: o.Driver, Address: o.Address, CabinetCode: o.CabinetCode}
}

// Line is one medication of an order.
type Line struct {
	MedicationID   int64
	MedicationCode string
	MedicationName string
	// Unit is the dispensing unit Quantity counts (tablet, ampoule, vial).
	Unit     string
	Quantity int32
	// Strength is the medication's strength as the catalogue writes it ("500 mg",
	// "10 mg/mL, 1 mL"); optional.
	Strength string
	// Form is the dosage form (tablet, ampoule); optional.
	Form string
	// Route is the route of administration as an HL7 table 0162 code (PO, IV, SC) when it is
	// known; empty derives it from Form, or sends OTH.
	Route string
	// DoseAmount and DoseUnit are the dose one unit holds ("500", "mg"), when it has one:
	// ParseStrength(Strength) fills them. Empty means "derive it from Strength"; a
	// concentration ("10 mg/mL") has none, and the order then states units only.
	DoseAmount string
	DoseUnit   string
}

// CabinetTarget names a cabinet and how to reach it.
type CabinetTarget struct {
	// Driver is the driver that commands it ("sim" or "hl7"), Address where it listens
	// (host:port for hl7), CabinetCode its station code.
	Driver      string
	Address     string
	CabinetCode string
}

// Item is a medication of the catalogue as a cabinet's item master holds it.
type Item struct {
	Code     string
	Name     string
	Strength string
	Form     string
	// Unit is the dispensing unit (tablet, ampoule).
	Unit string
	// ControlledList is the medication's list of Portaria SVS/MS 344/98 (A1 ... C5), empty
	// when it is not controlled.
	ControlledList string
	// New says the cabinet does not hold the item yet (HL7 MFE-1 MAD rather than MUP).
	New bool
	// ChangedAt is when the catalogue entry last changed (MFE-3); a resend of the same change
	// carries the same time, a later change a later one.
	ChangedAt time.Time
}

// Driver commands cabinets. Implementations must make every call idempotent: Temporal
// retries activities, so the same command may arrive more than once.
type Driver interface {
	// Authorize asks the cabinet to release the order's lines to a nurse. It returns a
	// *RefusedError when the cabinet answered and said no; any other error is a transport
	// failure worth retrying.
	Authorize(ctx context.Context, o Order) error
	// Revoke withdraws an authorization that was not used (expiry, cancellation).
	Revoke(ctx context.Context, o Order) error
	// UpdateItem adds or updates a medication in the cabinet's item master. Errors are read
	// as for Authorize.
	UpdateItem(ctx context.Context, c CabinetTarget, item Item) error
}

// RefusedError is a definite "no" from the cabinet: retrying will not change it.
type RefusedError struct {
	Cabinet string
	Reason  string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("cabinet %s refused: %s", e.Cabinet, e.Reason)
}

// ErrUnreachable reports that the cabinet did not answer, or answered "not now".
var ErrUnreachable = errors.New("cabinet unreachable")
