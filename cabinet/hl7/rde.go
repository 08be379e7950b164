package hl7

import (
	"fmt"
	"math"
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
)

// ControlID returns the MSH-10 of the authorization message for a request: the order
// control (NW, CA) and 18 characters of the base32 SHA-256 of the request id, 20 in all. It
// depends only on the request id and the order control, so a resent authorization carries
// the same id and the cabinet recognises it.
func ControlID(requestID string, oc OrderControl) string {
	return ShortID(string(oc), requestID)
}

// Authorization is a decoded RDE^O11.
type Authorization struct {
	ControlID string
	Control   OrderControl
	// Order holds what the message carries: RequestID, CabinetCode, CabinetUnit, PatientMRN,
	// the patient's name, PatientBed, Priority and the lines (code, name, dispense unit,
	// quantity, form, route).
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

// BuildRDE builds the RDE^O11 that authorizes (NW) or cancels (CA) an order, per the v2.5
// grammar: MSH, PID, PV1, then one ORDER group per line, each ORC, RXE, TQ1, RXR
// (INTERFACE.md lists every field). A cancel of an order without lines is a single ORC.
func BuildRDE(o cabinet.Order, oc OrderControl, at time.Time, env Envelope) (*Message, error) {
	switch {
	case oc != OrderNew && oc != OrderCancel:
		return nil, fmt.Errorf("hl7: order control %q is not NW or CA", oc)
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
	m := header{
		sendingApp: Application, receivingApp: o.CabinetCode,
		code: "RDE", trigger: "O11", structure: "RDE_O11",
		controlID: ControlID(o.RequestID, oc), at: at, env: env,
	}.message()
	when := FormatTime(at)
	m.Add(
		NewSegment("PID").Set(1, "1").Set(3, o.PatientMRN, "", "", "", "MR").Set(5, o.PatientFamily, o.PatientGiven),
		NewSegment("PV1").Set(1, "1").Set(2, "I").Set(3, o.CabinetUnit, "", o.PatientBed),
	)
	if len(o.Lines) == 0 {
		m.Add(NewSegment("ORC").Set(1, string(oc)).Set(2, o.RequestID).Set(9, when))
		return m, nil
	}
	for i, l := range o.Lines {
		if l.MedicationCode == "" || l.Quantity <= 0 {
			return nil, fmt.Errorf("hl7: order %s line %d needs a medication code and a positive quantity", o.RequestID, i+1)
		}
		qty := strconv.Itoa(int(l.Quantity))
		give, giveUnit := giveAmount(l)
		rxe := NewSegment("RXE").
			Set(2, l.MedicationCode, l.MedicationName, SystemLocal).
			Set(3, give).
			Set(5, giveUnit...).
			Set(10, qty).
			Set(11, coded(l.Unit, SystemLocal)...).
			Set(40, o.CabinetCode)
		if l.Form != "" {
			rxe.Set(6, l.Form, l.Form, SystemLocal)
		}
		route := routeOf(l)
		m.Add(
			NewSegment("ORC").Set(1, string(oc)).Set(2, o.RequestID).Set(9, when),
			rxe,
			NewSegment("TQ1").Set(1, "1").Set(3, "ONCE", "One time only", "HL70335").Set(7, when).
				Set(9, tq1Priority[0], tq1Priority[1], "HL70485").Set(14, "1"),
			NewSegment("RXR").Set(1, route, routeNames[route], "HL70162"),
		)
	}
	return m, nil
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

// DecodeRDE reads an RDE^O11 into an Authorization. Every RXE must stand in an ORDER group
// of its own (ORC, RXE, TQ1, RXR); the ORC segments must agree on the order control and the
// placer order number. The cabinet code is RXE-40 (every RXE must name the same one), else
// MSH-5. Each line's quantity is RXE-10, else RXE-3; its unit RXE-11, else RXE-5.
func DecodeRDE(m *Message) (*Authorization, error) {
	if err := expectType(m, "RDE", "O11"); err != nil {
		return nil, err
	}
	if err := CheckText(m); err != nil {
		return nil, err
	}
	a := &Authorization{ControlID: m.Header().ControlID}
	pid, pv1 := m.Segment("PID"), m.Segment("PV1")
	a.Order.PatientMRN = pid.Component(3, 1, 1)
	a.Order.PatientFamily = pid.Component(5, 1, 1)
	a.Order.PatientGiven = pid.Component(5, 1, 2)
	a.Order.CabinetUnit = pv1.Component(3, 1, 1)
	a.Order.PatientBed = pv1.Component(3, 1, 3)
	groups, err := orderGroups(m)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if err := a.addGroup(g); err != nil {
			return nil, err
		}
	}
	if len(a.Order.Lines) == 0 && a.Control == OrderNew {
		return nil, missing("RXE", 1, 0, "RDE NW without RXE")
	}
	if a.Order.CabinetCode == "" {
		a.Order.CabinetCode = m.Header().ReceivingApp
	}
	if a.Order.CabinetCode == "" {
		return nil, missing("MSH", 1, 5, "no cabinet code in RXE-40 or MSH-5")
	}
	if a.Order.Priority == "" {
		a.Order.Priority = cabinet.PriorityRoutine
	}
	return a, nil
}

// orderGroup is one ORDER group of an RDE: its ORC and what follows it.
type orderGroup struct {
	orc      *Segment
	orcN     int // occurrence of the ORC
	rxe      *Segment
	rxeN     int
	tq1, rxr *Segment
}

// orderGroups splits an RDE's segments after the patient into ORDER groups.
func orderGroups(m *Message) ([]*orderGroup, error) {
	var groups []*orderGroup
	count := map[string]int{}
	for _, s := range m.Segments[1:] {
		count[s.Name]++
		n := count[s.Name]
		if s.Name == "ORC" {
			groups = append(groups, &orderGroup{orc: s, orcN: n})
			continue
		}
		var g *orderGroup
		if len(groups) > 0 {
			g = groups[len(groups)-1]
		}
		switch s.Name {
		case "RXE":
			if g == nil {
				return nil, badSequence("RXE", n, "RXE %d before any ORC", n)
			}
			if g.rxe != nil {
				return nil, badSequence("RXE", n, "RXE %d shares an ORDER group with RXE %d: each line needs its own ORC", n, g.rxeN)
			}
			g.rxe, g.rxeN = s, n
		case "TQ1", "RXR":
			if g == nil || g.rxe == nil {
				continue // ORDER group timing before RXE, or patient segments: not read
			}
			if s.Name == "TQ1" && g.tq1 == nil {
				g.tq1 = s
			}
			if s.Name == "RXR" && g.rxr == nil {
				g.rxr = s
			}
		case "PID", "PV1", "PD1", "PV2":
			if g != nil {
				return nil, badSequence(s.Name, n, "%s after an ORDER group", s.Name)
			}
		}
	}
	if len(groups) == 0 {
		return nil, missing("ORC", 1, 0, "RDE without ORC")
	}
	return groups, nil
}

// addGroup adds one ORDER group's order control, placer number, priority and line.
func (a *Authorization) addGroup(g *orderGroup) error {
	oc, id := OrderControl(g.orc.Value(1)), g.orc.Value(2)
	if oc != OrderNew && oc != OrderCancel {
		return badCode("ORC", g.orcN, 1, "ORC-1 %q is not NW or CA", oc)
	}
	if id == "" {
		return missing("ORC", g.orcN, 2, "ORC-2 placer order number is empty")
	}
	if a.Control != "" && (oc != a.Control || id != a.Order.RequestID) {
		return badSequence("ORC", g.orcN, "ORC segments disagree: %s %s and %s %s", a.Control, a.Order.RequestID, oc, id)
	}
	a.Control, a.Order.RequestID = oc, id
	if g.rxe == nil {
		if oc == OrderNew {
			return badSequence("ORC", g.orcN, "ORDER group %d has no RXE", g.orcN)
		}
		return nil
	}
	if g.tq1 == nil || g.rxr == nil {
		return badSequence("RXE", g.rxeN, "ORDER group of RXE %d lacks its TQ1 or RXR", g.rxeN)
	}
	if err := a.readPriority(g); err != nil {
		return err
	}
	rxe, n := g.rxe, g.rxeN
	l := cabinet.Line{
		MedicationCode: rxe.Component(2, 1, 1),
		MedicationName: rxe.Component(2, 1, 2),
		Unit:           rxe.Component(11, 1, 1),
		Form:           rxe.Component(6, 1, 2),
		Route:          g.rxr.Component(1, 1, 1),
	}
	if l.Form == "" {
		l.Form = rxe.Component(6, 1, 1)
	}
	if l.MedicationCode == "" {
		return missing("RXE", n, 2, "RXE %d: RXE-2 medication code is empty", n)
	}
	field, q := 10, rxe.Value(10)
	if q == "" {
		field, q = 3, rxe.Value(3)
		l.Unit = rxe.Component(5, 1, 1)
	}
	if q == "" {
		return missing("RXE", n, 10, "RXE %d: no quantity in RXE-10 or RXE-3", n)
	}
	qty, err := parseCount(q)
	if err != nil || qty <= 0 {
		return badValue("RXE", n, field, "RXE %d: quantity %q is not a positive whole number", n, q)
	}
	l.Quantity = qty
	if st := rxe.Component(40, 1, 1); st != "" {
		if a.Order.CabinetCode != "" && st != a.Order.CabinetCode {
			return badSequence("RXE", n, "RXE-40 names cabinets %s and %s", a.Order.CabinetCode, st)
		}
		a.Order.CabinetCode = st
	}
	a.Order.Lines = append(a.Order.Lines, l)
	a.Give = append(a.Give, cabinet.Dose{Amount: rxe.Value(3), Unit: rxe.Component(5, 1, 1)})
	return nil
}

// readPriority reads TQ1-9 of a group: S, A or R; every group must say the same.
func (a *Authorization) readPriority(g *orderGroup) error {
	code := g.tq1.Component(9, 1, 1)
	if code == "" {
		return nil
	}
	var prio string
	for p, c := range priorities {
		if c[0] == code {
			prio = p
		}
	}
	if prio == "" {
		return badCode("TQ1", g.rxeN, 9, "TQ1-9 priority %q is not S, A or R", code)
	}
	if a.Order.Priority != "" && a.Order.Priority != prio {
		return badSequence("TQ1", g.rxeN, "TQ1-9 priorities disagree: %s and %s", a.Order.Priority, prio)
	}
	a.Order.Priority = prio
	return nil
}

// parseCount reads a whole number, written as an integer or a decimal with no fraction
// ("2", "2.0").
func parseCount(s string) (int32, error) {
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		return int32(n), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return int32(f), nil
}
