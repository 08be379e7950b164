package hl7

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeRoundTrips(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		// want is the canonical encoding: \r after every segment, blank lines gone.
		want string
	}{
		{
			name: "RDE as built here",
			raw: seg(`MSH|^~\&|PYXIS-MEDREQ||PYX-ICU-01||20260101120000+0000||RDE^O11^RDE_O11|req-1-NW|P|2.5`,
				`PID|1||MRN123^^^^MR`, `PV1|1|I|ICU^^12`, `ORC|NW|req-1`, `RXE||MORF10^Morphine 10 mg|2||mg`),
			want: "MSH|^~\\&|PYXIS-MEDREQ||PYX-ICU-01||20260101120000+0000||RDE^O11^RDE_O11|req-1-NW|P|2.5\r" +
				"PID|1||MRN123^^^^MR\rPV1|1|I|ICU^^12\rORC|NW|req-1\rRXE||MORF10^Morphine 10 mg|2||mg\r",
		},
		{
			name: "escapes re-encoded the same",
			raw:  seg(`MSH|^~\&|A`, `NTE|1||a\F\b\S\c\T\d\R\e\E\f`),
			want: "MSH|^~\\&|A\rNTE|1||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\r",
		},
		{
			name: "hex normalised to upper case",
			raw:  seg(`MSH|^~\&|A`, `NTE|1||x\X0d0a\y`),
			want: "MSH|^~\\&|A\rNTE|1||x\\X0D0A\\y\r",
		},
		{
			name: "formatting escape kept as text",
			raw:  seg(`MSH|^~\&|A`, `NTE|1||\H\b`),
			want: "MSH|^~\\&|A\rNTE|1||\\E\\H\\E\\b\r",
		},
		{
			name: "other delimiters kept",
			raw:  seg(`MSH#*!/%#APP`, `ZPM#a*b!c%d#x/F/y`),
			want: "MSH#*!/%#APP\rZPM#a*b!c%d#x/F/y\r",
		},
		{
			name: "empty trailing fields kept",
			raw:  []byte("MSH|^~\\&|A||\nPID|||\r\n"),
			want: "MSH|^~\\&|A||\rPID|||\r",
		},
		{
			name: "MSH with only its encoding characters",
			raw:  []byte(`MSH|^~\&`),
			want: "MSH|^~\\&\r",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.raw)
			require.NoError(t, err)
			out, err := m.Encode()
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(out))
			again, err := Parse(out)
			require.NoError(t, err)
			assert.Equal(t, m, again)
		})
	}
}

func TestEncodeEscapesValues(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"plain", "Morphine 10 mg", "Morphine 10 mg"},
		{"delimiters", `a|b^c&d~e\f`, `a\F\b\S\c\T\d\R\e\E\f`},
		{"segment end inside a value", "two\rlines\n", `two\X0D\lines\X0A\`},
		{"control run", "a\x00\x01\x7fb", `a\X00017F\b`},
		{"UTF-8 left alone", "café", "café"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMessage(StandardDelimiters())
			m.Add(NewSegment("NTE").Set(3, tt.value))
			out, err := m.Encode()
			require.NoError(t, err)
			assert.Equal(t, "MSH|^~\\&\rNTE|||"+tt.want+"\r", string(out))
			back, err := Parse(out)
			require.NoError(t, err)
			assert.Equal(t, tt.value, back.Segment("NTE").Value(3))
		})
	}
}

func TestEncodeRefusesWhatParseWouldNotRead(t *testing.T) {
	good := func() *Message { return NewMessage(StandardDelimiters()) }
	tests := []struct {
		name string
		msg  func() *Message
		want error
	}{
		{"no segments", func() *Message { return &Message{Delims: StandardDelimiters()} }, ErrEmpty},
		{"bad delimiters", func() *Message { m := good(); m.Delims.Component = '|'; return m }, ErrBadEncoding},
		{"zero delimiters", func() *Message { m := good(); m.Delims = Delimiters{}; return m }, ErrBadEncoding},
		{"PID first", func() *Message {
			return &Message{Delims: StandardDelimiters(), Segments: []*Segment{NewSegment("PID")}}
		}, ErrNoMSH},
		{"bad name", func() *Message { m := good(); m.Add(NewSegment("pid")); return m }, ErrBadSegment},
		{"second MSH", func() *Message { m := good(); m.Add(NewSegment("MSH")); return m }, ErrBadSegment},
		{"nil segment", func() *Message { m := good(); m.Add(nil); return m }, ErrBadSegment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.msg().Encode()
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestSegmentAccessorsAreSafe(t *testing.T) {
	var missing *Segment
	assert.Equal(t, "", missing.Value(3))
	assert.Nil(t, missing.Field(1))
	s := NewSegment("RXE").Set(2, "MORF10", "Morphine")
	assert.Equal(t, "", s.Value(0))
	assert.Equal(t, "", s.Component(2, 2, 1))
	assert.Equal(t, "", s.Component(2, 1, 3))
	assert.Equal(t, "", s.Sub(2, 1, 1, 2))
	assert.Equal(t, 1, s.Repetitions(2))
	assert.Equal(t, "MORF10^Morphine", s.Field(2).String())
	s.SetField(4, Field{{{"a"}}, {{"b", "c"}}})
	assert.Equal(t, "a~b&c", s.Field(4).String())
	assert.Len(t, s.Fields, 4)
	m := NewMessage(StandardDelimiters())
	m.Add(s, NewSegment("RXE").Set(2, "X"))
	assert.Len(t, m.All("RXE"), 2)
	assert.Nil(t, m.Segment("ORC"))
	assert.Equal(t, "MSH|^~\\&\nRXE||MORF10^Morphine||a~b&c\nRXE||X", m.String())
}
