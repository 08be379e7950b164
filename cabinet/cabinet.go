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
	// Deactivated says the medication is no longer used: the cabinet is told to deactivate
	// it (HL7 MFE-1 MDC), whatever New says.
	Deactivated bool
	// Barcodes are the package barcodes that identify the medication (GTIN, NDC), as
	// printed, in the order the catalogue lists them; a cabinet scans them at refill.
	Barcodes []string
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
	// EarlierAttemptUnanswered says an earlier attempt of the same message, by this driver
	// (in this process), got no answer: it may have reached the cabinet, which may hold what
	// it refuses now (a dispense authorization refused as a duplicate, say). Across
	// processes, the caller learns it from an earlier attempt's ErrMaybeDelivered.
	EarlierAttemptUnanswered bool
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("cabinet %s refused: %s", e.Cabinet, e.Reason)
}

// ErrUnreachable reports that the cabinet did not answer, or answered "not now".
var ErrUnreachable = errors.New("cabinet unreachable")

// ErrMaybeDelivered is wrapped, beside ErrUnreachable, by the error of a command that was
// sent, in whole or in part, without a readable answer to it (no acknowledgment in time, the
// connection lost while waiting, an answer to another message): the cabinet may have taken
// it. A caller that later sees the same command refused must not assume the cabinet holds
// nothing: an authorization refused after such an attempt is revoked.
var ErrMaybeDelivered = errors.New("the cabinet may have received the command")
