package hl7

import (
	"fmt"
	"strconv"
	"time"

	"github.com/medreq/pyxis/cabinet"
)

// Report is what a cabinet reports, with the details HL7 carries beyond cabinet.Event.
type Report struct {
	Event cabinet.Event
	// MedicationName and Unit describe the drug of a pocket event (RQD-2.2 and ZPM-6.2,
	// RQD-6); a vend's lines carry their own.
	MedicationName string
	Unit           string
	// Envelope is the message's MSH-4/6, MSH-11 and acknowledgment mode.
	Envelope Envelope
}

// reportHeader is the MSH of a report: the cabinet sends it to this system.
func reportHeader(r Report, code, trigger string) (*Message, error) {
	e := r.Event
	if e.MessageControlID == "" || e.CabinetCode == "" {
		return nil, fmt.Errorf("hl7: a report needs a control id and a cabinet code")
	}
	if len(e.MessageControlID) > MaxControlID {
		return nil, fmt.Errorf("hl7: control id %q is longer than %d characters", e.MessageControlID, MaxControlID)
	}
	if e.At.IsZero() {
		return nil, fmt.Errorf("hl7: report %s has no time", e.MessageControlID)
	}
	if err := checkEnvelope(r.Envelope); err != nil {
		return nil, err
	}
	return header{
		sendingApp: e.CabinetCode, receivingApp: Application,
		code: code, trigger: trigger, structure: code + "_" + trigger,
		controlID: e.MessageControlID, at: e.At, env: r.Envelope,
	}.message(), nil
}

// BuildRDS builds the standard dispense report RDS^O13 of a vend, one ORDER group per line
// (ORC, RXD, RXR; INTERFACE.md lists every field).
func BuildRDS(r Report) (*Message, error) {
	e := r.Event
	if e.Kind != cabinet.EventVend {
		return nil, fmt.Errorf("hl7: RDS reports vends, not %q", e.Kind)
	}
	if len(e.Lines) == 0 {
		return nil, fmt.Errorf("hl7: RDS %s has no lines", e.MessageControlID)
	}
	m, err := reportHeader(r, "RDS", "O13")
	if err != nil {
		return nil, err
	}
	rx := e.RequestID
	if rx == "" {
		rx = e.MessageControlID
	}
	for i, l := range e.Lines {
		if l.MedicationCode == "" || !l.Amount.Valid {
			return nil, fmt.Errorf("hl7: RDS %s line %d needs a medication code and an amount", e.MessageControlID, i+1)
		}
		m.Add(
			NewSegment("ORC").Set(1, "RE").Set(2, e.RequestID),
			NewSegment("RXD").
				Set(1, strconv.Itoa(i+1)).
				Set(2, l.MedicationCode, l.MedicationName, SystemLocal).
				Set(3, FormatTime(e.At)).
				Set(4, l.Amount.String()).
				Set(5, coded(l.Units, SystemLocal)...).
				Set(7, rx).
				Set(10, e.User).
				Set(30, e.CabinetCode),
			NewSegment("RXR").Set(1, RouteOther, routeNames[RouteOther], "HL70162"),
		)
	}
	return m, nil
}

// BuildOMS builds the pocket event OMS^O05 of the VA vendor-neutral dispensing-equipment
// interface: ORC, RQD and the ZPM segment (INTERFACE.md lists every field). A vend carries
// exactly one line; other events name their drug in Event.MedicationCode.
func BuildOMS(r Report) (*Message, error) {
	e := r.Event
	if !validKind(e.Kind) {
		return nil, fmt.Errorf("hl7: ZPM-1 transaction %q is not one of V R W L U C", e.Kind)
	}
	code, name, unit, amount := e.MedicationCode, r.MedicationName, r.Unit, e.Amount
	if e.Kind == cabinet.EventVend {
		if len(e.Lines) != 1 {
			return nil, fmt.Errorf("hl7: an OMS vend carries one line, %s has %d", e.MessageControlID, len(e.Lines))
		}
		l := e.Lines[0]
		code, name, unit, amount = l.MedicationCode, l.MedicationName, l.Units, l.Amount
	}
	if code == "" {
		return nil, fmt.Errorf("hl7: OMS %s needs a medication code", e.MessageControlID)
	}
	m, err := reportHeader(r, "OMS", "O05")
	if err != nil {
		return nil, err
	}
	m.Add(
		NewSegment("ORC").Set(1, "SC").Set(2, e.RequestID),
		NewSegment("RQD").Set(1, "1").Set(2, code, name, SystemLocal).Set(5, amount.String()).Set(6, coded(unit, SystemLocal)...),
		NewSegment("ZPM").
			Set(1, string(e.Kind)).
			Set(3, e.CabinetCode).
			Set(4, e.Drawer).
			Set(5, e.Pocket).
			Set(6, code, name, SystemLocal).
			Set(7, e.ControlledClass).
			Set(8, e.Expected.String()).
			Set(9, e.Actual.String()).
			Set(10, amount.String()).
			Set(11, e.User).
			Set(12, e.Witness).
			Set(13, e.Balance.String()).
			Set(17, e.ParLevel.String()).
			Set(19, FormatTime(e.At)),
	)
	return m, nil
}

func validKind(k cabinet.EventKind) bool {
	switch k {
	case cabinet.EventVend, cabinet.EventReturn, cabinet.EventWaste,
		cabinet.EventLoad, cabinet.EventUnload, cabinet.EventCount:
		return true
	}
	return false
}

// DecodeEvent reads a cabinet report, RDS^O13 or OMS^O05, into a cabinet.Event. An RDS is
// a vend of one line per ORDER group (ORC, RXD); an OMS carries one ZPM. The placer order
// number (ORC-2) may be anything or empty, but every ORC of a message must give the same.
// The cabinet code is RXD-30 or ZPM-3, else MSH-3; the time is RXD-3 or ZPM-19, else MSH-7.
// A timestamp without an offset is read in loc (UTC when nil). Empty numbers stay absent;
// the numbers a report needs (a vend's and a move's amount, a count's count) are required. A
// value holding a NUL, a control character or invalid UTF-8 is refused (CheckText).
func DecodeEvent(m *Message, loc *time.Location) (cabinet.Event, error) {
	h := m.Header()
	e := cabinet.Event{MessageControlID: h.ControlID}
	var err error
	switch {
	case (h.MessageCode == "RDS" && h.TriggerEvent == "O13") || (h.MessageCode == "OMS" && h.TriggerEvent == "O05"):
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

// placerNumber reads ORC-2 of every ORC: they must agree.
func placerNumber(m *Message) (string, error) {
	orcs := m.All("ORC")
	if len(orcs) == 0 {
		return "", nil
	}
	id := orcs[0].Value(2)
	for i, orc := range orcs[1:] {
		if orc.Value(2) != id {
			return "", badSequence("ORC", i+2, "ORC-2 placer order numbers disagree: %q and %q", id, orc.Value(2))
		}
	}
	return id, nil
}

func decodeRDS(m *Message, e *cabinet.Event, loc *time.Location) error {
	e.Kind = cabinet.EventVend
	var err error
	if e.RequestID, err = placerNumber(m); err != nil {
		return err
	}
	inGroup, hasRXD := false, false
	count := map[string]int{}
	var rxds []*Segment
	for _, s := range m.Segments[1:] {
		count[s.Name]++
		switch s.Name {
		case "ORC":
			if inGroup && !hasRXD {
				return badSequence("ORC", count["ORC"]-1, "ORDER group %d has no RXD", count["ORC"]-1)
			}
			inGroup, hasRXD = true, false
		case "RXD":
			if !inGroup {
				return badSequence("RXD", count["RXD"], "RXD %d before any ORC", count["RXD"])
			}
			if hasRXD {
				return badSequence("RXD", count["RXD"], "RXD %d shares an ORDER group with another RXD", count["RXD"])
			}
			hasRXD = true
			rxds = append(rxds, s)
		}
	}
	if !inGroup {
		return missing("ORC", 1, 0, "RDS without ORC")
	}
	if !hasRXD {
		return badSequence("ORC", count["ORC"], "ORDER group %d has no RXD", count["ORC"])
	}
	for i, rxd := range rxds {
		n := i + 1
		l := cabinet.EventLine{
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
		if l.Amount, err = requiredCount(rxd, n, 4, "amount dispensed"); err != nil {
			return err
		}
		if l.Amount.N <= 0 {
			return badValue("RXD", n, 4, "RXD %d: RXD-4 amount must be positive, is %d", n, l.Amount.N)
		}
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
	var err error
	if e.RequestID, err = placerNumber(m); err != nil {
		return err
	}
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
	counts := []struct {
		field int
		dst   *cabinet.Count
	}{{8, &e.Expected}, {9, &e.Actual}, {10, &e.Amount}, {13, &e.Balance}, {17, &e.ParLevel}}
	for _, c := range counts {
		if *c.dst, err = optionalCount(z, 1, c.field); err != nil {
			return err
		}
	}
	switch e.Kind {
	case cabinet.EventCount:
		if !e.Actual.Valid {
			return missing("ZPM", 1, 9, "a count needs ZPM-9, the quantity counted")
		}
	default:
		if !e.Amount.Valid {
			return missing("ZPM", 1, 10, "a %s needs ZPM-10, the amount", kindName[e.Kind])
		}
	}
	if e.Kind == cabinet.EventVend {
		units := rqd.Component(6, 1, 1)
		if units == "" {
			units = rqd.Component(6, 1, 2)
		}
		e.Lines = []cabinet.EventLine{{MedicationCode: e.MedicationCode, MedicationName: name, Amount: e.Amount, Units: units}}
		e.Amount = cabinet.Count{}
	}
	e.User, e.Witness = z.Component(11, 1, 1), z.Component(12, 1, 1)
	if at := z.Value(19); at != "" {
		if e.At, err = ParseTime(at, loc); err != nil {
			return badValue("ZPM", 1, 19, "ZPM-19: %v", err)
		}
	}
	return nil
}

var kindName = map[cabinet.EventKind]string{
	cabinet.EventVend: "vend", cabinet.EventReturn: "return", cabinet.EventWaste: "waste",
	cabinet.EventLoad: "load", cabinet.EventUnload: "unload", cabinet.EventCount: "count",
}

// optionalCount reads a whole number from a field: absent when the field is empty.
func optionalCount(s *Segment, occ, field int) (cabinet.Count, error) {
	v := s.Value(field)
	if v == "" {
		return cabinet.Count{}, nil
	}
	n, err := parseCount(v)
	if err != nil {
		return cabinet.Count{}, badValue(s.Name, occ, field, "%s-%d: %v", s.Name, field, err)
	}
	return cabinet.CountOf(n), nil
}

// requiredCount reads a whole number that must be there.
func requiredCount(s *Segment, occ, field int, what string) (cabinet.Count, error) {
	c, err := optionalCount(s, occ, field)
	if err == nil && !c.Valid {
		err = missing(s.Name, occ, field, "%s %d: %s-%d %s is empty", s.Name, occ, s.Name, field, what)
	}
	return c, err
}
