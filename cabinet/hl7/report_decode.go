package hl7

import (
	"fmt"
	"time"

	"github.com/medreq/pyxis/cabinet"
)

// DecodeEvent reads a cabinet report into a cabinet.Event: an RDS^O13 (RDS^O01 in v2.3) or
// an OMS^O05. An RDS is a vend of one line per ORDER group (ORC, RXD); an OMS carries one
// ZPM. Each group's ORC-2 and ORC-4 go to its line as they are (anything, or empty), and the
// event's RequestID is what every group names (cabinet.Event). The cabinet code is RXD-30
// or ZPM-3, else MSH-3; the time is RXD-3 or ZPM-19, else MSH-7. A timestamp without an
// offset is read in loc (UTC when nil).
//
// What happened in the room is not refused for its form: text in another character set is
// transcoded (Transcode), and an amount or count that is not a whole number is kept exactly
// in a flag (cabinet.CauseFractional) while the number stays absent; the application parks
// such a report for review. What cannot be read is refused: an empty number the report
// needs (a vend's and a move's amount, a count's count), a value that is no number or time,
// a value holding a NUL or another control character (CheckText).
func DecodeEvent(m *Message, loc *time.Location) (cabinet.Event, error) {
	h := m.Header()
	e := cabinet.Event{MessageControlID: h.ControlID}
	var err error
	switch {
	case isRDS(h) || (h.MessageCode == "OMS" && h.TriggerEvent == "O05"):
		e.Flags = Transcode(m)
		if err := CheckText(m); err != nil {
			return cabinet.Event{}, err
		}
		if h.MessageCode == "RDS" {
			err = decodeRDS(m, &e, loc)
		} else {
			err = decodeOMS(m, &e, loc)
		}
	case h.MessageCode == "RDS" || h.MessageCode == "OMS":
		return cabinet.Event{}, fmt.Errorf("hl7: %w: %s^%s is not RDS^O13 or OMS^O05", ErrUnsupportedEvent, h.MessageCode, h.TriggerEvent)
	default:
		return cabinet.Event{}, fmt.Errorf("hl7: %w: %s^%s is not RDS^O13 or OMS^O05", ErrUnsupported, h.MessageCode, h.TriggerEvent)
	}
	if err != nil {
		return cabinet.Event{}, err
	}
	if e.MessageControlID == "" {
		return cabinet.Event{}, missing("MSH", 1, 10, "MSH-10 message control id is empty")
	}
	e.PatientMRN = m.Segment("PID").Component(3, 1, 1)
	if e.CabinetCode == "" {
		e.CabinetCode = h.SendingApp
	}
	if e.CabinetCode == "" {
		return cabinet.Event{}, missing("MSH", 1, 3, "no cabinet code")
	}
	if e.At.IsZero() {
		if e.At, err = ParseTime(h.Time, loc); err != nil {
			return cabinet.Event{}, badValue("MSH", 1, 7, "no usable time: %v", err)
		}
	}
	return e, nil
}

// isRDS reports a dispense report: RDS^O13, or RDS^O01 as v2.3 and v2.3.1 name it.
func isRDS(h Header) bool {
	return h.MessageCode == "RDS" && (h.TriggerEvent == "O13" || h.TriggerEvent == "O01")
}

// requestOf returns what every ORC names: their one ORC-4 when all give the same, not empty;
// else their one ORC-2 when all give the same and none gives an ORC-4; else "".
func requestOf(orcs []*Segment) string {
	if len(orcs) == 0 {
		return ""
	}
	same := func(field int) (string, bool) {
		v := orcs[0].Value(field)
		for _, o := range orcs[1:] {
			if o.Value(field) != v {
				return "", false
			}
		}
		return v, true
	}
	group, ok := same(4)
	switch {
	case ok && group != "":
		return group
	case ok:
		number, _ := same(2)
		return number
	}
	return ""
}

func decodeRDS(m *Message, e *cabinet.Event, loc *time.Location) error {
	e.Kind = cabinet.EventVend
	e.RequestID = requestOf(m.All("ORC"))
	type group struct{ orc, rxd *Segment }
	var groups []group
	count := map[string]int{}
	for _, s := range m.Segments[1:] {
		count[s.Name]++
		switch s.Name {
		case "ORC":
			if n := len(groups); n > 0 && groups[n-1].rxd == nil {
				return badSequence("ORC", n, "ORDER group %d has no RXD", n)
			}
			groups = append(groups, group{orc: s})
		case "RXD":
			n := len(groups)
			if n == 0 {
				return badSequence("RXD", count["RXD"], "RXD %d before any ORC", count["RXD"])
			}
			if groups[n-1].rxd != nil {
				return badSequence("RXD", count["RXD"], "RXD %d shares an ORDER group with another RXD", count["RXD"])
			}
			groups[n-1].rxd = s
		}
	}
	if len(groups) == 0 {
		return missing("ORC", 1, 0, "RDS without ORC")
	}
	if groups[len(groups)-1].rxd == nil {
		return badSequence("ORC", len(groups), "ORDER group %d has no RXD", len(groups))
	}
	for i, g := range groups {
		n, rxd := i+1, g.rxd
		l := cabinet.EventLine{
			OrderNumber:    g.orc.Value(2),
			GroupNumber:    g.orc.Value(4),
			MedicationCode: rxd.Component(2, 1, 1),
			MedicationName: rxd.Component(2, 1, 2),
			Units:          rxd.Component(5, 1, 1),
		}
		if l.Units == "" {
			l.Units = rxd.Component(5, 1, 2)
		}
		if l.MedicationCode == "" {
			return missing("RXD", n, 2, "RXD %d: RXD-2 medication code is empty", n)
		}
		a, err := readAmount(rxd, n, 4, n)
		if err != nil {
			return err
		}
		if !a.present {
			return missing("RXD", n, 4, "RXD %d: RXD-4 amount dispensed is empty", n)
		}
		if !a.positive {
			return badValue("RXD", n, 4, "RXD %d: RXD-4 amount must be positive, is %s", n, rxd.Value(4))
		}
		l.Amount = a.count
		e.Flags = append(e.Flags, a.flags...)
		e.Lines = append(e.Lines, l)
		if at := rxd.Value(3); at != "" && e.At.IsZero() {
			if e.At, err = ParseTime(at, loc); err != nil {
				return badValue("RXD", n, 3, "RXD-3: %v", err)
			}
		}
		if e.User == "" {
			e.User = rxd.Component(10, 1, 1)
		}
		if st := rxd.Component(30, 1, 1); st != "" {
			if e.CabinetCode != "" && st != e.CabinetCode {
				return badSequence("RXD", n, "RXD-30 names cabinets %s and %s", e.CabinetCode, st)
			}
			e.CabinetCode = st
		}
	}
	return nil
}

func decodeOMS(m *Message, e *cabinet.Event, loc *time.Location) error {
	zpms := m.All("ZPM")
	if len(zpms) != 1 {
		if len(zpms) == 0 {
			return missing("ZPM", 1, 0, "OMS needs one ZPM, has none")
		}
		return badSequence("ZPM", 2, "OMS needs one ZPM, has %d", len(zpms))
	}
	orcs := m.All("ORC")
	e.RequestID = requestOf(orcs)
	z := zpms[0]
	e.Kind = cabinet.EventKind(z.Value(1))
	if e.Kind == "" {
		return missing("ZPM", 1, 1, "ZPM-1 transaction is empty")
	}
	if !validKind(e.Kind) {
		return badCode("ZPM", 1, 1, "ZPM-1 transaction %q is not one of V R W L U C", e.Kind)
	}
	e.CabinetCode = z.Value(3)
	e.Drawer, e.Pocket = z.Value(4), z.Value(5)
	rqd := m.Segment("RQD")
	e.MedicationCode = z.Component(6, 1, 1)
	name := z.Component(6, 1, 2)
	if e.MedicationCode == "" {
		e.MedicationCode, name = rqd.Component(2, 1, 1), rqd.Component(2, 1, 2)
	}
	if e.MedicationCode == "" {
		return missing("ZPM", 1, 6, "ZPM-6 medication code is empty")
	}
	e.ControlledClass = z.Value(7)
	line := 0
	if e.Kind == cabinet.EventVend {
		line = 1 // ZPM-10 is the amount of the vend's one line
	}
	present := map[int]bool{}
	for _, c := range []struct {
		field int
		dst   *cabinet.Count
	}{{8, &e.Expected}, {9, &e.Actual}, {10, &e.Amount}, {13, &e.Balance}, {17, &e.ParLevel}} {
		at := 0
		if c.field == 10 {
			at = line
		}
		a, err := readAmount(z, 1, c.field, at)
		if err != nil {
			return err
		}
		*c.dst, present[c.field] = a.count, a.present
		e.Flags = append(e.Flags, a.flags...)
	}
	switch e.Kind {
	case cabinet.EventCount:
		if !present[9] {
			return missing("ZPM", 1, 9, "a count needs ZPM-9, the quantity counted")
		}
	default:
		if !present[10] {
			return missing("ZPM", 1, 10, "a %s needs ZPM-10, the amount", kindName[e.Kind])
		}
	}
	if e.Kind == cabinet.EventVend {
		units := rqd.Component(6, 1, 1)
		if units == "" {
			units = rqd.Component(6, 1, 2)
		}
		l := cabinet.EventLine{MedicationCode: e.MedicationCode, MedicationName: name, Amount: e.Amount, Units: units}
		if len(orcs) > 0 {
			l.OrderNumber, l.GroupNumber = orcs[0].Value(2), orcs[0].Value(4)
		}
		e.Lines = []cabinet.EventLine{l}
		e.Amount = cabinet.Count{}
	}
	e.User, e.Witness = z.Component(11, 1, 1), z.Component(12, 1, 1)
	if at := z.Value(19); at != "" {
		var err error
		if e.At, err = ParseTime(at, loc); err != nil {
			return badValue("ZPM", 1, 19, "ZPM-19: %v", err)
		}
	}
	return nil
}
