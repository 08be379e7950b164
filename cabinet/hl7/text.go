package hl7

import (
	"fmt"
	"strconv"

	"github.com/medreq/pyxis/internal/textcheck"
)

// CheckText refuses a message with a value that, decoded (\Xhh..\ escapes included), holds a
// NUL, another C0 control character (tab aside), DEL or invalid UTF-8: what no field of the
// interface carries, and what must not reach the database, a workflow history or a log.
// Parse keeps such values as they are, so that a message can still be answered; the
// decoders of what the system receives (DecodeEvent, DecodeRDE, DecodeMFN) call CheckText
// first, and the answer is AE with ERR-3 102 (data type error) and ERR-2 naming the field.
// The error is a *ValidationError whose detail names the component too ("ZPM-6.2").
func CheckText(m *Message) error {
	occurrences := map[string]int{}
	for _, s := range m.Segments {
		occurrences[s.Name]++
		for fi, f := range s.Fields {
			n := fi + 1
			if s.Name == "MSH" && n <= 2 {
				continue // the delimiters themselves
			}
			for ri, r := range f {
				for ci, c := range r {
					for si, v := range c {
						err := textcheck.Check(v, textcheck.Line)
						if err == nil {
							continue
						}
						where := position(s.Name, n, ri, ci, si, len(f), len(r), len(c))
						return badValue(s.Name, occurrences[s.Name], n, "%s %v", where, err)
					}
				}
			}
		}
	}
	return nil
}

// position names a value the way HL7 documents do: ZPM-6, ZPM-6.2, ZPM-6.2.1, with the
// repetition in brackets when the field repeats.
func position(seg string, field, rep, comp, sub, reps, comps, subs int) string {
	p := fmt.Sprintf("%s-%d", seg, field)
	if reps > 1 {
		p += "[" + strconv.Itoa(rep+1) + "]"
	}
	if comps > 1 || subs > 1 {
		p += "." + strconv.Itoa(comp+1)
	}
	if subs > 1 {
		p += "." + strconv.Itoa(sub+1)
	}
	return p
}
