package hl7

import (
	"fmt"
	"strconv"
	"time"

	"github.com/medreq/pyxis/cabinet"
)

// OrderControl is ORC-1 of a dispense authorization.
type OrderControl string

// Order controls this interface uses.
const (
	// OrderNew (NW) authorizes a dispense.
	OrderNew OrderControl = "NW"
	// OrderCancel (CA) withdraws an authorization that was not used.
	OrderCancel OrderControl = "CA"
	// OrderDiscontinue (DC) ends an authorization that was partly used: what a nurse has
	// not withdrawn yet may no longer be (HL7 table 0119).
	OrderDiscontinue OrderControl = "DC"
)

// ControlID returns the MSH-10 of the authorization message for a request: the order
// control (NW, CA, DC) and 18 characters of the base32 SHA-256 of the request id, 20 in all. It
// depends only on the request id and the order control, so a resent authorization carries
// the same id and the cabinet recognises it.
func ControlID(requestID string, oc OrderControl) string {
	return ShortID(string(oc), requestID)
}

// Authorization is a decoded RDE^O11.
type Authorization struct {
	ControlID string
	Control   OrderControl
	// Order holds what the message carries: RequestID (ORC-4), CabinetCode, CabinetUnit,
	// PatientMRN, the patient's name, room and bed, Priority, VerifiedBy, StartAt, EndAt,
	// IssuedAt (ORC-9) and the lines (order number, code, name, dispense unit, quantity,
	// form, route).
	Order cabinet.Order
	// Give is each line's give amount and units (RXE-3, RXE-5.1), in the order of the lines.
	Give []cabinet.Dose
}

// Coding systems (HL7 table 0396) written in coded fields.
const (
	// SystemLocal (L) marks the hospital catalogue's codes: medications, dispensing units,
	// dosage forms.
	SystemLocal = "L"
	// SystemUCUM marks units of measure of a dose (mg, ug, [iU]).
	SystemUCUM = "UCUM"
)

// ucum maps the units of cabinet.Dose to UCUM codes.
var ucum = map[string]string{
	"mg": "mg", "g": "g", "mcg": "ug", "ng": "ng", "mEq": "meq", "mmol": "mmol",
	"IU": "[iU]", "U": "U", "mL": "mL", "L": "L",
}

// priorities maps an order's priority to TQ1-9 (HL7 table 0485).
var priorities = map[string][2]string{
	cabinet.PriorityStat:    {"S", "Stat"},
	cabinet.PriorityUrgent:  {"A", "ASAP"},
	cabinet.PriorityRoutine: {"R", "Routine"},
}

// BuildRDE builds the RDE^O11 that authorizes (NW), cancels (CA) or discontinues (DC) an
// order, per the v2.5 grammar: MSH, PID, PV1, then one ORDER group per line, each ORC, RXE,
// TQ1, RXR (INTERFACE.md lists every field). Each line is an order of its own to the
// cabinet (ORC-2, Order.OrderNumber); ORC-4 names the request on every line. A cancel of an
// order without lines is a single ORC.
//
// Every time written comes from the order (IssuedAt, StartAt, EndAt), so the same order
// gives the same bytes; at stands in for a zero IssuedAt. Times are written in env.Location.
func BuildRDE(o cabinet.Order, oc OrderControl, at time.Time, env Envelope) (*Message, error) {
	switch {
	case oc != OrderNew && oc != OrderCancel && oc != OrderDiscontinue:
		return nil, fmt.Errorf("hl7: order control %q is not NW, CA or DC", oc)
	case o.RequestID == "":
		return nil, fmt.Errorf("hl7: order without a request id")
	case o.CabinetCode == "":
		return nil, fmt.Errorf("hl7: order %s without a cabinet code", o.RequestID)
	case len(o.Lines) == 0 && oc == OrderNew:
		return nil, fmt.Errorf("hl7: order %s without lines", o.RequestID)
	}
	if err := checkEnvelope(env); err != nil {
		return nil, err
	}
	prio := o.Priority
	if prio == "" {
		prio = cabinet.PriorityRoutine
	}
	tq1Priority, ok := priorities[prio]
	if !ok {
		return nil, fmt.Errorf("hl7: order %s: priority %q is not stat, urgent or routine", o.RequestID, o.Priority)
	}
	issued := o.IssuedAt
	if issued.IsZero() {
		issued = at
	}
	start := o.StartAt
	if start.IsZero() {
		start = issued
	}
	m := header{
		sendingApp: Application, receivingApp: o.CabinetCode,
		code: "RDE", trigger: "O11", structure: "RDE_O11",
		controlID: ControlID(o.RequestID, oc), at: issued, env: env,
	}.message()
	when := env.time(issued)
	authority := env.AssigningAuthority
	if authority == "" {
		authority = env.SendingFacility
	}
	class := env.PatientClass
	if class == "" {
		class = PatientInpatient
	}
	m.Add(
		setSome(NewSegment("PID").Set(1, "1").Set(3, o.PatientMRN, "", "", authority, "MR"), 5, o.PatientFamily, o.PatientGiven),
		setSome(NewSegment("PV1").Set(1, "1").Set(2, class), 3, o.CabinetUnit, o.PatientRoom, o.PatientBed),
	)
	if len(o.Lines) == 0 {
		m.Add(NewSegment("ORC").Set(1, string(oc)).Set(4, o.RequestID).Set(9, when))
		return m, nil
	}
	seen := make(map[string]int, len(o.Lines))
	for i, l := range o.Lines {
		if l.MedicationCode == "" || l.Quantity <= 0 {
			return nil, fmt.Errorf("hl7: order %s line %d needs a medication code and a positive quantity", o.RequestID, i+1)
		}
		number := o.OrderNumber(i)
		if len(number) > cabinet.MaxOrderNumber {
			return nil, fmt.Errorf("hl7: order %s line %d: order number %q is longer than %d characters", o.RequestID, i+1, number, cabinet.MaxOrderNumber)
		}
		if j, dup := seen[number]; dup {
			return nil, fmt.Errorf("hl7: order %s lines %d and %d share the order number %q", o.RequestID, j, i+1, number)
		}
		seen[number] = i + 1
		qty := strconv.Itoa(int(l.Quantity))
		give, giveUnit := giveAmount(l)
		rxe := setSome(NewSegment("RXE").
			Set(2, l.MedicationCode, l.MedicationName, SystemLocal).
			Set(3, give).
			Set(5, giveUnit...).
			Set(10, qty).
			Set(11, coded(l.Unit, SystemLocal)...), 14, o.VerifiedBy.ID, o.VerifiedBy.Family, o.VerifiedBy.Given).
			Set(40, o.CabinetCode)
		if l.Form != "" {
			rxe.Set(6, l.Form, l.Form, SystemLocal)
		}
		tq1 := NewSegment("TQ1").Set(1, "1").
			SetField(3, Field{Repetition{Component{RepeatOnce, "One time only", "HL70335"}}}).
			Set(7, env.time(start)).
			Set(9, tq1Priority[0], tq1Priority[1], "HL70485").Set(14, "1")
		if !o.EndAt.IsZero() {
			tq1.Set(8, env.time(o.EndAt))
		}
		route := routeOf(l)
		m.Add(
			NewSegment("ORC").Set(1, string(oc)).Set(2, number).Set(4, o.RequestID).Set(9, when),
			rxe,
			tq1,
			NewSegment("RXR").Set(1, route, routeNames[route], "HL70162"),
		)
	}
	return m, nil
}

// RepeatOnce is TQ1-3.1.1, the repeat pattern of a dispense authorization (HL7 table 0335):
// one time only.
const RepeatOnce = "ONCE"

// PatientInpatient is PV1-2 when Envelope.PatientClass is empty (HL7 table 0004).
const PatientInpatient = "I"

// setSome sets field n to comps without their trailing empty values, and leaves it alone
// when every value is empty: an unknown name is an empty field, never "^".
func setSome(s *Segment, n int, comps ...string) *Segment {
	if c := trimmed(comps...); len(c) > 0 {
		s.Set(n, c...)
	}
	return s
}

// trimmed returns comps without their trailing empty values.
func trimmed(comps ...string) []string {
	for len(comps) > 0 && comps[len(comps)-1] == "" {
		comps = comps[:len(comps)-1]
	}
	return comps
}

// coded returns a CE of a local code: code^code^system, or nothing when code is empty.
func coded(code, system string) []string {
	if code == "" {
		return nil
	}
	return []string{code, code, system}
}

// giveAmount returns RXE-3 and RXE-5 of a line: the dose of all its units when one unit has
// a dose (DoseAmount and DoseUnit, else ParseStrength of Strength), in UCUM units; else the
// quantity in the dispensing unit, so that RXE-3 never reads as a dose it is not.
func giveAmount(l cabinet.Line) (string, []string) {
	d := cabinet.Dose{Amount: l.DoseAmount, Unit: l.DoseUnit}
	ok := d.Amount != "" && d.Unit != ""
	if !ok {
		d, ok = cabinet.ParseStrength(l.Strength)
	}
	if ok {
		if total, ok := d.Times(l.Quantity); ok {
			if code, known := ucum[d.Unit]; known {
				return total.Amount, []string{code, d.Unit, SystemUCUM}
			}
			return total.Amount, coded(d.Unit, SystemLocal)
		}
	}
	return strconv.Itoa(int(l.Quantity)), coded(l.Unit, SystemLocal)
}
