package cabinet

import (
	"strconv"
	"strings"
	"time"
)

// MaxOrderNumber is the longest placer order number (HL7 ORC-2) a line is given: cabinet
// servers key orders on it and keep 20 characters.
const MaxOrderNumber = 20

// Order is a dispense authorization: it lets a nurse at the cabinet withdraw these lines for
// this patient, once.
//
// A command built from the same Order is the same message, byte for byte: every time it
// carries is one of its fields (IssuedAt, StartAt, EndAt), never the clock of the moment it
// is sent. So a resend (Temporal retries an activity with the same input) repeats the first
// attempt exactly, as a cabinet that recognises resends by their message id expects.
type Order struct {
	// RequestID identifies the request (HL7 ORC-4, placer group number, on every line).
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
	// PatientRoom and PatientBed locate the patient within the unit (PV1-3 room and bed);
	// either may be empty.
	PatientRoom string
	PatientBed  string
	// Priority is PriorityStat, PriorityUrgent or PriorityRoutine; empty is routine.
	Priority string
	// VerifiedBy is the pharmacist who verified the order (HL7 RXE-14); for a controlled
	// drug, the second approver. The zero Person leaves RXE-14 empty.
	VerifiedBy Person
	// StartAt is when the authorization starts (TQ1-7): the approval, not the moment a
	// message is sent. Zero: IssuedAt.
	StartAt time.Time
	// EndAt is when the withdrawal window closes (TQ1-8): a cabinet stops offering the
	// order then, even when the system cannot reach it to cancel. Zero: TQ1-8 is empty.
	EndAt time.Time
	// IssuedAt is when this command (the authorization, or its cancel) was issued: HL7
	// MSH-7 and ORC-9. The caller fixes it once per command and passes the same value on
	// every attempt, so that every attempt is the same message. Zero: the driver's clock at
	// each attempt, and a resend then differs from the first attempt in its times.
	IssuedAt time.Time
	// PartlyDispensed says part of the order was withdrawn already: Revoke then ends the rest
	// with a discontinue (HL7 ORC-1 DC) rather than a cancel (CA), as table 0119 asks.
	PartlyDispensed bool
	Lines           []Line
}

// Target returns the cabinet the order goes to.
func (o Order) Target() CabinetTarget {
	return CabinetTarget{Driver: o.Driver, Address: o.Address, CabinetCode: o.CabinetCode}
}

// OrderNumber returns the placer order number (HL7 ORC-2) of the order's line i (0-based):
// the line's own OrderNumber when it has one, else LineOrderNumber of the request and the
// line's position i+1.
func (o Order) OrderNumber(i int) string {
	if i >= 0 && i < len(o.Lines) && o.Lines[i].OrderNumber != "" {
		return o.Lines[i].OrderNumber
	}
	return LineOrderNumber(o.RequestID, i+1)
}

// Line is one medication of an order.
type Line struct {
	// OrderNumber is the line's placer order number (HL7 ORC-2): at most MaxOrderNumber
	// characters, the same for the line on every message about it (authorization, cancel,
	// the cabinet's reports). Empty: LineOrderNumber of the request and the line's position
	// in Order.Lines; a caller that sends only some of a request's lines must fill it.
	OrderNumber    string
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

// Person is someone an order names: an id and the name, each part optional.
type Person struct {
	ID     string
	Family string
	Given  string
}

// IsZero reports whether the person is not given at all.
func (p Person) IsZero() bool { return p == Person{} }

// LineOrderNumber returns the placer order number of a request's line n (1-based): as much
// of the end of the request id as fits, a hyphen and n, MaxOrderNumber characters at most
// ("K3M4V7XYZABCDEFGHJ-2" for line 2 of medreq-01JQ8ZK3M4V7XYZABCDEFGHJ). For a request id
// medreq-<ULID> that end is the ULID's random part, unique to the request. It is the same
// for the line every time, so it needs no storage to be repeated, and an analyst finds the
// request by searching request ids for the part before the hyphen.
func LineOrderNumber(requestID string, n int) string {
	suffix := "-" + strconv.Itoa(n)
	keep := max(MaxOrderNumber-len(suffix), 0)
	tail := requestID
	if len(tail) > keep {
		tail = tail[len(tail)-keep:]
	}
	return tail + suffix
}

// ParseLineOrderNumber splits a placer order number of the form LineOrderNumber writes into
// the end of the request id and the line (1-based). It reports false for any other number
// (another system's order, an override). A request matches when its id ends with tail.
func ParseLineOrderNumber(s string) (tail string, line int, ok bool) {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 || len(s) > MaxOrderNumber {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 1 || strconv.Itoa(n) != s[i+1:] {
		return "", 0, false
	}
	return s[:i], n, true
}
