package hl7

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
)

func TestReportsRoundTripToEvents(t *testing.T) {
	at := time.Date(2026, 3, 14, 9, 35, 12, 0, time.FixedZone("", 3600))
	vend := cabinet.Event{
		MessageControlID: "medreq-1-V1", Kind: cabinet.EventVend, CabinetCode: "PYX-ICU-01",
		RequestID: "medreq-1", MedicationCode: "MORF10", Amount: 2, User: "NURSE7", At: at,
	}
	padeVend := vend
	padeVend.Drawer, padeVend.Pocket, padeVend.ControlledClass = "1", "A", "A1"
	padeVend.Expected, padeVend.Actual, padeVend.Balance, padeVend.ParLevel = 10, 8, 8, 10
	waste := cabinet.Event{
		MessageControlID: "PYX-ICU-01-W-7", Kind: cabinet.EventWaste, CabinetCode: "PYX-ICU-01",
		RequestID: "medreq-1", MedicationCode: "MORF10", Drawer: "1", Pocket: "A", ControlledClass: "A1",
		Expected: 8, Actual: 8, Amount: 1, Balance: 8, ParLevel: 10, User: "NURSE7", Witness: "NURSE9", At: at,
	}
	count := cabinet.Event{
		MessageControlID: "PYX-ICU-01-C-8", Kind: cabinet.EventCount, CabinetCode: "PYX-ICU-01",
		MedicationCode: "MORF10", Drawer: "1", Pocket: "A", Expected: 8, Actual: 7, Balance: 7, ParLevel: 10,
		User: "TECH3", At: at,
	}
	tests := []struct {
		name  string
		build func(Report) (*Message, error)
		event cabinet.Event
		check func(t *testing.T, m *Message)
	}{
		{"RDS vend", BuildRDS, vend, func(t *testing.T, m *Message) {
			rxd := m.Segment("RXD")
			assert.Equal(t, "MORF10", rxd.Component(2, 1, 1))
			assert.Equal(t, "Morphine", rxd.Component(2, 1, 2))
			assert.Equal(t, "20260314093512+0100", rxd.Value(3))
			assert.Equal(t, "2", rxd.Value(4))
			assert.Equal(t, "PYX-ICU-01", rxd.Value(30))
			assert.Equal(t, "medreq-1", m.Segment("ORC").Value(2))
			assert.Equal(t, "RDS", m.Header().MessageCode)
		}},
		{"OMS vend", BuildOMS, padeVend, func(t *testing.T, m *Message) {
			z := m.Segment("ZPM")
			assert.Equal(t, "V", z.Value(1))
			assert.Equal(t, "PYX-ICU-01", z.Value(3))
			assert.Equal(t, "10", z.Value(8))
			assert.Equal(t, "8", z.Value(9))
			assert.Equal(t, "10", z.Value(17))
			assert.Equal(t, "20260314093512+0100", z.Value(19))
			assert.Equal(t, "MORF10", m.Segment("RQD").Component(2, 1, 1))
		}},
		{"OMS waste with witness", BuildOMS, waste, func(t *testing.T, m *Message) {
			assert.Equal(t, "NURSE9", m.Segment("ZPM").Value(12))
		}},
		{"OMS count without order", BuildOMS, count, func(t *testing.T, m *Message) {
			assert.Equal(t, "", m.Segment("ORC").Value(2))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.build(Report{Event: tt.event, MedicationName: "Morphine", Unit: "mg"})
			require.NoError(t, err)
			raw, err := m.Encode()
			require.NoError(t, err)
			parsed, err := Parse(raw)
			require.NoError(t, err)
			tt.check(t, parsed)
			got, err := DecodeEvent(parsed, nil)
			require.NoError(t, err)
			assert.True(t, tt.event.At.Equal(got.At))
			got.At = tt.event.At
			assert.Equal(t, tt.event, got)
		})
	}
}

func TestDecodeEventFallsBackToMSH(t *testing.T) {
	m, err := Parse(seg(`MSH|^~\&|PYX-ICU-02||PYXIS-MEDREQ||202603141130||RDS^O13^RDS_O13|d1|P|2.5`,
		`ORC|RE|medreq-9`, `RXD|1|MORF10||2`))
	require.NoError(t, err)
	e, err := DecodeEvent(m, time.FixedZone("CET", 3600))
	require.NoError(t, err)
	assert.Equal(t, "PYX-ICU-02", e.CabinetCode)
	assert.Equal(t, time.Date(2026, 3, 14, 10, 30, 0, 0, time.UTC), e.At.UTC(), "MSH-7 read in the given zone")
}

func TestDecodeEventRejects(t *testing.T) {
	rds := `MSH|^~\&|PYX||PYXIS-MEDREQ||20260314||RDS^O13^RDS_O13|d1|P|2.5`
	oms := `MSH|^~\&|PYX||PYXIS-MEDREQ||20260314||OMS^O05^OMS_O05|e1|P|2.5`
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"an order, not a report", seg(`MSH|^~\&|A||B||20260314||RDE^O11|x|P|2.5`, `ORC|NW|r`), ErrUnsupported},
		{"RDS without RXD", seg(rds, `ORC|RE|r`), ErrInvalid},
		{"RDS with two RXD", seg(rds, `ORC|RE|r`, `RXD|1|A||1`, `RXD|2|B||1`), ErrInvalid},
		{"RDS without placer number", seg(rds, `ORC|RE|`, `RXD|1|A||1`), ErrInvalid},
		{"RDS without amount", seg(rds, `ORC|RE|r`, `RXD|1|A`), ErrInvalid},
		{"RDS bad amount", seg(rds, `ORC|RE|r`, `RXD|1|A||two`), ErrInvalid},
		{"RDS bad time", seg(rds, `ORC|RE|r`, `RXD|1|A|2026-03-14|1`), ErrInvalid},
		{"RDS without control id", seg(`MSH|^~\&|PYX||B||20260314||RDS^O13|||2.5`, `ORC|RE|r`, `RXD|1|A||1`), ErrInvalid},
		{"OMS without ZPM", seg(oms, `ORC|SC|`), ErrInvalid},
		{"OMS unknown transaction", seg(oms, `ZPM|X||PYX|1|A|M`), ErrInvalid},
		{"OMS vend without order", seg(oms, `ORC|SC|`, `ZPM|V||PYX|1|A|M`), ErrInvalid},
		{"OMS without drug", seg(oms, `ZPM|L||PYX|1|A|`), ErrInvalid},
		{"OMS bad count", seg(oms, `ZPM|C||PYX|1|A|M||x`), ErrInvalid},
		{"no usable time", seg(`MSH|^~\&|PYX||B||||OMS^O05|e1|P|2.5`, `ZPM|L||PYX|1|A|M`), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.raw)
			require.NoError(t, err)
			_, err = DecodeEvent(m, nil)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestBuildReportsRefuseIncompleteEvents(t *testing.T) {
	ok := cabinet.Event{MessageControlID: "x", Kind: cabinet.EventVend, CabinetCode: "C", RequestID: "r", MedicationCode: "M", Amount: 1, At: fixedNow}
	tests := []struct {
		name   string
		build  func(Report) (*Message, error)
		mutate func(*cabinet.Event)
	}{
		{"RDS of a load", BuildRDS, func(e *cabinet.Event) { e.Kind = cabinet.EventLoad }},
		{"RDS without request", BuildRDS, func(e *cabinet.Event) { e.RequestID = "" }},
		{"no control id", BuildOMS, func(e *cabinet.Event) { e.MessageControlID = "" }},
		{"no time", BuildOMS, func(e *cabinet.Event) { e.At = time.Time{} }},
		{"bad kind", BuildOMS, func(e *cabinet.Event) { e.Kind = "Q" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.mutate(&e)
			_, err := tt.build(Report{Event: e})
			assert.Error(t, err)
		})
	}
}

func TestTimestamps(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "202603140926", want: time.Date(2026, 3, 14, 9, 26, 0, 0, time.UTC)},
		{in: "20260314092653", want: time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)},
		{in: "20260314092653.5", want: time.Date(2026, 3, 14, 9, 26, 53, 500_000_000, time.UTC)},
		{in: "20260314092653.1234-0500", want: time.Date(2026, 3, 14, 14, 26, 53, 123_400_000, time.UTC)},
		{in: "202603140926+0130", want: time.Date(2026, 3, 14, 7, 56, 0, 0, time.UTC)},
		{in: "20260314", want: time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)},
		{in: "2026031409", want: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)},
		{in: "", wantErr: true},
		{in: "2026-03-14", wantErr: true},
		{in: "20260230", wantErr: true},
		{in: "202603142500", wantErr: true},
		{in: "2026031409265", wantErr: true},
		{in: "202603140926.5", wantErr: true},
		{in: "20260314092653+05", wantErr: true},
		{in: "20260314092653+2500", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in, nil)
			if tt.wantErr {
				assert.ErrorIs(t, err, ErrBadTime)
				return
			}
			require.NoError(t, err)
			assert.True(t, tt.want.Equal(got), "got %s", got)
		})
	}
	at := time.Date(2026, 3, 14, 9, 26, 53, 0, time.FixedZone("", -5*3600))
	assert.Equal(t, "20260314092653-0500", FormatTime(at))
	back, err := ParseTime(FormatTime(at), nil)
	require.NoError(t, err)
	assert.True(t, at.Equal(back))
}
