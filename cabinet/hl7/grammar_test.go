package hl7

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// grammars are the HL7 v2.5 abstract message structures (chapter 4 and 8) of what the
// interface exchanges, as regular expressions over the segment names, each followed by a
// space: optional groups the interface leaves out are kept, so a message an engine builds
// from the standard passes too.
var grammars = map[string]*regexp.Regexp{
	"RDE_O11": regexp.MustCompile(`^MSH (NTE )*(PID (PD1 )?(NTE )*(PV1 (PV2 )?)?(IN1 (IN2 )?(IN3 )?)*(GT1 )?(AL1 )*)?` +
		`(ORC (TQ1 (TQ2 )*)*(RXO (NTE )*(RXR )+(RXC (NTE )*)*)?RXE (NTE )*(TQ1 (TQ2 )*)+(RXR )+(RXC )*(OBX (NTE )*)*(FT1 )*(BLG )?(CTI )*)+$`),
	"RDS_O13": regexp.MustCompile(`^MSH (SFT )*(NTE )*(PID (PD1 )?(NTE )*(AL1 )*(PV1 (PV2 )?)?)?` +
		`(ORC (TQ1 (TQ2 )*)*(RXO (NTE )*(RXR )+(RXC (NTE )*)*)?(RXE (NTE )*(TQ1 (TQ2 )*)+(RXR )+(RXC )*)?RXD (NTE )*(RXR )+(RXC )*(OBX (NTE )*)*(FT1 )*)+$`),
	"OMS_O05": regexp.MustCompile(`^MSH (SFT )*(NTE )*(PID (PD1 )?(NTE )*(PV1 (PV2 )?)?(AL1 )*)?` +
		`(ORC (TQ1 (TQ2 )*)*RQD (RQ1 )?(NTE )*(OBX (NTE )*)*(BLG )?(Z[A-Z0-9]{2} )*)+$`),
	"ACK":     regexp.MustCompile(`^MSH (SFT )*MSA (ERR )*$`),
	"MFN_M01": regexp.MustCompile(`^MSH (SFT )*MFI (MFE (Z[A-Z0-9]{2} )*)+$`),
}

func TestExamplesFollowTheV25Grammar(t *testing.T) {
	for _, ex := range examples() {
		t.Run(ex.name, func(t *testing.T) {
			structure := ex.msg.Segment("MSH").Component(9, 1, 3)
			g, ok := grammars[structure]
			if !assert.True(t, ok, "MSH-9.3 %q names no known structure", structure) {
				return
			}
			var names strings.Builder
			for _, s := range ex.msg.Segments {
				names.WriteString(s.Name + " ")
			}
			assert.Regexp(t, g, names.String())
			h := ex.msg.Header()
			assert.LessOrEqual(t, len(h.ControlID), MaxControlID, "MSH-10 is at most 20 characters")
			assert.Equal(t, Version, h.Version)
			assert.Equal(t, CharacterSet, ex.msg.Segment("MSH").Value(18))
		})
	}
}

func TestCompareFindsDisagreements(t *testing.T) {
	m, err := Parse(seg(`MSH|^~\&|A`, `PID|1||x^y`))
	if err != nil {
		t.Fatal(err)
	}
	agree := pyResult{Segments: []pySegment{
		{name: "MSH", fields: [][][][]leaf{{{{{raw: "|"}}}}, {{{{raw: `^~\&`}}}}, {{{{raw: "A"}}}}}},
		{name: "PID", fields: [][][][]leaf{{{{{raw: "1"}}}}, {{{{raw: ""}}}}, {{{{raw: "x"}}, {{raw: "y"}}}}}},
	}}
	assert.Empty(t, compare(m, agree))
	differ := agree
	differ.Segments = []pySegment{agree.Segments[0], {name: "PID", fields: [][][][]leaf{{{{{raw: "1"}}}}, {{{{raw: ""}}}}, {{{{raw: "x"}}, {{raw: "z"}}}}}}}
	assert.Len(t, compare(m, differ), 1)
	assert.NotEmpty(t, compare(m, pyResult{Error: "boom"}))
	assert.NotEmpty(t, compare(m, pyResult{Segments: agree.Segments[:1]}))
}
