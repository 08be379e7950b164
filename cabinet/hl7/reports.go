package hl7

import (
	"fmt"
	"strconv"
	"time"

	"github.com/medreq/pyxis/cabinet"
)

// Report is what a cabinet reports, with the few details HL7 carries beyond cabinet.Event.
type Report struct {
	Event          cabinet.Event
	MedicationName string
	Unit           string
}

// reportHeader is the MSH of a report: the cabinet sends it to this system.
func reportHeader(e cabinet.Event, code, trigger string) (*Message, error) {
	if e.MessageControlID == "" || e.CabinetCode == "" || e.MedicationCode == "" {
		return nil, fmt.Errorf("hl7: a report needs a control id, a cabinet code and a medication code")
	}
	if e.At.IsZero() {
		return nil, fmt.Errorf("hl7: report %s has no time", e.MessageControlID)
	}
	return header{
		sendingApp: e.CabinetCode, receivingApp: Application,
		code: code, trigger: trigger, structure: code + "_" + trigger,
		controlID: e.MessageControlID, at: e.At,
	}.message(), nil
}

// BuildRDS builds the standard dispense report RDS^O13 of a vend:
//
//	MSH-3 the cabinet code, MSH-5 PYXIS-MEDREQ, MSH-9 RDS^O13^RDS_O13, MSH-10 the event's id
//	ORC-1 RE, ORC-2 the request id
//	RXD-1 1, RXD-2 code^name, RXD-3 when, RXD-4 amount, RXD-5 unit, RXD-10 the user,
//	RXD-30 the cabinet (station) code
func BuildRDS(r Report) (*Message, error) {
	e := r.Event
	if e.Kind != cabinet.EventVend {
		return nil, fmt.Errorf("hl7: RDS reports vends, not %q", e.Kind)
	}
	if e.RequestID == "" {
		return nil, fmt.Errorf("hl7: RDS %s needs the request id", e.MessageControlID)
	}
	m, err := reportHeader(e, "RDS", "O13")
	if err != nil {
		return nil, err
	}
	m.Add(
		NewSegment("ORC").Set(1, "RE").Set(2, e.RequestID),
		NewSegment("RXD").
			Set(1, "1").
			Set(2, e.MedicationCode, r.MedicationName).
			Set(3, FormatTime(e.At)).
			Set(4, itoa(e.Amount)).
			Set(5, r.Unit).
			Set(10, e.User).
			Set(30, e.CabinetCode),
	)
	return m, nil
}

// BuildOMS builds the pocket event OMS^O05 of the VA vendor-neutral dispensing-equipment
// interface:
//
//	MSH-3 the cabinet code, MSH-5 PYXIS-MEDREQ, MSH-9 OMS^O05^OMS_O05, MSH-10 the event's id
//	ORC-1 SC, ORC-2 the request id (empty for load, unload and count)
//	RQD-1 1, RQD-2 code^name, RQD-5 amount, RQD-6 unit
//	ZPM-1 transaction, ZPM-3 cabinet, ZPM-4 drawer, ZPM-5 pocket, ZPM-6 code^name,
//	ZPM-7 controlled class, ZPM-8 expected count, ZPM-9 actual count, ZPM-10 amount,
//	ZPM-11 user, ZPM-12 witness, ZPM-13 balance, ZPM-17 par level, ZPM-19 time
func BuildOMS(r Report) (*Message, error) {
	e := r.Event
	if !validKind(e.Kind) {
		return nil, fmt.Errorf("hl7: ZPM-1 transaction %q is not one of V R W L U C", e.Kind)
	}
	m, err := reportHeader(e, "OMS", "O05")
	if err != nil {
		return nil, err
	}
	m.Add(
		NewSegment("ORC").Set(1, "SC").Set(2, e.RequestID),
		NewSegment("RQD").Set(1, "1").Set(2, e.MedicationCode, r.MedicationName).Set(5, itoa(e.Amount)).Set(6, r.Unit),
		NewSegment("ZPM").
			Set(1, string(e.Kind)).
			Set(3, e.CabinetCode).
			Set(4, e.Drawer).
			Set(5, e.Pocket).
			Set(6, e.MedicationCode, r.MedicationName).
			Set(7, e.ControlledClass).
			Set(8, itoa(e.Expected)).
			Set(9, itoa(e.Actual)).
			Set(10, itoa(e.Amount)).
			Set(11, e.User).
			Set(12, e.Witness).
			Set(13, itoa(e.Balance)).
			Set(17, itoa(e.ParLevel)).
			Set(19, FormatTime(e.At)),
	)
	return m, nil
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func validKind(k cabinet.EventKind) bool {
	switch k {
	case cabinet.EventVend, cabinet.EventReturn, cabinet.EventWaste,
		cabinet.EventLoad, cabinet.EventUnload, cabinet.EventCount:
		return true
	}
	return false
}

// DecodeEvent reads a cabinet report, RDS^O13 or OMS^O05, into a cabinet.Event. One message
// carries one event: an RDS with several RXD or an OMS with several ZPM is invalid. The
// cabinet code is RXD-30 or ZPM-3, else MSH-3; the time is RXD-3 or ZPM-19, else MSH-7. A
// timestamp without an offset is read in loc (UTC when nil).
func DecodeEvent(m *Message, loc *time.Location) (cabinet.Event, error) {
	h := m.Header()
	e := cabinet.Event{MessageControlID: h.ControlID, RequestID: m.Segment("ORC").Value(2)}
	var err error
	switch {
	case h.MessageCode == "RDS" && h.TriggerEvent == "O13":
		err = decodeRDS(m, &e, loc)
	case h.MessageCode == "OMS" && h.TriggerEvent == "O05":
		err = decodeOMS(m, &e, loc)
	default:
		return cabinet.Event{}, fmt.Errorf("hl7: %w: %s^%s is not RDS^O13 or OMS^O05", ErrUnsupported, h.MessageCode, h.TriggerEvent)
	}
	if err != nil {
		return cabinet.Event{}, err
	}
	if e.MessageControlID == "" {
		return cabinet.Event{}, invalid("MSH-10 message control id is empty")
	}
	if e.CabinetCode == "" {
		e.CabinetCode = h.SendingApp
	}
	if e.CabinetCode == "" {
		return cabinet.Event{}, invalid("no cabinet code")
	}
	if e.At.IsZero() {
		if e.At, err = ParseTime(h.Time, loc); err != nil {
			return cabinet.Event{}, invalid("no usable time: %v", err)
		}
	}
	return e, nil
}

func decodeRDS(m *Message, e *cabinet.Event, loc *time.Location) error {
	rxds := m.All("RXD")
	if len(rxds) != 1 {
		return invalid("RDS needs exactly one RXD, has %d", len(rxds))
	}
	rxd := rxds[0]
	e.Kind = cabinet.EventVend
	if e.RequestID == "" {
		return invalid("RDS without ORC-2 placer order number")
	}
	e.MedicationCode = rxd.Component(2, 1, 1)
	if e.MedicationCode == "" {
		return invalid("RXD-2 medication code is empty")
	}
	var err error
	if e.Amount, err = optionalCount(rxd, 4); err != nil {
		return err
	}
	if e.Amount <= 0 {
		return invalid("RXD-4 amount must be positive")
	}
	if at := rxd.Value(3); at != "" {
		if e.At, err = ParseTime(at, loc); err != nil {
			return invalid("RXD-3: %v", err)
		}
	}
	e.User = rxd.Component(10, 1, 1)
	e.CabinetCode = rxd.Component(30, 1, 1)
	return nil
}

func decodeOMS(m *Message, e *cabinet.Event, loc *time.Location) error {
	zpms := m.All("ZPM")
	if len(zpms) != 1 {
		return invalid("OMS needs exactly one ZPM, has %d", len(zpms))
	}
	z := zpms[0]
	e.Kind = cabinet.EventKind(z.Value(1))
	if !validKind(e.Kind) {
		return invalid("ZPM-1 transaction %q is not one of V R W L U C", e.Kind)
	}
	e.CabinetCode = z.Value(3)
	e.Drawer, e.Pocket = z.Value(4), z.Value(5)
	e.MedicationCode = z.Component(6, 1, 1)
	if e.MedicationCode == "" {
		e.MedicationCode = m.Segment("RQD").Component(2, 1, 1)
	}
	if e.MedicationCode == "" {
		return invalid("ZPM-6 medication code is empty")
	}
	e.ControlledClass = z.Value(7)
	counts := []struct {
		field int
		dst   *int32
	}{{8, &e.Expected}, {9, &e.Actual}, {10, &e.Amount}, {13, &e.Balance}, {17, &e.ParLevel}}
	for _, c := range counts {
		n, err := optionalCount(z, c.field)
		if err != nil {
			return err
		}
		*c.dst = n
	}
	e.User, e.Witness = z.Component(11, 1, 1), z.Component(12, 1, 1)
	if at := z.Value(19); at != "" {
		var err error
		if e.At, err = ParseTime(at, loc); err != nil {
			return invalid("ZPM-19: %v", err)
		}
	}
	if e.Kind == cabinet.EventVend && e.RequestID == "" {
		return invalid("a vend needs ORC-2 placer order number")
	}
	return nil
}

// optionalCount reads a whole number from a field, 0 when empty.
func optionalCount(s *Segment, field int) (int32, error) {
	v := s.Value(field)
	if v == "" {
		return 0, nil
	}
	n, err := parseCount(v)
	if err != nil {
		return 0, invalid("%s-%d: %v", s.Name, field, err)
	}
	return n, nil
}
