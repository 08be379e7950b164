package hl7

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
)

var c = cabinet.CountOf

func TestReportsRoundTripToEvents(t *testing.T) {
	at := time.Date(2026, 3, 14, 9, 35, 12, 0, time.FixedZone("", 3600))
	vend := cabinet.Event{
		MessageControlID: "RV1", Kind: cabinet.EventVend, CabinetCode: "PYX-ICU-01", RequestID: "medreq-1",
		Lines: []cabinet.EventLine{
			{OrderNumber: "medreq-1-1", GroupNumber: "medreq-1", MedicationCode: "MORF10", MedicationName: "Morphine", Amount: c(2), Units: "ampoule"},
			{OrderNumber: "medreq-1-2", GroupNumber: "medreq-1", MedicationCode: "PARA500", MedicationName: "Paracetamol", Amount: c(1), Units: "tablet"},
		},
		User: "NURSE7", At: at,
	}
	// A cabinet that echoes one number per request: ORC-2 on every line, no ORC-4.
	override := vend
	override.RequestID, override.MessageControlID = "RX-778812", "RV2"
	override.Lines = []cabinet.EventLine{
		{OrderNumber: "RX-778812", MedicationCode: "MORF10", MedicationName: "Morphine", Amount: c(2), Units: "ampoule"},
		{OrderNumber: "RX-778812", MedicationCode: "PARA500", MedicationName: "Paracetamol", Amount: c(1), Units: "tablet"},
	}
	noOrder := vend
	noOrder.RequestID, noOrder.MessageControlID = "", "RV3"
	noOrder.Lines = []cabinet.EventLine{{MedicationCode: "MORF10", MedicationName: "Morphine", Amount: c(2), Units: "ampoule"}}
	// Two orders in one vend: each line names its own, and the report as a whole none.
	twoOrders := vend
	twoOrders.RequestID, twoOrders.MessageControlID = "", "RV4"
	twoOrders.Lines = []cabinet.EventLine{
		{OrderNumber: "medreq-1-1", GroupNumber: "medreq-1", MedicationCode: "MORF10", MedicationName: "Morphine", Amount: c(2), Units: "ampoule"},
		{OrderNumber: "medreq-2-1", GroupNumber: "medreq-2", MedicationCode: "PARA500", MedicationName: "Paracetamol", Amount: c(1), Units: "tablet"},
	}
	padeVend := cabinet.Event{
		MessageControlID: "PV1", Kind: cabinet.EventVend, CabinetCode: "PYX-ICU-01", RequestID: "medreq-1",
		Lines:          []cabinet.EventLine{{OrderNumber: "medreq-1-1", GroupNumber: "medreq-1", MedicationCode: "MORF10", MedicationName: "Morphine", Amount: c(2), Units: "mg"}},
		MedicationCode: "MORF10", Drawer: "1", Pocket: "A", ControlledClass: "A1",
		Expected: c(10), Actual: c(8), Balance: c(8), ParLevel: c(10), User: "NURSE7", At: at,
	}
	waste := cabinet.Event{
		MessageControlID: "PYX-ICU-01-W-7", Kind: cabinet.EventWaste, CabinetCode: "PYX-ICU-01",
		RequestID: "medreq-1", MedicationCode: "MORF10", Drawer: "1", Pocket: "A", ControlledClass: "A1",
		Expected: c(8), Actual: c(8), Amount: c(1), Balance: c(8), ParLevel: c(10), User: "NURSE7", Witness: "NURSE9", At: at,
	}
	count := cabinet.Event{
		MessageControlID: "PYX-ICU-01-C-8", Kind: cabinet.EventCount, CabinetCode: "PYX-ICU-01",
		MedicationCode: "MORF10", Drawer: "1", Pocket: "A", Actual: c(7), User: "TECH3", At: at,
	}
	tests := []struct {
		name  string
		build func(Report) (*Message, error)
		event cabinet.Event
		check func(t *testing.T, m *Message)
	}{
		{"RDS vend, one ORDER group per line", BuildRDS, vend, func(t *testing.T, m *Message) {
			require.Len(t, m.All("ORC"), 2)
			require.Len(t, m.All("RXR"), 2)
			rxd := m.All("RXD")[1]
			assert.Equal(t, "2", rxd.Value(1))
			assert.Equal(t, "PARA500", rxd.Component(2, 1, 1))
			assert.Equal(t, "20260314093512+0100", rxd.Value(3))
			assert.Equal(t, "1", rxd.Value(4))
			assert.Equal(t, "tablet", rxd.Component(5, 1, 1))
			assert.Equal(t, "medreq-1-2", rxd.Value(7), "RXD-7: the line's order")
			assert.Equal(t, "PYX-ICU-01", rxd.Value(30))
			assert.Equal(t, "medreq-1-2", m.All("ORC")[1].Value(2))
			assert.Equal(t, "medreq-1", m.All("ORC")[1].Value(4))
		}},
		{"RDS vend of another system's order", BuildRDS, override, func(t *testing.T, m *Message) {
			assert.Equal(t, "RX-778812", m.All("ORC")[1].Value(2))
			assert.Equal(t, "", m.All("ORC")[1].Value(4))
		}},
		{"RDS vend of two orders", BuildRDS, twoOrders, nil},
		{"RDS vend without an order", BuildRDS, noOrder, func(t *testing.T, m *Message) {
			assert.Equal(t, "", m.Segment("ORC").Value(2))
			assert.Equal(t, "RV3", m.Segment("RXD").Value(7), "RXD-7 is required: the report's id then")
		}},
		{"OMS vend", BuildOMS, padeVend, func(t *testing.T, m *Message) {
			z := m.Segment("ZPM")
			assert.Equal(t, "V", z.Value(1))
			assert.Equal(t, "PYX-ICU-01", z.Value(3))
			assert.Equal(t, "10", z.Value(8))
			assert.Equal(t, "8", z.Value(9))
			assert.Equal(t, "2", z.Value(10))
			assert.Equal(t, "10", z.Value(17))
			assert.Equal(t, "20260314093512+0100", z.Value(19))
			assert.Equal(t, "MORF10", m.Segment("RQD").Component(2, 1, 1))
		}},
		{"OMS waste with witness", BuildOMS, waste, func(t *testing.T, m *Message) {
			assert.Equal(t, "NURSE9", m.Segment("ZPM").Value(12))
		}},
		{"OMS count, only the count known", BuildOMS, count, func(t *testing.T, m *Message) {
			z := m.Segment("ZPM")
			assert.Equal(t, "", m.Segment("ORC").Value(2))
			assert.Equal(t, "", z.Value(8), "absent stays empty, not 0")
			assert.Equal(t, "", z.Value(10))
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
			if tt.check != nil {
				tt.check(t, parsed)
			}
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
	assert.Equal(t, []cabinet.EventLine{{OrderNumber: "medreq-9", MedicationCode: "MORF10", Amount: c(2)}}, e.Lines)
	assert.Equal(t, "medreq-9", e.RequestID)
}

func TestDecodeEventRejects(t *testing.T) {
	rds := `MSH|^~\&|PYX||PYXIS-MEDREQ||20260314||RDS^O13^RDS_O13|d1|P|2.5`
	oms := `MSH|^~\&|PYX||PYXIS-MEDREQ||20260314||OMS^O05^OMS_O05|e1|P|2.5`
	tests := []struct {
		name string
		raw  []byte
		want error
		cond string
	}{
		{"an order, not a report", seg(`MSH|^~\&|A||B||20260314||RDE^O11|x|P|2.5`, `ORC|NW|r`), ErrUnsupported, ConditionUnsupportedType},
		{"an RDS of another event", seg(`MSH|^~\&|A||B||20260314||RDS^O25|x|P|2.5`, `ORC|NW|r`), ErrUnsupportedEvent, ConditionUnsupportedEvent},
		{"RDS without ORC", seg(rds, `RXD|1|A||1`), ErrInvalid, ConditionSegmentSequence},
		{"RDS without RXD", seg(rds, `ORC|RE|r`), ErrInvalid, ConditionSegmentSequence},
		{"RDS ORDER group without RXD", seg(rds, `ORC|RE|r`, `ORC|RE|r`, `RXD|1|A||1`), ErrInvalid, ConditionSegmentSequence},
		{"RDS with two RXD in a group", seg(rds, `ORC|RE|r`, `RXD|1|A||1`, `RXD|2|B||1`), ErrInvalid, ConditionSegmentSequence},
		{"RDS without amount", seg(rds, `ORC|RE|r`, `RXD|1|A`), ErrInvalid, ConditionRequiredField},
		{"RDS second line without amount", seg(rds, `ORC|RE|r`, `RXD|1|A||1`, `ORC|RE|r`, `RXD|2|B`), ErrInvalid, ConditionRequiredField},
		{"RDS without drug", seg(rds, `ORC|RE|r`, `RXD|1|||1`), ErrInvalid, ConditionRequiredField},
		{"RDS bad amount", seg(rds, `ORC|RE|r`, `RXD|1|A||two`), ErrInvalid, ConditionDataType},
		{"RDS zero amount", seg(rds, `ORC|RE|r`, `RXD|1|A||0`), ErrInvalid, ConditionDataType},
		{"RDS negative fraction", seg(rds, `ORC|RE|r`, `RXD|1|A||-0.5`), ErrInvalid, ConditionDataType},
		{"RDS amount with an exponent", seg(rds, `ORC|RE|r`, `RXD|1|A||1e3`), ErrInvalid, ConditionDataType},
		{"RDS amount with a comma", seg(rds, `ORC|RE|r`, `RXD|1|A||0,5`), ErrInvalid, ConditionDataType},
		{"RDS bad time", seg(rds, `ORC|RE|r`, `RXD|1|A|2026-03-14|1`), ErrInvalid, ConditionDataType},
		{"RDS without control id", seg(`MSH|^~\&|PYX||B||20260314||RDS^O13|||2.5`, `ORC|RE|r`, `RXD|1|A||1`), ErrInvalid, ConditionRequiredField},
		{"OMS without ZPM", seg(oms, `ORC|SC|`), ErrInvalid, ConditionRequiredField},
		{"OMS with two ZPM", seg(oms, `ZPM|L||PYX|1|A|M||||1`, `ZPM|L||PYX|1|A|M||||1`), ErrInvalid, ConditionSegmentSequence},
		{"OMS unknown transaction", seg(oms, `ZPM|X||PYX|1|A|M`), ErrInvalid, ConditionTableValue},
		{"OMS without transaction", seg(oms, `ZPM|||PYX|1|A|M`), ErrInvalid, ConditionRequiredField},
		{"OMS without drug", seg(oms, `ZPM|L||PYX|1|A|||||1`), ErrInvalid, ConditionRequiredField},
		{"OMS bad count", seg(oms, `ZPM|C||PYX|1|A|M||x`), ErrInvalid, ConditionDataType},
		{"OMS count without a count", seg(oms, `ZPM|C||PYX|1|A|M||8`), ErrInvalid, ConditionRequiredField},
		{"OMS load without an amount", seg(oms, `ZPM|L||PYX|1|A|M`), ErrInvalid, ConditionRequiredField},
		{"OMS vend without an amount", seg(oms, `ORC|SC|r`, `ZPM|V||PYX|1|A|M`), ErrInvalid, ConditionRequiredField},
		{"no usable time", seg(`MSH|^~\&|PYX||B||||OMS^O05|e1|P|2.5`, `ZPM|L||PYX|1|A|M||||1`), ErrInvalid, ConditionDataType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.raw)
			require.NoError(t, err)
			_, err = DecodeEvent(m, nil)
			assert.ErrorIs(t, err, tt.want)
			assert.Equal(t, tt.cond, ConditionOf(err))
		})
	}
}

func TestOMSVendWithoutOrderIsAVend(t *testing.T) {
	m, err := Parse(seg(`MSH|^~\&|PYX||PYXIS-MEDREQ||20260314||OMS^O05^OMS_O05|e1|P|2.5`,
		`ORC|SC|`, `RQD|1|M||||amp`, `ZPM|V||PYX|1|A|M||||2`))
	require.NoError(t, err)
	e, err := DecodeEvent(m, nil)
	require.NoError(t, err)
	assert.Equal(t, "", e.RequestID)
	assert.Equal(t, []cabinet.EventLine{{MedicationCode: "M", Amount: c(2), Units: "amp"}}, e.Lines)
	assert.False(t, e.Amount.Valid, "a vend's amount is in its line")
	assert.False(t, e.Expected.Valid, "empty ZPM-8 is absent")
}

func TestBuildReportsRefuseIncompleteEvents(t *testing.T) {
	ok := cabinet.Event{MessageControlID: "x", Kind: cabinet.EventVend, CabinetCode: "C", RequestID: "r",
		Lines: []cabinet.EventLine{{MedicationCode: "M", Amount: c(1)}}, At: fixedNow}
	tests := []struct {
		name   string
		build  func(Report) (*Message, error)
		mutate func(*cabinet.Event)
	}{
		{"RDS of a load", BuildRDS, func(e *cabinet.Event) { e.Kind = cabinet.EventLoad }},
		{"RDS without lines", BuildRDS, func(e *cabinet.Event) { e.Lines = nil }},
		{"RDS line without amount", BuildRDS, func(e *cabinet.Event) { e.Lines = []cabinet.EventLine{{MedicationCode: "M"}} }},
		{"no control id", BuildOMS, func(e *cabinet.Event) { e.MessageControlID = "" }},
		{"control id too long", BuildRDS, func(e *cabinet.Event) { e.MessageControlID = "medreq-01JQ0000000000000000000001-V1" }},
		{"no time", BuildOMS, func(e *cabinet.Event) { e.At = time.Time{} }},
		{"bad kind", BuildOMS, func(e *cabinet.Event) { e.Kind = "Q" }},
		{"OMS vend of two lines", BuildOMS, func(e *cabinet.Event) { e.Lines = append(e.Lines, e.Lines[0]) }},
		{"OMS load without drug", BuildOMS, func(e *cabinet.Event) { e.Kind = cabinet.EventLoad }},
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
	sp, err := time.LoadLocation("America/Sao_Paulo")
	require.NoError(t, err)
	local, err := ParseTime("202603141130", sp)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 3, 14, 14, 30, 0, 0, time.UTC), local.UTC(), "no offset: read in the given zone")
}

// TestDecodeEventKeepsWhatHappened decodes the reports a real cabinet sends that are odd
// but describe something that happened: none is refused, and what is odd is flagged.
func TestDecodeEventKeepsWhatHappened(t *testing.T) {
	rds := func(msh string, rest ...string) []byte { return seg(append([]string{msh}, rest...)...) }
	t.Run("a fractional amount is kept exactly, and flagged", func(t *testing.T) {
		m, err := Parse(rds(`MSH|^~\&|PYX||PYXIS-MEDREQ||20260314||RDS^O13|f1|P|2.5`,
			`ORC|RE|L-1||medreq-1`, `RXD|1|MORF10||2|amp`, `ORC|RE|L-2||medreq-1`, `RXD|2|MIDA5||00.50|mL^milliliter^UCUM`))
		require.NoError(t, err)
		e, err := DecodeEvent(m, nil)
		require.NoError(t, err)
		require.Len(t, e.Lines, 2)
		assert.Equal(t, c(2), e.Lines[0].Amount)
		assert.False(t, e.Lines[1].Amount.Valid, "not a whole number: absent, never rounded")
		assert.Equal(t, "mL", e.Lines[1].Units, "units as written")
		assert.Equal(t, []cabinet.Flag{{Cause: cabinet.CauseFractional, Field: "RXD-4", Line: 2, Value: "0.5",
			Text: "RXD-4 is 0.5, not a whole number of units"}}, e.Flags)
	})
	t.Run("a fractional waste is kept, and flagged", func(t *testing.T) {
		m, err := Parse(rds(`MSH|^~\&|PYX||PYXIS-MEDREQ||20260314||OMS^O05|f2|P|2.5`,
			`ORC|SC|L-1||medreq-1`, `ZPM|W||PYX|1|A|MORF10|A1|||0.25|N7|N9`))
		require.NoError(t, err)
		e, err := DecodeEvent(m, nil)
		require.NoError(t, err)
		assert.False(t, e.Amount.Valid)
		require.Len(t, e.Flags, 1)
		assert.Equal(t, []any{"ZPM-10", 0, "0.25"}, []any{e.Flags[0].Field, e.Flags[0].Line, e.Flags[0].Value})
	})
	t.Run("a v2.3 dispense (RDS^O01) reads as RDS^O13", func(t *testing.T) {
		m, err := Parse(rds(`MSH|^~\&|PYX||PYXIS-MEDREQ||20260314093512||RDS^O01|v23|P|2.3`,
			`ORC|RE|L-1`, `RXD|1|MORF10^Morphine|20260314093512.0000^S|1|amp`))
		require.NoError(t, err)
		e, err := DecodeEvent(m, nil)
		require.NoError(t, err)
		assert.Equal(t, "L-1", e.RequestID)
		assert.Equal(t, time.Date(2026, 3, 14, 9, 35, 12, 0, time.UTC), e.At.UTC())
		assert.Empty(t, e.Flags)
	})
	t.Run("Latin-1 declared is transcoded, not flagged", func(t *testing.T) {
		m, err := Parse(rds("MSH|^~\\&|PYX||PYXIS-MEDREQ||20260314||RDS^O13|l1|P|2.5||||||8859/1",
			`ORC|RE|L-1`, "RXD|1|DIPI^Dipirona s\xf3dica||1|amp|||||Jo\xe3o"))
		require.NoError(t, err)
		e, err := DecodeEvent(m, nil)
		require.NoError(t, err)
		assert.Equal(t, "Dipirona sódica", e.Lines[0].MedicationName)
		assert.Equal(t, "João", e.User)
		assert.Empty(t, e.Flags)
	})
	t.Run("several orders in one vend: each line names its own", func(t *testing.T) {
		m, err := Parse(rds(`MSH|^~\&|PYX||PYXIS-MEDREQ||20260314||RDS^O13|m1|P|2.5`,
			`ORC|RE|A-1||medreq-A`, `RXD|1|M1||1`, `ORC|RE|B-1||medreq-B`, `RXD|2|M2||1`))
		require.NoError(t, err)
		e, err := DecodeEvent(m, nil)
		require.NoError(t, err)
		assert.Equal(t, "", e.RequestID)
		assert.Equal(t, []string{"A-1", "medreq-A", "B-1", "medreq-B"},
			[]string{e.Lines[0].OrderNumber, e.Lines[0].GroupNumber, e.Lines[1].OrderNumber, e.Lines[1].GroupNumber})
	})
}

func TestDecimal(t *testing.T) {
	for in, want := range map[string]string{"0.5": "0.5", "00.50": "0.5", "+2.0": "2", ".5": "0.5", "5.": "5", "-0.0": "0", "-1.25": "-1.25"} {
		got, ok := Decimal(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", ".", "1e3", "0,5", "+-1", "1.2.3", "one"} {
		_, ok := Decimal(in)
		assert.False(t, ok, in)
	}
}
