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

// ControlID returns the MSH-10 of the authorization message for a request: it depends only on
// the request id and the order control, so a resent authorization carries the same id and the
// cabinet recognises it.
func ControlID(requestID string, oc OrderControl) string {
	return requestID + "-" + string(oc)
}

// Authorization is a decoded RDE^O11.
type Authorization struct {
	ControlID string
	Control   OrderControl
	// Order holds what the message carries: RequestID, CabinetCode, CabinetUnit, PatientMRN,
	// PatientBed and the lines (code, name, unit, quantity).
	Order cabinet.Order
}

// BuildRDE builds the RDE^O11 that authorizes (NW) or cancels (CA) an order:
//
//	MSH-3 PYXIS-MEDREQ, MSH-5 the cabinet code, MSH-9 RDE^O11^RDE_O11, MSH-10 ControlID
//	PID-3 MRN^^^^MR
//	PV1-2 I, PV1-3 unit^^bed
//	ORC-1 NW or CA, ORC-2 the request id, ORC-9 at
//	RXE per line: RXE-2 code^name, RXE-3 quantity, RXE-5 unit, RXE-10 quantity,
//	RXE-11 unit, RXE-40 the cabinet (station) code
func BuildRDE(o cabinet.Order, oc OrderControl, at time.Time) (*Message, error) {
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
	m := header{
		sendingApp: Application, receivingApp: o.CabinetCode,
		code: "RDE", trigger: "O11", structure: "RDE_O11",
		controlID: ControlID(o.RequestID, oc), at: at,
	}.message()
	m.Add(
		NewSegment("PID").Set(1, "1").Set(3, o.PatientMRN, "", "", "", "MR"),
		NewSegment("PV1").Set(1, "1").Set(2, "I").Set(3, o.CabinetUnit, "", o.PatientBed),
		NewSegment("ORC").Set(1, string(oc)).Set(2, o.RequestID).Set(9, FormatTime(at)),
	)
	for i, l := range o.Lines {
		if l.MedicationCode == "" || l.Quantity <= 0 {
			return nil, fmt.Errorf("hl7: order %s line %d needs a medication code and a positive quantity", o.RequestID, i+1)
		}
		qty := strconv.Itoa(int(l.Quantity))
		m.Add(NewSegment("RXE").
			Set(2, l.MedicationCode, l.MedicationName).
			Set(3, qty).
			Set(5, l.Unit).
			Set(10, qty).
			Set(11, l.Unit).
			Set(40, o.CabinetCode))
	}
	return m, nil
}

// DecodeRDE reads an RDE^O11 into an Authorization. The cabinet code is RXE-40 (every RXE
// must name the same one), else MSH-5. Each RXE's quantity is RXE-10, else RXE-3. Several
// ORC segments (one per RXE, as the v2.5 ORDER group has it) are accepted when they agree.
func DecodeRDE(m *Message) (*Authorization, error) {
	if err := expectType(m, "RDE", "O11"); err != nil {
		return nil, err
	}
	a := &Authorization{ControlID: m.Header().ControlID}
	orcs := m.All("ORC")
	if len(orcs) == 0 {
		return nil, invalid("RDE without ORC")
	}
	for _, orc := range orcs {
		oc, id := OrderControl(orc.Value(1)), orc.Value(2)
		if oc != OrderNew && oc != OrderCancel {
			return nil, invalid("ORC-1 %q is not NW or CA", oc)
		}
		if id == "" {
			return nil, invalid("ORC-2 placer order number is empty")
		}
		if a.Control != "" && (oc != a.Control || id != a.Order.RequestID) {
			return nil, invalid("ORC segments disagree: %s %s and %s %s", a.Control, a.Order.RequestID, oc, id)
		}
		a.Control, a.Order.RequestID = oc, id
	}
	pid, pv1 := m.Segment("PID"), m.Segment("PV1")
	a.Order.PatientMRN = pid.Component(3, 1, 1)
	a.Order.CabinetUnit = pv1.Component(3, 1, 1)
	a.Order.PatientBed = pv1.Component(3, 1, 3)
	for i, rxe := range m.All("RXE") {
		l := cabinet.Line{
			MedicationCode: rxe.Component(2, 1, 1),
			MedicationName: rxe.Component(2, 1, 2),
			Unit:           rxe.Component(5, 1, 1),
		}
		if l.MedicationCode == "" {
			return nil, invalid("RXE %d: RXE-2 medication code is empty", i+1)
		}
		q := rxe.Value(10)
		if q == "" {
			q = rxe.Value(3)
		}
		n, err := parseCount(q)
		if err != nil || n <= 0 {
			return nil, invalid("RXE %d: quantity %q is not a positive whole number", i+1, q)
		}
		l.Quantity = n
		if l.Unit == "" {
			l.Unit = rxe.Component(11, 1, 1)
		}
		if st := rxe.Component(40, 1, 1); st != "" {
			if a.Order.CabinetCode != "" && st != a.Order.CabinetCode {
				return nil, invalid("RXE-40 names cabinets %s and %s", a.Order.CabinetCode, st)
			}
			a.Order.CabinetCode = st
		}
		a.Order.Lines = append(a.Order.Lines, l)
	}
	if len(a.Order.Lines) == 0 && a.Control == OrderNew {
		return nil, invalid("RDE NW without RXE")
	}
	if a.Order.CabinetCode == "" {
		a.Order.CabinetCode = m.Header().ReceivingApp
	}
	if a.Order.CabinetCode == "" {
		return nil, invalid("no cabinet code in RXE-40 or MSH-5")
	}
	return a, nil
}

// parseCount reads a whole number, written as an integer or a decimal with no fraction
// ("2", "2.0").
func parseCount(s string) (int32, error) {
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		return int32(n), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return int32(f), nil
}
