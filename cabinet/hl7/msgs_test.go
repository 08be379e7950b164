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

const testRequestID = "medreq-01JQ0000000000000000000001"

func testOrder() cabinet.Order {
	return cabinet.Order{
		RequestID: testRequestID, CabinetCode: "PYX-ICU-01", CabinetUnit: "ICU",
		PatientMRN: "MRN0042", PatientFamily: "Souza", PatientGiven: "Maria", PatientBed: "12B",
		Priority: cabinet.PriorityStat,
		Lines: []cabinet.Line{
			{MedicationCode: "MORF10", MedicationName: "Morphine 10 mg/mL", Unit: "ampoule", Quantity: 2,
				Strength: "10 mg/mL, 1 mL", Form: "ampoule"},
			{MedicationCode: "PARA500", MedicationName: "Paracetamol 500^mg", Unit: "tablet", Quantity: 2,
				Strength: "500 mg", Form: "tablet"},
		},
	}
}

func TestControlIDIsShortStableAndDistinct(t *testing.T) {
	nw := ControlID(testRequestID, OrderNew)
	assert.Len(t, nw, MaxControlID)
	assert.True(t, strings.HasPrefix(nw, "NW"))
	assert.Equal(t, nw, ControlID(testRequestID, OrderNew), "a resend repeats it")
	ca := ControlID(testRequestID, OrderCancel)
	assert.True(t, strings.HasPrefix(ca, "CA"))
	assert.NotEqual(t, nw[2:], ControlID("medreq-01JQ0000000000000000000002", OrderNew)[2:])
	assert.Regexp(t, `^[A-Z2-7]+$`, nw)
}

func TestBuildRDEWritesTheDocumentedFields(t *testing.T) {
	m, err := BuildRDE(testOrder(), OrderNew, fixedNow, Envelope{SendingFacility: "HOSP", ReceivingFacility: "ICU-FAC"})
	require.NoError(t, err)
	raw, err := m.Encode()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\r"), "\r")
	names := make([]string, len(lines))
	for i, l := range lines {
		names[i] = l[:3]
	}
	assert.Equal(t, []string{"MSH", "PID", "PV1", "ORC", "RXE", "TQ1", "RXR", "ORC", "RXE", "TQ1", "RXR"}, names)
	cid := ControlID(testRequestID, OrderNew)
	assert.Equal(t, `MSH|^~\&|PYXIS-MEDREQ|HOSP|PYX-ICU-01|ICU-FAC|20260314092653+0000||RDE^O11^RDE_O11|`+cid+`|P|2.5||||||UNICODE UTF-8`, lines[0])
	assert.Equal(t, `PID|1||MRN0042^^^HOSP^MR||Souza^Maria`, lines[1], "the sending facility assigned the MRN")
	assert.Equal(t, `PV1|1|I|ICU^^12B`, lines[2])
	assert.Equal(t, `ORC|NW|000000000000000001-1||`+testRequestID+`|||||20260314092653+0000`, lines[3],
		"ORC-2 the line's own order number, ORC-4 the request")
	// A concentration states no dose per unit: RXE-3/5 count ampoules.
	assert.Equal(t, `RXE||MORF10^Morphine 10 mg/mL^L|2||ampoule^ampoule^L|ampoule^ampoule^L||||2|ampoule^ampoule^L`+strings.Repeat("|", 29)+`PYX-ICU-01`, lines[4])
	assert.Equal(t, `TQ1|1||ONCE&One time only&HL70335||||20260314092653+0000||S^Stat^HL70485|||||1`, lines[5],
		"TQ1-3 is an RPT: its code is a CWE, written in sub-components")
	assert.Equal(t, `RXR|OTH^Other/Miscellaneous^HL70162`, lines[6])
	// A tablet of 500 mg, two of them: RXE-3/5 say 1000 mg, RXE-10/11 two tablets.
	rxe := m.All("RXE")[1]
	assert.Equal(t, `PARA500^Paracetamol 500\S\mg^L`, strings.Split(lines[8], "|")[2])
	assert.Equal(t, "1000", rxe.Value(3))
	assert.Equal(t, "mg", rxe.Component(5, 1, 1))
	assert.Equal(t, "UCUM", rxe.Component(5, 1, 3))
	assert.Equal(t, "2", rxe.Value(10))
	assert.Equal(t, "tablet", rxe.Component(11, 1, 1))
	assert.Equal(t, "PO", m.All("RXR")[1].Value(1))
	assert.Equal(t, "000000000000000001-2", m.All("ORC")[1].Value(2))
	assert.Equal(t, testRequestID, m.All("ORC")[1].Value(4))
	assert.Len(t, m.Header().ControlID, 20)
}

// fullOrder is an order with everything an interface team asks for.
func fullOrder() cabinet.Order {
	o := testOrder()
	o.PatientRoom = "4"
	o.VerifiedBy = cabinet.Person{ID: "PHARM12", Family: "Lima", Given: "Ana"}
	o.IssuedAt = fixedNow
	o.StartAt = fixedNow.Add(-2 * time.Minute)
	o.EndAt = fixedNow.Add(4 * time.Hour)
	return o
}

func TestBuildRDEForAnInterfaceTeam(t *testing.T) {
	sp := time.FixedZone("-03", -3*3600)
	env := Envelope{SendingFacility: "HOSP", AssigningAuthority: "HOSP-MRN", PatientClass: "E", Location: sp}
	m, err := BuildRDE(fullOrder(), OrderNew, fixedNow.Add(time.Hour), env)
	require.NoError(t, err)
	assert.Equal(t, "20260314062653-0300", m.Header().Time, "MSH-7 is IssuedAt, in the hospital's zone")
	assert.Equal(t, "MRN0042^^^HOSP-MRN^MR", m.Segment("PID").Field(3).String())
	assert.Equal(t, "E", m.Segment("PV1").Value(2))
	assert.Equal(t, "ICU^4^12B", m.Segment("PV1").Field(3).String(), "point of care ^ room ^ bed")
	orc, rxe, tq1 := m.Segment("ORC"), m.Segment("RXE"), m.Segment("TQ1")
	assert.Equal(t, "20260314062653-0300", orc.Value(9))
	assert.Equal(t, "PHARM12^Lima^Ana", rxe.Field(14).String(), "the verifying pharmacist")
	assert.Equal(t, "20260314062453-0300", tq1.Value(7), "TQ1-7 is the order's start, not the send time")
	assert.Equal(t, "20260314102653-0300", tq1.Value(8), "TQ1-8 closes the withdrawal window")

	first, err := m.Encode()
	require.NoError(t, err)
	again, err := BuildRDE(fullOrder(), OrderNew, fixedNow.Add(7*time.Second), env)
	require.NoError(t, err)
	second, err := again.Encode()
	require.NoError(t, err)
	assert.Equal(t, string(first), string(second), "a resend is the same message, byte for byte")

	anonymous := fullOrder()
	anonymous.PatientFamily, anonymous.PatientGiven, anonymous.PatientRoom, anonymous.PatientBed = "", "", "", ""
	anonymous.VerifiedBy = cabinet.Person{}
	m, err = BuildRDE(anonymous, OrderNew, fixedNow, Envelope{})
	require.NoError(t, err)
	raw, err := m.Encode()
	require.NoError(t, err)
	assert.Contains(t, string(raw), "\rPID|1||MRN0042^^^^MR\r", "an unknown name is sent empty, never as ^")
	assert.Contains(t, string(raw), "\rPV1|1|I|ICU\r")
	assert.Empty(t, m.Segment("RXE").Field(14).String())
}

func TestBuildRDEDiscontinueAndOrderNumbers(t *testing.T) {
	o := fullOrder()
	o.Lines[1].OrderNumber = "P-77"
	m, err := BuildRDE(o, OrderDiscontinue, fixedNow, Envelope{})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(m.Header().ControlID, "DC"))
	orcs := m.All("ORC")
	assert.Equal(t, []string{"DC", "000000000000000001-1", "DC", "P-77"},
		[]string{orcs[0].Value(1), orcs[0].Value(2), orcs[1].Value(1), orcs[1].Value(2)}, "a line's own number wins")

	o.Lines[1].OrderNumber = "000000000000000001-1"
	_, err = BuildRDE(o, OrderNew, fixedNow, Envelope{})
	assert.ErrorContains(t, err, "share the order number")
	o.Lines[1].OrderNumber = strings.Repeat("9", 21)
	_, err = BuildRDE(o, OrderNew, fixedNow, Envelope{})
	assert.ErrorContains(t, err, "longer than 20")
}

func TestGiveAmount(t *testing.T) {
	tests := []struct {
		name     string
		line     cabinet.Line
		give     string
		giveUnit []string
	}{
		{"tablet with a dose", cabinet.Line{Quantity: 2, Unit: "tablet", Strength: "500 mg"}, "1000", []string{"mg", "mg", "UCUM"}},
		{"dose given by the caller", cabinet.Line{Quantity: 3, Unit: "tablet", DoseAmount: "0.5", DoseUnit: "mg"}, "1.5", []string{"mg", "mg", "UCUM"}},
		{"micrograms in UCUM", cabinet.Line{Quantity: 1, Unit: "tablet", Strength: "50 mcg"}, "50", []string{"ug", "mcg", "UCUM"}},
		{"international units", cabinet.Line{Quantity: 1, Unit: "vial", Strength: "100 UI"}, "100", []string{"[iU]", "IU", "UCUM"}},
		{"concentration: units", cabinet.Line{Quantity: 2, Unit: "ampoule", Strength: "10 mg/mL"}, "2", []string{"ampoule", "ampoule", "L"}},
		{"no strength: units", cabinet.Line{Quantity: 4, Unit: "vial"}, "4", []string{"vial", "vial", "L"}},
		{"ambiguous number: units", cabinet.Line{Quantity: 1, Unit: "tablet", Strength: "1.000 mg"}, "1", []string{"tablet", "tablet", "L"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			give, unit := giveAmount(tt.line)
			assert.Equal(t, tt.give, give)
			assert.Equal(t, tt.giveUnit, unit)
		})
	}
}

func TestRDEEnvelope(t *testing.T) {
	m, err := BuildRDE(testOrder(), OrderNew, fixedNow, Envelope{ProcessingID: ProcessingTraining, Enhanced: true})
	require.NoError(t, err)
	h := m.Header()
	assert.Equal(t, "T", h.ProcessingID)
	assert.Equal(t, "AL", h.AcceptAckType)
	assert.Equal(t, "NE", h.AppAckType)
	assert.Equal(t, CharacterSet, m.Segment("MSH").Value(18))
	_, err = BuildRDE(testOrder(), OrderNew, fixedNow, Envelope{ProcessingID: "X"})
	assert.Error(t, err)
}

func TestRoutes(t *testing.T) {
	tests := map[string]string{
		"tablet": "PO", "comprimido revestido": "PO", "sublingual tablet": "SL", "capsule": "PO",
		"cápsula gelatinosa": "PO", "suppository": "PR", "eye drops": "OP", "antibiotic ointment": "TP",
		"ampoule": "", "vial": "", "prefilled syringe": "", "": "",
	}
	for form, want := range tests {
		assert.Equal(t, want, RouteOfForm(form), form)
	}
	assert.Equal(t, "SC", routeOf(cabinet.Line{Route: "sc", Form: "tablet"}), "the line's route wins")
	assert.Equal(t, RouteOther, routeOf(cabinet.Line{Form: "ampoule"}))
}

func TestDecodeRDE(t *testing.T) {
	for _, oc := range []OrderControl{OrderNew, OrderCancel, OrderDiscontinue} {
		t.Run(string(oc), func(t *testing.T) {
			m, err := BuildRDE(fullOrder(), oc, fixedNow, Envelope{Location: time.FixedZone("-03", -3*3600)})
			require.NoError(t, err)
			raw, err := m.Encode()
			require.NoError(t, err)
			parsed, err := Parse(raw)
			require.NoError(t, err)
			a, err := DecodeRDE(parsed, nil)
			require.NoError(t, err)
			assert.Equal(t, ControlID(testRequestID, oc), a.ControlID)
			assert.Equal(t, oc, a.Control)
			want := fullOrder()
			for i := range want.Lines {
				want.Lines[i].Strength = "" // not carried: RXE-3/5 carry the dose
				want.Lines[i].Route = []string{"OTH", "PO"}[i]
				want.Lines[i].OrderNumber = want.OrderNumber(i)
			}
			for _, tt := range [][2]*time.Time{{&want.IssuedAt, &a.Order.IssuedAt}, {&want.StartAt, &a.Order.StartAt}, {&want.EndAt, &a.Order.EndAt}} {
				assert.True(t, tt[0].Equal(*tt[1]), "%s and %s", tt[0], tt[1])
				*tt[1] = *tt[0]
			}
			assert.Equal(t, want, a.Order)
			assert.Equal(t, []cabinet.Dose{{Amount: "2", Unit: "ampoule"}, {Amount: "1000", Unit: "mg"}}, a.Give)
		})
	}
}

func TestDecodeRDERejects(t *testing.T) {
	msh := `MSH|^~\&|PYXIS-MEDREQ||PYX-ICU-01||20260314||RDE^O11^RDE_O11|NW1|P|2.5`
	group := func(orc, rxe string) []string { return []string{orc, rxe, `TQ1|1||||||||R`, `RXR|PO`} }
	ok := group(`ORC|NW|r`, `RXE||MORF10|2`)
	join := func(parts ...[]string) []byte {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return seg(all...)
	}
	tests := []struct {
		name string
		raw  []byte
		want error
		cond string
	}{
		{"not an RDE", join([]string{`MSH|^~\&|A||B||20260314||RDS^O13|x|P|2.5`}, ok), ErrUnsupported, ConditionUnsupportedType},
		{"another RDE event", join([]string{`MSH|^~\&|A||B||20260314||RDE^O25|x|P|2.5`}, ok), ErrUnsupportedEvent, ConditionUnsupportedEvent},
		{"no control id", join([]string{`MSH|^~\&|A||B||20260314||RDE^O11||P|2.5`}, ok), ErrInvalid, ConditionRequiredField},
		{"no ORC", seg(msh, `RXE||MORF10|2`), ErrInvalid, ConditionSegmentSequence},
		{"bad order control", join([]string{msh}, group(`ORC|XO|r`, `RXE||MORF10|2`)), ErrInvalid, ConditionTableValue},
		{"no placer number", join([]string{msh}, group(`ORC|NW|`, `RXE||MORF10|2`)), ErrInvalid, ConditionRequiredField},
		{"ORCs disagree", join([]string{msh}, ok, group(`ORC|NW|s`, `RXE||M|1`)), ErrInvalid, ConditionSegmentSequence},
		{"order controls disagree", join([]string{msh}, group(`ORC|NW|r-1||r`, `RXE||M|1`), group(`ORC|CA|r-2||r`, `RXE||M|1`)), ErrInvalid, ConditionSegmentSequence},
		{"groups name other requests", join([]string{msh}, group(`ORC|NW|r-1||r`, `RXE||M|1`), group(`ORC|NW|s-1||s`, `RXE||M|1`)), ErrInvalid, ConditionSegmentSequence},
		{"a line without its number", join([]string{msh}, group(`ORC|NW|r-1||r`, `RXE||M|1`), group(`ORC|NW|||r`, `RXE||M|1`)), ErrInvalid, ConditionRequiredField},
		{"two lines, one number", join([]string{msh}, group(`ORC|NW|r-1||r`, `RXE||M|1`), group(`ORC|NW|r-1||r`, `RXE||M|1`)), ErrInvalid, ConditionSegmentSequence},
		{"bad start", join([]string{msh}, []string{`ORC|NW|r-1||r`, `RXE||M|1`, `TQ1|1||||||yesterday`, `RXR|PO`}), ErrInvalid, ConditionDataType},
		{"two RXE in one group", seg(msh, `ORC|NW|r`, `RXE||A|1`, `RXE||B|1`, `TQ1|1`, `RXR|PO`), ErrInvalid, ConditionSegmentSequence},
		{"group without TQ1 and RXR", seg(msh, `ORC|NW|r`, `RXE||A|1`), ErrInvalid, ConditionSegmentSequence},
		{"NW without RXE", seg(msh, `ORC|NW|r`), ErrInvalid, ConditionSegmentSequence},
		{"no medication code", join([]string{msh}, group(`ORC|NW|r`, `RXE||^Morphine|2`)), ErrInvalid, ConditionRequiredField},
		{"fractional quantity", join([]string{msh}, group(`ORC|NW|r`, `RXE||MORF10|2.5`)), ErrInvalid, ConditionDataType},
		{"zero quantity", join([]string{msh}, group(`ORC|NW|r`, `RXE||MORF10|0`)), ErrInvalid, ConditionDataType},
		{"no quantity", join([]string{msh}, group(`ORC|NW|r`, `RXE||MORF10`)), ErrInvalid, ConditionRequiredField},
		{"unknown priority", seg(msh, `ORC|NW|r`, `RXE||A|1`, `TQ1|1||||||||Q`, `RXR|PO`), ErrInvalid, ConditionTableValue},
		{"stations disagree", join([]string{msh}, group(`ORC|NW|r`, `RXE||A|2`+strings.Repeat("|", 37)+"A"), group(`ORC|NW|r`, `RXE||B|2`+strings.Repeat("|", 37)+"B")), ErrInvalid, ConditionSegmentSequence},
		{"no cabinet at all", join([]string{`MSH|^~\&|A||||20260314||RDE^O11|r-NW|P|2.5`}, ok), ErrInvalid, ConditionRequiredField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.raw)
			require.NoError(t, err)
			_, err = DecodeRDE(m, nil)
			assert.ErrorIs(t, err, tt.want)
			assert.Equal(t, tt.cond, ConditionOf(err))
		})
	}
}

func TestDecodeRDEQuantitiesAndFallbacks(t *testing.T) {
	m, err := Parse(seg(`MSH|^~\&|PYXIS-MEDREQ||PYX-ICU-01||20260314||RDE^O11^RDE_O11|r-NW|P|2.5`,
		`ORC|NW|r`, `RXE||MORF10|2.0||amp`, `TQ1|1`, `RXR|IV`, `ORC|NW|r`, `RXE||PARA500|1000||mg|||||3|tab`, `TQ1|1`, `RXR|PO`))
	require.NoError(t, err)
	a, err := DecodeRDE(m, nil)
	require.NoError(t, err)
	assert.Equal(t, "PYX-ICU-01", a.Order.CabinetCode, "MSH-5 when RXE-40 is empty")
	assert.Equal(t, cabinet.PriorityRoutine, a.Order.Priority, "no TQ1-9: routine")
	require.Len(t, a.Order.Lines, 2)
	assert.Equal(t, int32(2), a.Order.Lines[0].Quantity, "RXE-3 when RXE-10 is empty")
	assert.Equal(t, "amp", a.Order.Lines[0].Unit, "RXE-5 then")
	assert.Equal(t, int32(3), a.Order.Lines[1].Quantity, "RXE-10 wins over RXE-3")
	assert.Equal(t, "tab", a.Order.Lines[1].Unit)
	assert.Equal(t, "IV", a.Order.Lines[0].Route)
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
		{"unknown priority", func(o *cabinet.Order) { o.Priority = "asap" }, OrderNew},
		{"bad control", func(*cabinet.Order) {}, OrderControl("XO")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOrder()
			tt.mutate(&o)
			_, err := BuildRDE(o, tt.oc, fixedNow, Envelope{})
			assert.Error(t, err)
		})
	}
	o := testOrder()
	o.Lines = nil
	m, err := BuildRDE(o, OrderCancel, fixedNow, Envelope{})
	require.NoError(t, err, "a cancel needs no lines")
	a, err := DecodeRDE(m, nil)
	require.NoError(t, err)
	assert.Equal(t, OrderCancel, a.Control)
}

func TestCheckRoute(t *testing.T) {
	for _, ok := range []string{"PO", "iv", " SC ", "OTH", "IMR", "WND", "B"} {
		assert.NoError(t, CheckRoute(ok), ok)
	}
	for _, bad := range []string{"", "ORAL", "IVP", "XX"} {
		assert.ErrorIs(t, CheckRoute(bad), ErrUnknownRoute, bad)
	}
	assert.Len(t, routeNames, 47, "HL7 v2.5 table 0162 has 47 codes")
	name, ok := RouteName("im")
	assert.True(t, ok)
	assert.Equal(t, "Intramuscular", name)
}
