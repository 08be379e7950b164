package cabinet

import (
	"context"
	"time"
)

// EventKind is what happened at a cabinet pocket. The letters are ZPM-1's transaction codes
// of the VA's vendor-neutral dispensing-equipment interface; a standard RDS^O13 dispense
// report is a Vend.
type EventKind string

// Pocket transactions.
const (
	EventVend   EventKind = "V" // medication taken out for a patient's order
	EventReturn EventKind = "R" // returned to the pocket
	EventWaste  EventKind = "W" // wasted (controlled drugs need a witness)
	EventLoad   EventKind = "L" // loaded by a technician (a refill)
	EventUnload EventKind = "U" // unloaded
	EventCount  EventKind = "C" // counted
)

// Event is one report from a cabinet, decoded from HL7 by the interface listener. Numbers
// the cabinet left empty are absent (a zero Count), never 0.
type Event struct {
	// MessageControlID (MSH-10) identifies the report: a resent report carries the same id and
	// must be counted once.
	MessageControlID string
	Kind             EventKind
	CabinetCode      string
	// RequestID is the order the report names as a whole: the placer group number (ORC-4)
	// when every ORDER group gives the same one, else the placer order number (ORC-2) when
	// every group gives the same one (a cabinet that echoes one number per request), else
	// empty. It is exactly as the cabinet sent it: a medication request id, another
	// system's order number (a pharmacy order, an override), or empty (a vend without an
	// order, or a vend of several orders, whose lines then say theirs). Nothing checks its
	// form: the application decides.
	RequestID string
	// Lines are what a vend dispensed, one per item: every RXD of an RDS^O13 (one per ORDER
	// group), or the one ZPM of an OMS^O05 vend. Empty for every other kind.
	Lines []EventLine
	// MedicationCode is the drug of a pocket event (ZPM-6), and of a vend reported as OMS
	// (then the same as Lines[0]); empty for an RDS vend, whose Lines say it.
	MedicationCode  string
	Drawer, Pocket  string
	ControlledClass string
	// Expected and Actual are the pocket's counts before and after (ZPM-8/9; for a count,
	// the quantity expected and the quantity counted), Amount the quantity moved by a pocket
	// event other than a vend (ZPM-10), Balance what the cabinet says the pocket holds after
	// (ZPM-13), ParLevel its par level (ZPM-17). A vend's amounts are in Lines.
	Expected, Actual, Amount, Balance Count
	ParLevel                          Count
	User, Witness                     string
	// PatientMRN is the patient a report names (PID-3.1), empty when it names none: the
	// application compares it with the order's.
	PatientMRN string `json:",omitempty"`
	At         time.Time
	// Flags are what the listener read but found odd (an amount that is not a whole number,
	// text in an undeclared character set): the report is accepted, and the application
	// parks it for review rather than applying what it cannot apply as written.
	Flags []Flag `json:",omitempty"`
}

// EventLine is one item of a vend.
type EventLine struct {
	// OrderNumber and GroupNumber are the ORC-2 (placer order number) and ORC-4 (placer
	// group number) of the line's ORDER group, as the cabinet sent them: for an order of
	// this system, Order.OrderNumber of the line and the request id. Either may be empty.
	OrderNumber string `json:",omitempty"`
	GroupNumber string `json:",omitempty"`
	// MedicationCode is the cabinet's code of what was dispensed (RXD-2 or ZPM-6); it may
	// differ from what was ordered.
	MedicationCode string
	// MedicationName is the name the cabinet gave it (informative).
	MedicationName string
	// Amount is how much was dispensed (RXD-4 or ZPM-10), absent when the cabinet left it
	// empty or wrote a number that is not whole (then a Flag of the event, CauseFractional,
	// carries it exactly); Units is its unit (RXD-5 or RQD-6), as the cabinet wrote it.
	Amount Count
	Units  string
}

// EventHandler applies what a cabinet reports. Implementations must be idempotent per
// (cabinet, MessageControlID). What the listener answers follows from the error returned:
//
//   - nil: AA (also for a report already applied, and for one kept to be reviewed: an
//     unknown order or none, an unknown medication, a flagged amount);
//   - a *ReportError: its Ack (AE, do not resend; AR, resend later), Condition and Text;
//     a Condition that asks for a resend (206, 207) is answered AR whatever Ack says;
//   - any other error: AR 207 with a generic text (the error itself stays in the logs).
//
// A report about an order the system does not know is not an error: it happened, and the
// handler keeps it for review and returns nil.
type EventHandler interface {
	HandleEvent(ctx context.Context, e Event) error
}

type rawKey struct{}

// WithRaw returns ctx carrying the report's message as received, for a handler that keeps it.
func WithRaw(ctx context.Context, raw []byte) context.Context {
	return context.WithValue(ctx, rawKey{}, raw)
}

// RawFromContext returns the message WithRaw put in ctx, or nil.
func RawFromContext(ctx context.Context) []byte {
	raw, _ := ctx.Value(rawKey{}).([]byte)
	return raw
}
