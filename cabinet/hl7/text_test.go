package hl7

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
)

// textClasses are the kinds of text no field may hold, each as a value would carry it: raw
// in the message, or written with a \Xhh\ escape that decodes to it.
var textClasses = []struct {
	name, value, message string
}{
	{"raw NUL", "ab\x00c", "contains a NUL character (byte 2)"},
	{"escaped NUL", `ab\X00\c`, "contains a NUL character (byte 2)"},
	{"raw ESC", "ab\x1b[31m", "contains a control character 0x1B (byte 2)"},
	{"escaped ESC", `ab\X1B\[31m`, "contains a control character 0x1B (byte 2)"},
	{"escaped CR LF", `ab\X0D0A\c`, "contains a control character 0x0D (byte 2)"},
}

// textFields are fields of each message the system (or the simulator) decodes, one of each
// kind: a header field, identifiers, codes, names, users, free-standing values.
var textFields = []struct {
	name     string
	template string // @@ marks the value under test
	decode   func(*Message) error
	segment  string
	occ      int
	field    int
	where    string
}{
	{"RDS MSH-3 sending application", rdsWith("MSH|^~\\&|@@||PYXIS-MEDREQ||20260314093512+0000||RDS^O13^RDS_O13|c1|P|2.5", "ORC|RE|medreq-1", "RXD|1|MORF10^Morphine|20260314093512+0000|2|ampoule"),
		decodeEvent, "MSH", 1, 3, "MSH-3"},
	{"RDS ORC-2 placer order number", rdsWith(rdsMSH, "ORC|RE|@@", "RXD|1|MORF10^Morphine|20260314093512+0000|2|ampoule"),
		decodeEvent, "ORC", 1, 2, "ORC-2"},
	{"RDS RXD-2.1 medication code", rdsWith(rdsMSH, "ORC|RE|r", "RXD|1|@@^Morphine|20260314093512+0000|2|ampoule"),
		decodeEvent, "RXD", 1, 2, "RXD-2.1"},
	{"RDS RXD-2.2 medication name, second line", rdsWith(rdsMSH, "ORC|RE|r", "RXD|1|M1^One||1", "ORC|RE|r", "RXD|2|M2^@@||1"),
		decodeEvent, "RXD", 2, 2, "RXD-2.2"},
	{"RDS RXD-10 dispensing user", rdsWith(rdsMSH, "ORC|RE|r", "RXD|1|M1^One||1||||||@@"),
		decodeEvent, "RXD", 1, 10, "RXD-10"},
	{"OMS ZPM-3 cabinet", rdsWith(omsMSH, "ZPM|L||@@|1|A|MORF10||||1"), decodeEvent, "ZPM", 1, 3, "ZPM-3"},
	{"OMS ZPM-6.2 medication name", rdsWith(omsMSH, "ZPM|L||PYX|1|A|MORF10^@@||||1"), decodeEvent, "ZPM", 1, 6, "ZPM-6.2"},
	{"OMS ZPM-7 controlled class", rdsWith(omsMSH, "ZPM|W||PYX|1|A|MORF10|@@|||1"), decodeEvent, "ZPM", 1, 7, "ZPM-7"},
	{"OMS ZPM-12 witness", rdsWith(omsMSH, "ZPM|W||PYX|1|A|MORF10|A1|||1|NURSE7|@@"), decodeEvent, "ZPM", 1, 12, "ZPM-12"},
	{"OMS ZPM-12 witness, second repetition", rdsWith(omsMSH, "ZPM|W||PYX|1|A|MORF10|A1|||1|NURSE7|N9~@@"), decodeEvent, "ZPM", 1, 12, "ZPM-12[2]"},
	{"OMS RQD-2.2 medication name", rdsWith(omsMSH, "RQD|1|MORF10^@@", "ZPM|L||PYX|1|A|||||1"), decodeEvent, "RQD", 1, 2, "RQD-2.2"},
	{"RDE PID-5.1 family name", rdsWith("MSH|^~\\&|PYXIS-MEDREQ||PYX-ICU-01||20260314092653+0000||RDE^O11^RDE_O11|NW1|P|2.5",
		"PID|1||MRN1^^^^MR||@@^Maria", "PV1|1|I|ICU^^12B", "ORC|NW|medreq-1", "RXE||MORF10^Morphine^L|1||ampoule"),
		func(m *Message) error { _, err := DecodeRDE(m, nil); return err }, "PID", 1, 5, "PID-5.1"},
	{"MFN ZPI-2 strength", rdsWith("MSH|^~\\&|PYXIS-MEDREQ||PYX-ICU-01||20260314092653+0000||MFN^M01^MFN_M01|MF1|P|2.5",
		"MFI|PYXMED^Pyxis medication item master^L||UPD|||NE", "MFE|MUP|MF1|20260314082653+0000|PARA500^Paracetamol^L|CE",
		"ZPI|PARA500^Paracetamol^L|@@|500|mg^mg^UCUM|tablet^tablet^L|tablet^tablet^L"),
		func(m *Message) error { _, err := DecodeMFN(m, time.UTC); return err }, "ZPI", 1, 2, "ZPI-2"},
}

const (
	rdsMSH = "MSH|^~\\&|PYX||PYXIS-MEDREQ||20260314093512+0000||RDS^O13^RDS_O13|c1|P|2.5"
	omsMSH = "MSH|^~\\&|PYX||PYXIS-MEDREQ||20260314093512+0000||OMS^O05^OMS_O05|c1|P|2.5"
)

func rdsWith(lines ...string) string { return strings.Join(lines, "\r") + "\r" }

func decodeEvent(m *Message) error { _, err := DecodeEvent(m, nil); return err }

// TestDecodersRefuseControls sends each class of refused text to a field of each kind in
// every message the system decodes: each is refused as a data type error (102) located at
// its segment, occurrence and field, which the acknowledgment carries in ERR-2.
func TestDecodersRefuseControls(t *testing.T) {
	for _, f := range textFields {
		for _, class := range textClasses {
			t.Run(f.name+"/"+class.name, func(t *testing.T) {
				raw := strings.Replace(f.template, "@@", class.value, 1)
				m, err := Parse([]byte(raw))
				require.NoError(t, err, "Parse keeps such values, so the message can be answered")
				err = f.decode(m)
				var ve *ValidationError
				require.ErrorAs(t, err, &ve)
				assert.Equal(t, ConditionDataType, ve.Condition)
				assert.Equal(t, []any{f.segment, f.occ, f.field}, []any{ve.Segment, ve.Occurrence, ve.Field})
				assert.Equal(t, f.where+" "+class.message, ve.Detail)

				ack, err := ParseACK(Answer([]byte(raw), AckFor(AckError, err), time.Now()))
				require.NoError(t, err)
				assert.Equal(t, AckError, ack.Code)
				assert.Equal(t, []any{"102", f.segment, f.occ, f.field}, []any{ack.Condition, ack.Segment, ack.Occurrence, ack.Field})
			})
		}
		t.Run(f.name+"/clean", func(t *testing.T) {
			m, err := Parse([]byte(strings.Replace(f.template, "@@", `Ma\XC3A7\\T\o`, 1)))
			require.NoError(t, err)
			assert.NoError(t, CheckText(m), "UTF-8 and escaped delimiters are fine")
		})
	}
}

// TestDecodersReadTextThatIsNotUTF8 puts bytes that are not UTF-8 (raw, or written as a
// \Xhh\ escape) in a field of each kind of every message the system decodes, under an
// MSH-18 that is empty: nothing is refused for it. The text is read as ISO 8859-1, and a
// report carries a flag saying so.
func TestDecodersReadTextThatIsNotUTF8(t *testing.T) {
	for _, f := range textFields {
		for _, value := range []string{"ab\xe7c", `ab\XE7\c`} {
			t.Run(f.name+"/"+value, func(t *testing.T) {
				m, err := Parse([]byte(strings.Replace(f.template, "@@", value, 1)))
				require.NoError(t, err)
				flags := Transcode(m)
				require.NoError(t, CheckText(m))
				require.Len(t, flags, 1)
				assert.Equal(t, cabinet.CauseCharacterSet, flags[0].Cause)
				assert.Equal(t, "MSH-18", flags[0].Field)
				seg := m.All(f.segment)[f.occ-1]
				assert.Contains(t, seg.Field(f.field).String(), "abçc")
				if f.name[:3] == "RDS" || f.name[:3] == "OMS" {
					m, err := Parse([]byte(strings.Replace(f.template, "@@", value, 1)))
					require.NoError(t, err)
					e, err := DecodeEvent(m, nil)
					require.NoError(t, err)
					assert.True(t, e.Flagged(cabinet.CauseCharacterSet))
				}
			})
		}
	}
}

func TestTranscodeOnce(t *testing.T) {
	raw := []byte("MSH|^~\\&|PYX||PYXIS-MEDREQ||20260314||RDS^O13|l1|P|2.5||||||8859/1|\rRXD|1|DIPI^s\xf3dica\r")
	m, err := Parse(raw)
	require.NoError(t, err)
	assert.Empty(t, Transcode(m), "declared: no flag")
	assert.Empty(t, Transcode(m), "a second time: nothing left to do")
	assert.Equal(t, "sódica", m.Segment("RXD").Component(2, 1, 2))
	assert.Equal(t, CharacterSet, m.Header().CharacterSet)
	kept := TranscodeRaw(raw)
	assert.Equal(t, "MSH|^~\\&|PYX||PYXIS-MEDREQ||20260314||RDS^O13|l1|P|2.5||||||UNICODE UTF-8|\rRXD|1|DIPI^sódica\r", string(kept))
	assert.Equal(t, string(kept), string(TranscodeRaw(kept)), "kept text transcodes to itself")
	plain := []byte("MSH|^~\\&|PYX||PYXIS-MEDREQ||20260314||RDS^O13|l1|P|2.5\rRXD|1|DIPI^sódica\r")
	assert.Equal(t, plain, TranscodeRaw(plain), "UTF-8 is kept as it is")
}
