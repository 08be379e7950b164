package hl7

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seg joins segment lines with \r, the way HL7 ends segments.
func seg(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r") + "\r")
}

func TestParseReadsStructure(t *testing.T) {
	type want struct {
		seg                   string
		field, rep, comp, sub int
		value                 string
	}
	tests := []struct {
		name  string
		raw   []byte
		delim Delimiters
		segs  int
		want  []want
	}{
		{
			name:  "standard delimiters and HL7 numbering",
			raw:   seg(`MSH|^~\&|PYXIS-MEDREQ||PYX-ICU-01||20260101120000+0000||RDE^O11^RDE_O11|req-1-NW|P|2.5`, `ORC|NW|req-1`),
			delim: StandardDelimiters(),
			segs:  2,
			want: []want{
				{"MSH", 1, 1, 1, 1, "|"},
				{"MSH", 2, 1, 1, 1, `^~\&`},
				{"MSH", 3, 1, 1, 1, "PYXIS-MEDREQ"},
				{"MSH", 9, 1, 2, 1, "O11"},
				{"MSH", 9, 1, 3, 1, "RDE_O11"},
				{"MSH", 10, 1, 1, 1, "req-1-NW"},
				{"ORC", 1, 1, 1, 1, "NW"},
				{"ORC", 2, 1, 1, 1, "req-1"},
				{"ORC", 3, 1, 1, 1, ""},
			},
		},
		{
			name:  "repetitions components subcomponents",
			raw:   seg(`MSH|^~\&|A`, `PID|1||123^^^HOSP&1.2.3&ISO^MR~456^^^^SS`),
			delim: StandardDelimiters(),
			segs:  2,
			want: []want{
				{"PID", 3, 1, 1, 1, "123"},
				{"PID", 3, 1, 4, 1, "HOSP"},
				{"PID", 3, 1, 4, 2, "1.2.3"},
				{"PID", 3, 1, 4, 3, "ISO"},
				{"PID", 3, 1, 5, 1, "MR"},
				{"PID", 3, 2, 1, 1, "456"},
				{"PID", 3, 2, 5, 1, "SS"},
				{"PID", 3, 3, 1, 1, ""},
			},
		},
		{
			name:  "other delimiters read from MSH-1 and MSH-2",
			raw:   seg(`MSH#*!/%#APP#`, `ZPM#V#a*b!c*d%e#x/F/y`),
			delim: Delimiters{Field: '#', Component: '*', Repetition: '!', Escape: '/', Subcomponent: '%'},
			segs:  2,
			want: []want{
				{"MSH", 1, 1, 1, 1, "#"},
				{"MSH", 2, 1, 1, 1, "*!/%"},
				{"MSH", 3, 1, 1, 1, "APP"},
				{"ZPM", 2, 1, 2, 1, "b"},
				{"ZPM", 2, 2, 1, 1, "c"},
				{"ZPM", 2, 2, 2, 2, "e"},
				{"ZPM", 3, 1, 1, 1, "x#y"},
			},
		},
		{
			name:  "v2.7 truncation character",
			raw:   seg(`MSH|^~\&#|A`, `NTE|1||cut\P\here`),
			delim: Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&', Truncation: '#'},
			segs:  2,
			want:  []want{{"MSH", 2, 1, 1, 1, `^~\&#`}, {"NTE", 3, 1, 1, 1, "cut#here"}},
		},
		{
			name:  "LF and CRLF line ends, blank lines skipped",
			raw:   []byte("MSH|^~\\&|A\nPID|1\r\n\r\nPV1|1|I\n"),
			delim: StandardDelimiters(),
			segs:  3,
			want:  []want{{"PID", 1, 1, 1, 1, "1"}, {"PV1", 2, 1, 1, 1, "I"}},
		},
		{
			name:  "no final segment terminator",
			raw:   []byte("MSH|^~\\&|A\rPID|1"),
			delim: StandardDelimiters(),
			segs:  2,
			want:  []want{{"PID", 1, 1, 1, 1, "1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.raw)
			require.NoError(t, err)
			assert.Equal(t, tt.delim, m.Delims)
			require.Len(t, m.Segments, tt.segs)
			for _, w := range tt.want {
				s := m.Segment(w.seg)
				require.NotNil(t, s, w.seg)
				assert.Equal(t, w.value, s.Sub(w.field, w.rep, w.comp, w.sub), "%s-%d rep %d comp %d sub %d", w.seg, w.field, w.rep, w.comp, w.sub)
			}
		})
	}
}

func TestParseDecodesEscapes(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"field separator", `a\F\b`, "a|b"},
		{"component", `a\S\b`, "a^b"},
		{"subcomponent", `a\T\b`, "a&b"},
		{"repetition", `a\R\b`, "a~b"},
		{"escape", `C:\E\temp`, `C:\temp`},
		{"hex control characters", `line1\X0D0A\line2`, "line1\r\nline2"},
		{"hex UTF-8, lower case", `caf\Xc3a9\`, "café"},
		{"formatting sequence kept verbatim", `\H\bold\N\`, `\H\bold\N\`},
		{"line break kept verbatim", `a\.br\b`, `a\.br\b`},
		{"truncation undeclared kept verbatim", `a\P\b`, `a\P\b`},
		{"several in a row", `\F\\S\\T\\R\\E\`, `|^&~\`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(seg(`MSH|^~\&|A`, "NTE|1||"+tt.value))
			require.NoError(t, err)
			assert.Equal(t, tt.want, m.Segment("NTE").Value(3))
		})
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"nothing", nil, ErrEmpty},
		{"only line ends", []byte("\r\n\r"), ErrEmpty},
		{"PID first", seg(`PID|1`, `MSH|^~\&|A`), ErrNoMSH},
		{"lower-case msh", seg(`msh|^~\&|A`), ErrNoMSH},
		{"MSH alone", []byte("MSH"), ErrBadEncoding},
		{"three encoding characters", seg(`MSH|^~\|A`), ErrBadEncoding},
		{"six encoding characters", seg(`MSH|^~\&#$|A`), ErrBadEncoding},
		{"repeated delimiter", seg(`MSH|^~\^|A`), ErrBadEncoding},
		{"letter as delimiter", seg(`MSH|^~\a|A`), ErrBadEncoding},
		{"field separator reused", seg(`MSH|^~\||A`), ErrBadEncoding},
		{"space as delimiter", seg(`MSH|^~\ |A`), ErrBadEncoding},
		{"too large", append(seg(`MSH|^~\&|A`), bytes.Repeat([]byte("NTE|1|x\r"), MaxMessageSize/8)...), ErrTooLarge},
		{"lower-case segment name", seg(`MSH|^~\&|A`, `pid|1`), ErrBadSegment},
		{"short segment name", seg(`MSH|^~\&|A`, `PI|1`), ErrBadSegment},
		{"second MSH", seg(`MSH|^~\&|A`, `MSH|^~\&|B`), ErrBadSegment},
		{"unterminated escape", seg(`MSH|^~\&|A`, `NTE|1||a\F`), ErrBadEscape},
		{"empty escape", seg(`MSH|^~\&|A`, `NTE|1||a\\b`), ErrBadEscape},
		{"odd hex", seg(`MSH|^~\&|A`, `NTE|1||\X0D0\`), ErrBadEscape},
		{"not hex", seg(`MSH|^~\&|A`, `NTE|1||\XZZ\`), ErrBadEscape},
		{"escape split by a delimiter", seg(`MSH|^~\&|A`, `NTE|1||\X0^D\`), ErrBadEscape},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.raw)
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, tt.want)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Contains(t, pe.Error(), "hl7: ")
		})
	}
}

func TestParseErrorLocatesSegmentAndField(t *testing.T) {
	_, err := Parse(seg(`MSH|^~\&|A`, `PID|1`, `NTE|1||bad\Xq\`))
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 3, pe.Segment)
	assert.Equal(t, 3, pe.Field)
}
