package hl7

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
)

var fixedNow = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func testOrder() cabinet.Order {
	return cabinet.Order{
		RequestID: "medreq-01JQ0000000000000000000001", CabinetCode: "PYX-ICU-01", CabinetUnit: "ICU",
		PatientMRN: "MRN0042", PatientBed: "12B",
		Lines: []cabinet.Line{
			{MedicationCode: "MORF10", MedicationName: "Morphine 10 mg/mL", Unit: "mg", Quantity: 2},
			{MedicationCode: "PARA500", MedicationName: "Paracetamol 500^mg", Unit: "tab", Quantity: 1},
		},
	}
}

func TestBuildRDEWritesTheDocumentedFields(t *testing.T) {
	m, err := BuildRDE(testOrder(), OrderNew, fixedNow)
	require.NoError(t, err)
	raw, err := m.Encode()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\r"), "\r")
	require.Len(t, lines, 6)
	assert.Equal(t, `MSH|^~\&|PYXIS-MEDREQ||PYX-ICU-01||20260314092653+0000||RDE^O11^RDE_O11|medreq-01JQ0000000000000000000001-NW|P|2.5`, lines[0])
	assert.Equal(t, `PID|1||MRN0042^^^^MR`, lines[1])
	assert.Equal(t, `PV1|1|I|ICU^^12B`, lines[2])
	assert.Equal(t, `ORC|NW|medreq-01JQ0000000000000000000001|||||||20260314092653+0000`, lines[3])
	assert.Equal(t, `RXE||MORF10^Morphine 10 mg/mL|2||mg|||||2|mg`+strings.Repeat("|", 29)+`PYX-ICU-01`, lines[4])
	assert.Contains(t, lines[5], `PARA500^Paracetamol 500\S\mg`)
	rxe := m.All("RXE")[0]
	assert.Equal(t, "PYX-ICU-01", rxe.Value(40))
	assert.Equal(t, "2", rxe.Value(10))
}

func TestDecodeRDE(t *testing.T) {
	for _, oc := range []OrderControl{OrderNew, OrderCancel} {
		t.Run(string(oc), func(t *testing.T) {
			m, err := BuildRDE(testOrder(), oc, fixedNow)
			require.NoError(t, err)
			raw, err := m.Encode()
			require.NoError(t, err)
			parsed, err := Parse(raw)
			require.NoError(t, err)
			a, err := DecodeRDE(parsed)
			require.NoError(t, err)
			assert.Equal(t, ControlID(testOrder().RequestID, oc), a.ControlID)
			assert.Equal(t, oc, a.Control)
			assert.Equal(t, testOrder(), a.Order)
		})
	}
}

func TestDecodeRDERejects(t *testing.T) {
	msh := `MSH|^~\&|PYXIS-MEDREQ||PYX-ICU-01||20260314||RDE^O11^RDE_O11|r-NW|P|2.5`
	rxe := `RXE||MORF10|2`
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"not an RDE", seg(`MSH|^~\&|A||B||20260314||RDS^O13|x|P|2.5`, `ORC|NW|r`, rxe), ErrUnsupported},
		{"no control id", seg(`MSH|^~\&|A||B||20260314||RDE^O11||P|2.5`, `ORC|NW|r`, rxe), ErrInvalid},
		{"no ORC", seg(msh, rxe), ErrInvalid},
		{"bad order control", seg(msh, `ORC|XO|r`, rxe), ErrInvalid},
		{"no placer number", seg(msh, `ORC|NW|`, rxe), ErrInvalid},
		{"ORCs disagree", seg(msh, `ORC|NW|r`, rxe, `ORC|NW|s`, rxe), ErrInvalid},
		{"NW without RXE", seg(msh, `ORC|NW|r`), ErrInvalid},
		{"no medication code", seg(msh, `ORC|NW|r`, `RXE||^Morphine|2`), ErrInvalid},
		{"fractional quantity", seg(msh, `ORC|NW|r`, `RXE||MORF10|2.5`), ErrInvalid},
		{"zero quantity", seg(msh, `ORC|NW|r`, `RXE||MORF10|0`), ErrInvalid},
		{"stations disagree", seg(msh, `ORC|NW|r`, rxe+strings.Repeat("|", 37)+"A", rxe+strings.Repeat("|", 37)+"B"), ErrInvalid},
		{"no cabinet at all", seg(`MSH|^~\&|A||||20260314||RDE^O11|r-NW|P|2.5`, `ORC|NW|r`, rxe), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.raw)
			require.NoError(t, err)
			_, err = DecodeRDE(m)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestDecodeRDEAcceptsOneORCPerLineAndDecimalQuantities(t *testing.T) {
	m, err := Parse(seg(`MSH|^~\&|PYXIS-MEDREQ||PYX-ICU-01||20260314||RDE^O11^RDE_O11|r-NW|P|2.5`,
		`ORC|NW|r`, `RXE||MORF10|2.0`, `ORC|NW|r`, `RXE||PARA500|1|||||||3`))
	require.NoError(t, err)
	a, err := DecodeRDE(m)
	require.NoError(t, err)
	assert.Equal(t, "PYX-ICU-01", a.Order.CabinetCode, "MSH-5 when RXE-40 is empty")
	require.Len(t, a.Order.Lines, 2)
	assert.Equal(t, int32(2), a.Order.Lines[0].Quantity)
	assert.Equal(t, int32(3), a.Order.Lines[1].Quantity, "RXE-10 wins over RXE-3")
}

func TestBuildRDERefusesIncompleteOrders(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*cabinet.Order)
		oc     OrderControl
	}{
		{"no request id", func(o *cabinet.Order) { o.RequestID = "" }, OrderNew},
		{"no cabinet", func(o *cabinet.Order) { o.CabinetCode = "" }, OrderNew},
		{"no lines", func(o *cabinet.Order) { o.Lines = nil }, OrderNew},
		{"zero quantity", func(o *cabinet.Order) { o.Lines[0].Quantity = 0 }, OrderNew},
		{"bad control", func(*cabinet.Order) {}, OrderControl("XO")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOrder()
			tt.mutate(&o)
			_, err := BuildRDE(o, tt.oc, fixedNow)
			assert.Error(t, err)
		})
	}
	o := testOrder()
	o.Lines = nil
	_, err := BuildRDE(o, OrderCancel, fixedNow)
	assert.NoError(t, err, "a cancel needs no lines")
}
