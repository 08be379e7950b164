package hl7

import (
	"cmp"
	"fmt"
	"strconv"

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

// reportHeader is the MSH of a report (the cabinet sends it to this system), and the PID
// when the report names a patient.
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
	m := header{
		sendingApp: e.CabinetCode, receivingApp: Application,
		code: code, trigger: trigger, structure: code + "_" + trigger,
		controlID: e.MessageControlID, at: e.At, env: r.Envelope,
	}.message()
	if e.PatientMRN != "" {
		m.Add(NewSegment("PID").Set(1, "1").Set(3, e.PatientMRN, "", "", "", "MR"))
	}
	return m, nil
}

// BuildRDS builds the standard dispense report RDS^O13 of a vend, one ORDER group per line
// (ORC, RXD, RXR; INTERFACE.md lists every field). A line's group carries its OrderNumber
// in ORC-2 and its GroupNumber in ORC-4; a line with neither carries the event's RequestID
// in ORC-2, as cabinets that echo one number per request do.
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
	for i, l := range e.Lines {
		if l.MedicationCode == "" || !l.Amount.Valid {
			return nil, fmt.Errorf("hl7: RDS %s line %d needs a medication code and an amount", e.MessageControlID, i+1)
		}
		number, group := placers(e, l)
		rx := cmp.Or(number, group, e.MessageControlID)
		m.Add(
			orc("RE", number, group),
			NewSegment("RXD").
				Set(1, strconv.Itoa(i+1)).
				Set(2, l.MedicationCode, l.MedicationName, SystemLocal).
				Set(3, r.Envelope.time(e.At)).
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
	number, group := e.RequestID, ""
	if e.Kind == cabinet.EventVend {
		if len(e.Lines) != 1 {
			return nil, fmt.Errorf("hl7: an OMS vend carries one line, %s has %d", e.MessageControlID, len(e.Lines))
		}
		l := e.Lines[0]
		code, name, unit, amount = l.MedicationCode, l.MedicationName, l.Units, l.Amount
		number, group = placers(e, l)
	}
	if code == "" {
		return nil, fmt.Errorf("hl7: OMS %s needs a medication code", e.MessageControlID)
	}
	m, err := reportHeader(r, "OMS", "O05")
	if err != nil {
		return nil, err
	}
	m.Add(
		orc("SC", number, group),
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
			Set(19, r.Envelope.time(e.At)),
	)
	return m, nil
}

// orc returns the ORC of a report's group: ORC-1, ORC-2 and, when there is one, ORC-4.
func orc(control, number, group string) *Segment {
	s := NewSegment("ORC").Set(1, control).Set(2, number)
	if group != "" {
		s.Set(4, group)
	}
	return s
}

// placers returns ORC-2 and ORC-4 of a vend's line: its own numbers, or, when it has none,
// the event's RequestID in ORC-2.
func placers(e cabinet.Event, l cabinet.EventLine) (number, group string) {
	if l.OrderNumber == "" && l.GroupNumber == "" {
		return e.RequestID, ""
	}
	return l.OrderNumber, l.GroupNumber
}

func validKind(k cabinet.EventKind) bool {
	switch k {
	case cabinet.EventVend, cabinet.EventReturn, cabinet.EventWaste,
		cabinet.EventLoad, cabinet.EventUnload, cabinet.EventCount:
		return true
	}
	return false
}

var kindName = map[cabinet.EventKind]string{
	cabinet.EventVend: "vend", cabinet.EventReturn: "return", cabinet.EventWaste: "waste",
	cabinet.EventLoad: "load", cabinet.EventUnload: "unload", cabinet.EventCount: "count",
}
