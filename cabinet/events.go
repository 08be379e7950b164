package cabinet

import (
	"context"
	"errors"
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

// Event is one report from a cabinet, decoded from HL7 by the interface listener.
type Event struct {
	// MessageControlID (MSH-10) identifies the report: a resent report carries the same id and
	// must be counted once.
	MessageControlID string
	Kind             EventKind
	CabinetCode      string
	// RequestID is the order's placer number (ORC-2): set for vends, returns and wastes tied to
	// a request, empty otherwise.
	RequestID       string
	MedicationCode  string
	Drawer, Pocket  string
	ControlledClass string
	// Expected and Actual are the counts before and after (ZPM-8/9), Amount the quantity moved
	// (ZPM-10 or RXD-4), Balance what the cabinet says the pocket holds after (ZPM-13).
	Expected, Actual, Amount, Balance int32
	ParLevel                          int32
	User, Witness                     string
	At                                time.Time
}

// ErrUnknownOrder is returned by an EventHandler for a report about an order the system does
// not know; the listener answers it with AE.
var ErrUnknownOrder = errors.New("unknown order")

// EventHandler applies what a cabinet reports. Implementations must be idempotent per
// (cabinet, MessageControlID).
type EventHandler interface {
	HandleEvent(ctx context.Context, e Event) error
}
