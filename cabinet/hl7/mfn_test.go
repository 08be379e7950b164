package hl7

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
)

func testItem() cabinet.Item {
	return cabinet.Item{Code: "MORF10", Name: "Morphine sulfate", Strength: "10 mg/mL, 1 mL", Form: "ampoule",
		Unit: "ampoule", ControlledList: "A1", New: true, ChangedAt: fixedNow.Add(-time.Hour)}
}

func TestBuildMFN(t *testing.T) {
	m, err := BuildMFN("PYX-ICU-01", testItem(), fixedNow, Envelope{})
	require.NoError(t, err)
	raw, err := m.Encode()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\r"), "\r")
	cid := ItemControlID("PYX-ICU-01", testItem())
	assert.Len(t, cid, MaxControlID)
	assert.Equal(t, `MSH|^~\&|PYXIS-MEDREQ||PYX-ICU-01||20260314082653+0000||MFN^M01^MFN_M01|`+cid+`|P|2.5||||||UNICODE UTF-8`, lines[0],
		"MSH-7 is the change's time, so a resend is the same message")
	assert.Equal(t, `MFI|PYXMED^Pyxis medication item master^L||UPD|||AL`, lines[1], "MFI-6 AL: this system waits for the answer")
	assert.Equal(t, `MFE|MAD|`+cid+`|20260314082653+0000|MORF10^Morphine sulfate^L|CE`, lines[2])
	assert.Equal(t, `ZPI|MORF10^Morphine sulfate^L|10 mg/mL, 1 mL|||ampoule^ampoule^L|ampoule^ampoule^L|A1`, lines[3])

	tab := cabinet.Item{Code: "PARA500", Name: "Paracetamol", Strength: "500 mg", Form: "tablet", Unit: "tablet"}
	m, err = BuildMFN("PYX-ICU-01", tab, fixedNow, Envelope{})
	require.NoError(t, err)
	z := m.Segment("ZPI")
	assert.Equal(t, "MUP", m.Segment("MFE").Value(1))
	assert.Equal(t, "500", z.Value(3))
	assert.Equal(t, "mg", z.Component(4, 1, 1))
	assert.Equal(t, "PO", z.Component(8, 1, 1))
	assert.Equal(t, FormatTime(fixedNow), m.Segment("MFE").Value(3), "no ChangedAt: the message time")

	changed := testItem()
	changed.Name = "Morphine"
	assert.NotEqual(t, cid, ItemControlID("PYX-ICU-01", changed), "another change, another id")
	assert.NotEqual(t, cid, ItemControlID("PYX-ER-01", testItem()), "another cabinet, another id")
}

func TestBuildMFNDeactivatesAndCarriesBarcodes(t *testing.T) {
	it := testItem()
	it.Deactivated = true
	it.Barcodes = []string{"7891234567895", "0409-1234-01", "HOSP-000123"}
	sp := time.FixedZone("-03", -3*3600)
	m, err := BuildMFN("PYX-ICU-01", it, fixedNow, Envelope{Location: sp})
	require.NoError(t, err)
	assert.Equal(t, RecordDeactivate, m.Segment("MFE").Value(1), "MDC, whatever New says")
	assert.Equal(t, "20260314052653-0300", m.Segment("MFE").Value(3), "written in the hospital's zone")
	assert.Equal(t, "7891234567895^^GTIN~0409-1234-01^^NDC~HOSP-000123^^L", m.Segment("ZPI").Field(9).String())
	again, err := BuildMFN("PYX-ICU-01", it, fixedNow.Add(time.Hour), Envelope{Location: sp})
	require.NoError(t, err)
	first, err := m.Encode()
	require.NoError(t, err)
	second, err := again.Encode()
	require.NoError(t, err)
	assert.Equal(t, string(first), string(second), "the same change is the same message, byte for byte")
	assert.NotEqual(t, ItemControlID("PYX-ICU-01", testItem()), ItemControlID("PYX-ICU-01", it))
}

func TestBarcodeSystem(t *testing.T) {
	for code, want := range map[string]string{
		"7891234567895": SystemGTIN, "7891234567890": SystemLocal, "96385074": SystemGTIN, "036000291452": SystemGTIN,
		"17891234567892": SystemGTIN, "0409-1234-01": SystemNDC, "50580-0506-02": SystemNDC, "0409123401": SystemNDC,
		"12-34-56": SystemLocal, "ABC123": SystemLocal, "": SystemLocal,
	} {
		assert.Equal(t, want, BarcodeSystem(code), code)
	}
}

func TestDecodeMFN(t *testing.T) {
	deactivated := testItem()
	deactivated.New, deactivated.Deactivated, deactivated.Barcodes = false, true, []string{"7891234567895"}
	for _, it := range []cabinet.Item{testItem(), {Code: "X", Name: "Y", Unit: "vial"}, deactivated} {
		m, err := BuildMFN("PYX-ICU-01", it, fixedNow, Envelope{})
		require.NoError(t, err)
		raw, err := m.Encode()
		require.NoError(t, err)
		parsed, err := Parse(raw)
		require.NoError(t, err)
		u, err := DecodeMFN(parsed, nil)
		require.NoError(t, err)
		assert.Equal(t, "PYX-ICU-01", u.CabinetCode)
		assert.Equal(t, ItemControlID("PYX-ICU-01", it), u.ControlID)
		if it.ChangedAt.IsZero() {
			it.ChangedAt = fixedNow
		}
		assert.True(t, it.ChangedAt.Equal(u.Item.ChangedAt))
		u.Item.ChangedAt = it.ChangedAt
		assert.Equal(t, it, u.Item)
	}
}

func TestDecodeMFNRejects(t *testing.T) {
	msh := `MSH|^~\&|PYXIS-MEDREQ||PYX-ICU-01||20260314||MFN^M01^MFN_M01|MF1|P|2.5`
	mfi := `MFI|PYXMED||UPD|||NE`
	tests := []struct {
		name string
		raw  []byte
		cond string
	}{
		{"no MFI", seg(msh, `MFE|MAD|||M|CE`, `ZPI|M`), ConditionRequiredField},
		{"another master file", seg(msh, `MFI|CDM||UPD|||NE`, `MFE|MAD|||M|CE`, `ZPI|M`), ConditionTableValue},
		{"no MFE", seg(msh, mfi, `ZPI|M`), ConditionRequiredField},
		{"two MFE", seg(msh, mfi, `MFE|MAD|||M|CE`, `ZPI|M`, `MFE|MAD|||N|CE`, `ZPI|N`), ConditionSegmentSequence},
		{"no ZPI", seg(msh, mfi, `MFE|MAD|||M|CE`), ConditionSegmentSequence},
		{"delete is not supported", seg(msh, mfi, `MFE|MDL|||M|CE`, `ZPI|M`), ConditionTableValue},
		{"no event", seg(msh, mfi, `MFE||||M|CE`, `ZPI|M`), ConditionRequiredField},
		{"keys disagree", seg(msh, mfi, `MFE|MUP|||N|CE`, `ZPI|M`), ConditionSegmentSequence},
		{"no code", seg(msh, mfi, `MFE|MUP|||M|CE`, `ZPI|^name`), ConditionRequiredField},
		{"unknown list", seg(msh, mfi, `MFE|MUP|||M|CE`, `ZPI|M||||||Z9`), ConditionTableValue},
		{"bad time", seg(msh, mfi, `MFE|MUP||yesterday|M|CE`, `ZPI|M`), ConditionDataType},
		{"no cabinet", seg(`MSH|^~\&|PYXIS-MEDREQ||||20260314||MFN^M01|MF1|P|2.5`, mfi, `MFE|MUP|||M|CE`, `ZPI|M`), ConditionRequiredField},
		{"not an MFN", seg(`MSH|^~\&|A||B||20260314||ADT^A01|x|P|2.5`), ConditionUnsupportedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.raw)
			require.NoError(t, err)
			_, err = DecodeMFN(m, nil)
			require.Error(t, err)
			assert.Equal(t, tt.cond, ConditionOf(err))
		})
	}
}

func TestBuildMFNRefuses(t *testing.T) {
	_, err := BuildMFN("", testItem(), fixedNow, Envelope{})
	assert.Error(t, err)
	_, err = BuildMFN("C", cabinet.Item{Code: "M"}, fixedNow, Envelope{})
	assert.Error(t, err, "no name")
	bad := testItem()
	bad.ControlledList = "Z9"
	_, err = BuildMFN("C", bad, fixedNow, Envelope{})
	assert.Error(t, err)
}
