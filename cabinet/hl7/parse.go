package hl7

import (
	"bytes"
	"errors"
	"fmt"
)

// MaxMessageSize is the largest message Parse accepts: 1 MiB.
const MaxMessageSize = 1 << 20

// Errors Parse reports, wrapped in a *ParseError; test for them with errors.Is.
var (
	// ErrEmpty: the message holds no segment at all.
	ErrEmpty = errors.New("empty message")
	// ErrNoMSH: the first segment is not MSH.
	ErrNoMSH = errors.New("message does not start with MSH")
	// ErrBadEncoding: MSH-1 and MSH-2 are not five or six distinct punctuation characters.
	ErrBadEncoding = errors.New("bad encoding characters in MSH-1/MSH-2")
	// ErrTooLarge: the message is larger than MaxMessageSize.
	ErrTooLarge = errors.New("message too large")
	// ErrBadSegment: a segment name is not three upper-case letters or digits, or a second
	// MSH appears.
	ErrBadSegment = errors.New("bad segment")
	// ErrBadEscape: an escape sequence is unterminated, empty, or \X..\ holds no valid hex.
	ErrBadEscape = errors.New("bad escape sequence")
)

// ParseError says what is wrong with a message and where.
type ParseError struct {
	// Err is one of the Err* values of this package.
	Err error
	// Segment is the 1-based position of the offending segment, 0 for the whole message.
	Segment int
	// Field is the 1-based field within that segment, 0 when not known.
	Field  int
	Detail string
}

// Error says what is wrong and where, e.g. "hl7: bad segment (segment 3): ...".
func (e *ParseError) Error() string {
	msg := "hl7: " + e.Err.Error()
	if e.Segment > 0 {
		msg += fmt.Sprintf(" (segment %d", e.Segment)
		if e.Field > 0 {
			msg += fmt.Sprintf(", field %d", e.Field)
		}
		msg += ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the Err* value, for errors.Is.
func (e *ParseError) Unwrap() error { return e.Err }

// Parse reads one message. Segments end with \r; \n and \r\n are accepted too, and empty lines
// are skipped. The delimiters come from MSH-1 and MSH-2, which are taken literally.
func Parse(data []byte) (*Message, error) {
	if len(data) > MaxMessageSize {
		return nil, &ParseError{Err: ErrTooLarge, Detail: fmt.Sprintf("%d bytes, limit %d", len(data), MaxMessageSize)}
	}
	lines := splitSegments(data)
	if len(lines) == 0 {
		return nil, &ParseError{Err: ErrEmpty}
	}
	d, err := readDelimiters(lines[0])
	if err != nil {
		return nil, err
	}
	m := &Message{Delims: d, Segments: make([]*Segment, 0, len(lines))}
	for i, line := range lines {
		seg, err := parseSegment(line, d, i == 0)
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) {
				pe.Segment = i + 1
			}
			return nil, err
		}
		m.Segments = append(m.Segments, seg)
	}
	return m, nil
}

// splitSegments splits on \r, \n or \r\n and drops empty lines.
func splitSegments(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			out = append(out, data)
			break
		}
		if i > 0 {
			out = append(out, data[:i])
		}
		data = data[i+1:]
	}
	return out
}

// readDelimiters reads MSH-1 and MSH-2 from the first segment.
func readDelimiters(first []byte) (Delimiters, error) {
	if !bytes.HasPrefix(first, []byte("MSH")) {
		detail := string(first[:min(len(first), 3)])
		return Delimiters{}, &ParseError{Err: ErrNoMSH, Segment: 1, Detail: fmt.Sprintf("starts with %q", detail)}
	}
	if len(first) < 4 {
		return Delimiters{}, &ParseError{Err: ErrBadEncoding, Segment: 1, Field: 1, Detail: "no field separator"}
	}
	fs := first[3]
	enc := first[4:]
	if i := bytes.IndexByte(enc, fs); i >= 0 {
		enc = enc[:i]
	}
	if len(enc) != 4 && len(enc) != 5 {
		return Delimiters{}, &ParseError{Err: ErrBadEncoding, Segment: 1, Field: 2,
			Detail: fmt.Sprintf("MSH-2 %q must have 4 or 5 characters", enc)}
	}
	d := Delimiters{Field: fs, Component: enc[0], Repetition: enc[1], Escape: enc[2], Subcomponent: enc[3]}
	if len(enc) == 5 {
		d.Truncation = enc[4]
	}
	if err := d.validate(); err != nil {
		return Delimiters{}, &ParseError{Err: ErrBadEncoding, Segment: 1, Field: 2, Detail: err.Error()}
	}
	return d, nil
}

// validate checks the delimiters are distinct printable punctuation.
func (d Delimiters) validate() error {
	chars := []byte{d.Field, d.Component, d.Repetition, d.Escape, d.Subcomponent}
	if d.Truncation != 0 {
		chars = append(chars, d.Truncation)
	}
	for i, c := range chars {
		if c < 0x21 || c > 0x7e || isAlnum(c) {
			return fmt.Errorf("delimiter %q is not printable punctuation", c)
		}
		if bytes.IndexByte(chars[:i], c) >= 0 {
			return fmt.Errorf("delimiter %q is used twice", c)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

func validName(name string) bool {
	if len(name) != 3 || name[0] < 'A' || name[0] > 'Z' {
		return false
	}
	for i := 1; i < 3; i++ {
		if c := name[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// parseSegment reads one segment; first says it is the message's MSH.
func parseSegment(line []byte, d Delimiters, first bool) (*Segment, error) {
	name := line
	if i := bytes.IndexByte(line, d.Field); i >= 0 {
		name = line[:i]
	}
	if !validName(string(name)) {
		return nil, &ParseError{Err: ErrBadSegment, Detail: fmt.Sprintf("segment name %q", name)}
	}
	seg := &Segment{Name: string(name)}
	rest := line[len(name):]
	if first {
		enc := d.EncodingCharacters()
		seg.Set(1, string(d.Field))
		seg.Set(2, enc)
		rest = rest[1+len(enc):]
	} else if seg.Name == "MSH" {
		return nil, &ParseError{Err: ErrBadSegment, Detail: "MSH after the first segment"}
	}
	if len(rest) == 0 {
		return seg, nil
	}
	// rest starts with the field separator.
	for _, raw := range bytes.Split(rest[1:], []byte{d.Field}) {
		f, err := parseField(raw, d)
		if err != nil {
			return nil, &ParseError{Err: ErrBadEscape, Field: len(seg.Fields) + 1, Detail: err.Error()}
		}
		seg.Fields = append(seg.Fields, f)
	}
	return seg, nil
}

// parseField splits a raw field into repetitions, components and subcomponents and unescapes
// each value.
func parseField(raw []byte, d Delimiters) (Field, error) {
	reps := bytes.Split(raw, []byte{d.Repetition})
	f := make(Field, len(reps))
	for i, rr := range reps {
		comps := bytes.Split(rr, []byte{d.Component})
		r := make(Repetition, len(comps))
		for j, cr := range comps {
			subs := bytes.Split(cr, []byte{d.Subcomponent})
			c := make(Component, len(subs))
			for k, sr := range subs {
				v, err := unescape(sr, d)
				if err != nil {
					return nil, err
				}
				c[k] = v
			}
			r[j] = c
		}
		f[i] = r
	}
	return f, nil
}
