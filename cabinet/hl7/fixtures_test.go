package hl7

import (
	"time"

	"github.com/medreq/pyxis/cabinet"
)

// example is one message this package builds, as the tests, the differential test and
// INTERFACE.md's examples use it.
type example struct {
	name string
	msg  *Message
}

// exampleRequestID is the request of the examples: medreq- and a ULID.
const exampleRequestID = "medreq-01JQ8ZK3M4V7XQ2R9TBN6WFHDC"

// examples builds one message of every kind the interface exchanges, from fixed inputs.
func examples() []example {
	// The hospital's zone: every time sent is written in it, with its offset.
	local := time.FixedZone("-03", -3*3600)
	at := time.Date(2026, 3, 14, 9, 26, 53, 0, local)
	order := cabinet.Order{
		RequestID: exampleRequestID, CabinetCode: "PYX-ICU-01", CabinetUnit: "ICU",
		PatientMRN: "MRN0042", PatientFamily: "Souza", PatientGiven: "Maria", PatientRoom: "4", PatientBed: "12B",
		Priority:   cabinet.PriorityStat,
		VerifiedBy: cabinet.Person{ID: "PHARM12", Family: "Lima", Given: "Ana"},
		StartAt:    at.Add(-2 * time.Minute), EndAt: at.Add(4 * time.Hour), IssuedAt: at,
		Lines: []cabinet.Line{
			{MedicationCode: "MORF10", MedicationName: "Morphine sulfate 10 mg/mL", Unit: "ampoule", Quantity: 1,
				Strength: "10 mg/mL, 1 mL", Form: "ampoule"},
			{MedicationCode: "PARA500", MedicationName: "Paracetamol 500 mg", Unit: "tablet", Quantity: 2,
				Strength: "500 mg", Form: "tablet"},
		},
	}
	env := Envelope{SendingFacility: "HOSP", ReceivingFacility: "ICU", Location: local}
	must := func(m *Message, err error) *Message {
		if err != nil {
			panic(err)
		}
		return m
	}
	nw := must(BuildRDE(order, OrderNew, at, env))
	cancel := order
	cancel.IssuedAt = at.Add(time.Hour)
	ca := must(BuildRDE(cancel, OrderCancel, at, env))
	stop := order
	stop.IssuedAt, stop.PartlyDispensed = at.Add(30*time.Minute), true
	dc := must(BuildRDE(stop, OrderDiscontinue, at, env))
	enhanced := must(BuildRDE(order, OrderNew, at, Envelope{ProcessingID: ProcessingTraining, Enhanced: true, Location: local}))
	// Through an engine to a central server: the MRN's own authority, an emergency patient
	// whose name is not known, no room, and the route the catalogue gives.
	engine := order
	engine.PatientFamily, engine.PatientGiven, engine.PatientRoom = "", "", ""
	engine.Lines = []cabinet.Line{{MedicationCode: "MORF10", MedicationName: "Morphine sulfate 10 mg/mL", Unit: "ampoule",
		Quantity: 1, Strength: "10 mg/mL, 1 mL", Form: "ampoule", Route: "IM"}}
	toEngine := must(BuildRDE(engine, OrderNew, at, Envelope{SendingFacility: "HOSP", AssigningAuthority: "HOSP-MRN",
		PatientClass: "E", Location: local}))
	vendAt := at.Add(9 * time.Minute)
	rds := must(BuildRDS(Report{Event: cabinet.Event{
		MessageControlID: "PYXICU01-000731", Kind: cabinet.EventVend, CabinetCode: "PYX-ICU-01",
		RequestID: order.RequestID, PatientMRN: order.PatientMRN, User: "NURSE7", At: vendAt,
		Lines: []cabinet.EventLine{
			{OrderNumber: order.OrderNumber(0), GroupNumber: order.RequestID,
				MedicationCode: "MORF10", MedicationName: "Morphine sulfate 10 mg/mL", Amount: cabinet.CountOf(1), Units: "ampoule"},
			{OrderNumber: order.OrderNumber(1), GroupNumber: order.RequestID,
				MedicationCode: "PARA500", MedicationName: "Paracetamol 500 mg", Amount: cabinet.CountOf(2), Units: "tablet"},
		},
	}, Envelope: Envelope{Location: local}}))
	override := must(BuildRDS(Report{Event: cabinet.Event{
		MessageControlID: "PYXICU01-000732", Kind: cabinet.EventVend, CabinetCode: "PYX-ICU-01",
		User: "NURSE7", At: vendAt,
		Lines: []cabinet.EventLine{{MedicationCode: "DIPI1G", MedicationName: "Dipyrone 500 mg/mL", Amount: cabinet.CountOf(1), Units: "ampoule"}},
	}, Envelope: Envelope{Location: local}}))
	omsVend := must(BuildOMS(Report{Event: cabinet.Event{
		MessageControlID: "PYXICU01-000733", Kind: cabinet.EventVend, CabinetCode: "PYX-ICU-01",
		RequestID: order.RequestID, MedicationCode: "MORF10", Drawer: "1", Pocket: "A", ControlledClass: "A1",
		Expected: cabinet.CountOf(8), Actual: cabinet.CountOf(7), Balance: cabinet.CountOf(7), ParLevel: cabinet.CountOf(10),
		User: "NURSE7", At: vendAt,
		Lines: []cabinet.EventLine{{OrderNumber: order.OrderNumber(0), GroupNumber: order.RequestID,
			MedicationCode: "MORF10", MedicationName: "Morphine sulfate 10 mg/mL", Amount: cabinet.CountOf(1), Units: "ampoule"}},
	}, Envelope: Envelope{Location: local}}))
	count := must(BuildOMS(Report{Event: cabinet.Event{
		MessageControlID: "PYXICU01-000734", Kind: cabinet.EventCount, CabinetCode: "PYX-ICU-01",
		MedicationCode: "MORF10", Drawer: "1", Pocket: "A", ControlledClass: "A1",
		Expected: cabinet.CountOf(8), Actual: cabinet.CountOf(7), Balance: cabinet.CountOf(7), ParLevel: cabinet.CountOf(10),
		User: "TECH3", At: at.Add(2 * time.Hour),
	}, MedicationName: "Morphine sulfate 10 mg/mL", Unit: "ampoule", Envelope: Envelope{Location: local}}))
	waste := must(BuildOMS(Report{Event: cabinet.Event{
		MessageControlID: "PYXICU01-000735", Kind: cabinet.EventWaste, CabinetCode: "PYX-ICU-01",
		RequestID: order.RequestID, MedicationCode: "MORF10", Drawer: "1", Pocket: "A", ControlledClass: "A1",
		Amount: cabinet.CountOf(1), User: "NURSE7", Witness: "NURSE9", At: vendAt.Add(5 * time.Minute),
	}, MedicationName: "Morphine sulfate 10 mg/mL", Unit: "ampoule", Envelope: Envelope{Location: local}}))
	ackAt := at.Add(time.Second)
	aa := BuildACK(nw.Header(), Ack{Code: AckAccept}, ackAt)
	ae := BuildACK(nw.Header(), Ack{Code: AckError, Condition: ConditionTableValue,
		Text: "medication PARA500 is not stocked in cabinet PYX-ICU-01", Segment: "RXE", Occurrence: 2, Field: 2}, ackAt)
	ar := BuildACK(nw.Header(), Ack{Code: AckReject, Condition: ConditionInternal, Text: "cabinet busy; resend later"}, ackAt)
	ca2 := BuildACK(enhanced.Header(), Ack{Code: AckAccept}, ackAt)
	reportAE := BuildACK(count.Header(), Ack{Code: AckError, Condition: ConditionRequiredField,
		Text: "hl7: invalid message: a count needs ZPM-9, the quantity counted", Segment: "ZPM", Occurrence: 1, Field: 9}, ackAt)
	item := cabinet.Item{Code: "MORF10", Name: "Morphine sulfate", Strength: "10 mg/mL, 1 mL", Form: "ampoule",
		Unit: "ampoule", ControlledList: "A1", New: true, ChangedAt: at.Add(-24 * time.Hour)}
	mad := must(BuildMFN("PYX-ICU-01", item, at, env))
	tab := cabinet.Item{Code: "PARA500", Name: "Paracetamol", Strength: "500 mg", Form: "tablet", Unit: "tablet",
		ChangedAt: at.Add(-time.Hour)}
	mup := must(BuildMFN("PYX-ICU-01", tab, at, env))
	mfnAck := BuildACK(mad.Header(), Ack{Code: AckAccept}, ackAt)
	gone := tab
	gone.Deactivated, gone.Barcodes, gone.ChangedAt = true, []string{"7891234567895", "HOSP-000123"}, at.Add(-30*time.Minute)
	mdc := must(BuildMFN("PYX-ICU-01", gone, at, env))
	site := must(BuildMFN(DefaultServerApplication, tab, at, env))
	return []example{
		{"rde-nw", nw}, {"rde-ca", ca}, {"rde-dc", dc}, {"rde-nw-enhanced", enhanced}, {"rde-nw-engine", toEngine},
		{"ack-aa", aa}, {"ack-ae", ae}, {"ack-ar", ar}, {"ack-ca", ca2},
		{"rds", rds}, {"rds-no-order", override}, {"oms-vend", omsVend}, {"oms-count", count}, {"oms-waste", waste},
		{"ack-report-ae", reportAE},
		{"mfn-mad", mad}, {"mfn-mup", mup}, {"mfn-mdc", mdc}, {"mfn-site", site}, {"ack-mfn", mfnAck},
	}
}
