package hl7

import (
	"testing"
	"time"

	"github.com/medreq/pyxis/cabinet"
)

// The encoder and parser run once per cabinet command and once per cabinet report, on the
// worker and the api's MLLP listener. Compare runs with benchstat:
//
//	go test -run '^$' -bench . -benchmem -count 10 ./cabinet/hl7/ > new.txt

func BenchmarkEncodeRDE(b *testing.B) {
	order := testOrder()
	env := Envelope{SendingFacility: "HOSP", Enhanced: true}
	b.ReportAllocs()
	for b.Loop() {
		m, err := BuildRDE(order, OrderNew, fixedNow, env)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// vendReport is a two-line dispense report as a cabinet sends it after a withdrawal.
func vendReport(b *testing.B) []byte {
	b.Helper()
	m, err := BuildRDS(Report{Event: cabinet.Event{
		MessageControlID: "RV1", Kind: cabinet.EventVend, CabinetCode: "PYX-ICU-01", RequestID: testRequestID,
		Lines: []cabinet.EventLine{
			{MedicationCode: "MORF10", MedicationName: "Morphine", Amount: cabinet.CountOf(2), Units: "ampoule"},
			{MedicationCode: "PARA500", MedicationName: "Paracetamol", Amount: cabinet.CountOf(1), Units: "tablet"},
		},
		User: "NURSE7", At: fixedNow,
	}})
	if err != nil {
		b.Fatal(err)
	}
	raw, err := m.Encode()
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func BenchmarkParseAndDecodeRDS(b *testing.B) {
	raw := vendReport(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeEvent(m, time.UTC); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnswerACK(b *testing.B) {
	raw := vendReport(b)
	b.ReportAllocs()
	for b.Loop() {
		if ack := Answer(raw, Ack{Code: AckAccept}, fixedNow); len(ack) == 0 {
			b.Fatal("empty acknowledgment")
		}
	}
}
