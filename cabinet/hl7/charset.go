package hl7

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/medreq/pyxis/cabinet"
)

// Character sets (MSH-18, HL7 table 0211) read as UTF-8 as they are: UTF-8 itself, and
// ASCII, a subset of it. An empty MSH-18 means ASCII in the standard; cabinets that leave it
// empty send UTF-8 or ISO 8859-1, so a message that is not UTF-8 is read as ISO 8859-1.
var utf8Sets = map[string]bool{"": true, "ASCII": true, "UNICODE": true, "UNICODE UTF-8": true, "UTF-8": true, "UTF8": true}

// singleByteSets maps the single-byte character sets of table 0211 (and the Windows code
// page cabinets on Windows send under its own name) to their decoders.
var singleByteSets = map[string]*charmap.Charmap{
	"8859/1": charmap.ISO8859_1, "8859/2": charmap.ISO8859_2, "8859/3": charmap.ISO8859_3,
	"8859/4": charmap.ISO8859_4, "8859/5": charmap.ISO8859_5, "8859/6": charmap.ISO8859_6,
	"8859/7": charmap.ISO8859_7, "8859/8": charmap.ISO8859_8, "8859/9": charmap.ISO8859_9,
	"8859/15": charmap.ISO8859_15, "WINDOWS-1252": charmap.Windows1252, "CP1252": charmap.Windows1252,
}

// transcoder is how the text of one message becomes UTF-8.
type transcoder struct {
	declared string           // MSH-18 as written
	set      *charmap.Charmap // nil: the bytes are taken as UTF-8
	flag     *cabinet.Flag    // what was guessed, if anything
}

// transcoderOf decides how to read the text of a message whose MSH-18 is declared, given
// whether all its text is valid UTF-8: from the declared single-byte set; as UTF-8 when it
// is UTF-8 (declared so, or undeclared, or declared as a set this system cannot transcode,
// then flagged); and otherwise as ISO 8859-1, which decodes every byte, flagged.
func transcoderOf(declared string, validUTF8 bool) transcoder {
	name := strings.ToUpper(strings.TrimSpace(declared))
	t := transcoder{declared: declared}
	if cm, ok := singleByteSets[name]; ok {
		t.set = cm
		return t
	}
	known := utf8Sets[name]
	switch {
	case validUTF8 && known:
		return t
	case validUTF8:
		t.flag = &cabinet.Flag{Cause: cabinet.CauseCharacterSet, Field: "MSH-18", Value: declared,
			Text: fmt.Sprintf("character set %q is not one this system transcodes; the text was read as UTF-8", declared)}
	default:
		t.set = charmap.ISO8859_1
		said := fmt.Sprintf("declares %q", declared)
		if name == "" {
			said = "declares no character set"
		}
		t.flag = &cabinet.Flag{Cause: cabinet.CauseCharacterSet, Field: "MSH-18", Value: declared,
			Text: fmt.Sprintf("MSH-18 %s, but the text is not UTF-8; it was read as ISO 8859-1", said)}
	}
	return t
}

// decode returns one value in UTF-8.
func (t transcoder) decode(v string) string {
	if t.set == nil || isASCII(v) {
		return v
	}
	out, err := t.set.NewDecoder().String(v)
	if err != nil {
		return strings.ToValidUTF8(v, "\uFFFD") // not reached: these sets decode every byte
	}
	return out
}

// Transcode rewrites every value of m (MSH-1 and MSH-2 aside) in UTF-8, from the character
// set MSH-18 declares (ISO 8859-1 to 8859-9, 8859-15, Windows-1252; UTF-8 and ASCII as they
// are), and returns a flag (CauseCharacterSet) when it had to guess: text that is not in
// the declared set, or a set it does not know. Nothing that can be read is refused: every
// byte decodes in ISO 8859-1, the guess of last resort. The decoders of what cabinets send
// call it before CheckText. Once transcoded, MSH-18 says UNICODE UTF-8, so that a second
// Transcode changes nothing.
func Transcode(m *Message) []cabinet.Flag {
	t := transcoderOf(m.Header().CharacterSet, messageIsUTF8(m))
	if t.set != nil {
		eachValue(m, func(v *string) { *v = t.decode(*v) })
		m.Segments[0].Set(18, CharacterSet)
	}
	if t.flag != nil {
		return []cabinet.Flag{*t.flag}
	}
	return nil
}

// TranscodeRaw returns a whole message as UTF-8 text, read as Transcode reads its values,
// with MSH-18 then saying UNICODE UTF-8: the form in which a received message is kept. A
// message whose MSH cannot be read is returned with its invalid bytes replaced.
func TranscodeRaw(raw []byte) []byte {
	h, err := ParseHeader(raw)
	if err != nil {
		return []byte(strings.ToValidUTF8(string(raw), "\uFFFD"))
	}
	t := transcoderOf(h.CharacterSet, utf8.Valid(raw))
	if t.set == nil {
		return raw
	}
	text := t.decode(string(raw))
	end := strings.IndexAny(text, "\r\n")
	if end < 0 {
		end = len(text)
	}
	fs := string(text[3])
	fields := strings.Split(text[:end], fs) // fields[i] is MSH-(i+1) from MSH-2 on
	for len(fields) < 18 {
		fields = append(fields, "")
	}
	fields[17] = CharacterSet
	return []byte(strings.Join(fields, fs) + text[end:])
}

// messageIsUTF8 reports whether every value of m is valid UTF-8.
func messageIsUTF8(m *Message) bool {
	ok := true
	eachValue(m, func(v *string) {
		if ok && !utf8.ValidString(*v) {
			ok = false
		}
	})
	return ok
}

// eachValue calls f with every subcomponent of m but MSH-1 and MSH-2.
func eachValue(m *Message, f func(v *string)) {
	for _, s := range m.Segments {
		for fi, fld := range s.Fields {
			if s.Name == "MSH" && fi < 2 {
				continue
			}
			for _, r := range fld {
				for _, c := range r {
					for i := range c {
						f(&c[i])
					}
				}
			}
		}
	}
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
