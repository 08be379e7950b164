package hl7

import (
	"time"

	"github.com/medreq/pyxis/cabinet"
)

// DecodeRDE reads an RDE^O11 into an Authorization. Every RXE must stand in an ORDER group
// of its own (ORC, RXE, TQ1, RXR); the ORC segments must agree on the order control and the
// placer group number (ORC-4, the request), and give each line its own placer order number
// (ORC-2). A message without ORC-4 is the older form: one ORC-2 on every line, the request.
// The cabinet code is RXE-40 (every RXE must name the same one), else MSH-5. Each line's
// quantity is RXE-10, else RXE-3; its unit RXE-11, else RXE-5. Times without an offset are
// read in loc (UTC when nil).
func DecodeRDE(m *Message, loc *time.Location) (*Authorization, error) {
	if err := expectType(m, "RDE", "O11"); err != nil {
		return nil, err
	}
	Transcode(m)
	if err := CheckText(m); err != nil {
		return nil, err
	}
	a := &Authorization{ControlID: m.Header().ControlID}
	pid, pv1 := m.Segment("PID"), m.Segment("PV1")
	a.Order.PatientMRN = pid.Component(3, 1, 1)
	a.Order.PatientFamily = pid.Component(5, 1, 1)
	a.Order.PatientGiven = pid.Component(5, 1, 2)
	a.Order.CabinetUnit = pv1.Component(3, 1, 1)
	a.Order.PatientRoom = pv1.Component(3, 1, 2)
	a.Order.PatientBed = pv1.Component(3, 1, 3)
	groups, err := orderGroups(m)
	if err != nil {
		return nil, err
	}
	if err := a.readPlacers(groups); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if err := a.addGroup(g, loc); err != nil {
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
	if at := groups[0].orc.Value(9); at != "" {
		if a.Order.IssuedAt, err = ParseTime(at, loc); err != nil {
			return nil, badValue("ORC", 1, 9, "ORC-9: %v", err)
		}
	}
	return a, nil
}

// readPlacers reads the order control (ORC-1) and the request (ORC-4, else the one ORC-2
// of the older form) every ORC must agree on.
func (a *Authorization) readPlacers(groups []*orderGroup) error {
	first := groups[0].orc
	a.Control, a.Order.RequestID = OrderControl(first.Value(1)), first.Value(4)
	legacy := a.Order.RequestID == ""
	if legacy {
		a.Order.RequestID = first.Value(2)
	}
	seen := map[string]int{}
	for _, g := range groups {
		oc, id := OrderControl(g.orc.Value(1)), g.orc.Value(4)
		if legacy {
			id = g.orc.Value(2)
		}
		switch {
		case oc != OrderNew && oc != OrderCancel && oc != OrderDiscontinue:
			return badCode("ORC", g.orcN, 1, "ORC-1 %q is not NW, CA or DC", oc)
		case oc != a.Control:
			return badSequence("ORC", g.orcN, "ORC-1 disagree: %s and %s", a.Control, oc)
		case id == "" && legacy:
			return missing("ORC", g.orcN, 2, "ORC-2 placer order number and ORC-4 placer group number are empty")
		case id != a.Order.RequestID:
			return badSequence("ORC", g.orcN, "ORC segments name different requests: %q and %q", a.Order.RequestID, id)
		}
		number := g.orc.Value(2)
		if legacy || g.rxe == nil {
			continue
		}
		if number == "" {
			return missing("ORC", g.orcN, 2, "ORC %d: ORC-2 placer order number is empty", g.orcN)
		}
		if n, dup := seen[number]; dup {
			return badSequence("ORC", g.orcN, "ORC %d and %d give the same ORC-2 %q", n, g.orcN, number)
		}
		seen[number] = g.orcN
	}
	return nil
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

// addGroup adds one ORDER group's priority, timing and line.
func (a *Authorization) addGroup(g *orderGroup, loc *time.Location) error {
	if g.rxe == nil {
		if a.Control == OrderNew {
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
	if err := a.readTiming(g, loc); err != nil {
		return err
	}
	rxe, n := g.rxe, g.rxeN
	l := cabinet.Line{
		OrderNumber:    g.orc.Value(2),
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
	if v := (cabinet.Person{ID: rxe.Component(14, 1, 1), Family: rxe.Component(14, 1, 2), Given: rxe.Component(14, 1, 3)}); !v.IsZero() {
		a.Order.VerifiedBy = v
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

// readTiming reads TQ1-7 (start) and TQ1-8 (end) of a group: every group must say the same.
func (a *Authorization) readTiming(g *orderGroup, loc *time.Location) error {
	for _, f := range []struct {
		field int
		dst   *time.Time
	}{{7, &a.Order.StartAt}, {8, &a.Order.EndAt}} {
		v := g.tq1.Value(f.field)
		if v == "" {
			continue
		}
		t, err := ParseTime(v, loc)
		if err != nil {
			return badValue("TQ1", g.rxeN, f.field, "TQ1-%d: %v", f.field, err)
		}
		if !f.dst.IsZero() && !f.dst.Equal(t) {
			return badSequence("TQ1", g.rxeN, "TQ1-%d disagree: %s and %s", f.field, FormatTime(*f.dst), v)
		}
		*f.dst = t
	}
	return nil
}
