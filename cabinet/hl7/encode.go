package hl7

import (
	"bytes"
	"fmt"
)

// Encode writes the message with its delimiters, each segment ended by \r. Values are
// escaped; MSH-1 and MSH-2 are written from m.Delims. It fails when the delimiters are not
// valid, the first segment is not MSH, an MSH appears later, or a segment name is not three
// upper-case letters or digits: what Encode writes, Parse reads back.
func (m *Message) Encode() ([]byte, error) {
	d := m.Delims
	if err := d.validate(); err != nil {
		return nil, &ParseError{Err: ErrBadEncoding, Detail: err.Error()}
	}
	if len(m.Segments) == 0 {
		return nil, &ParseError{Err: ErrEmpty}
	}
	var b bytes.Buffer
	for i, s := range m.Segments {
		if s == nil {
			return nil, &ParseError{Err: ErrBadSegment, Segment: i + 1, Detail: "nil segment"}
		}
		if !validName(s.Name) {
			return nil, &ParseError{Err: ErrBadSegment, Segment: i + 1, Detail: fmt.Sprintf("segment name %q", s.Name)}
		}
		if (i == 0) != (s.Name == "MSH") {
			if i == 0 {
				return nil, &ParseError{Err: ErrNoMSH, Segment: 1}
			}
			return nil, &ParseError{Err: ErrBadSegment, Segment: i + 1, Detail: "MSH after the first segment"}
		}
		b.WriteString(s.Name)
		fields := s.Fields
		if i == 0 {
			b.WriteByte(d.Field)
			b.WriteString(d.EncodingCharacters())
			fields = fields[min(2, len(fields)):]
		}
		for _, f := range fields {
			b.WriteByte(d.Field)
			writeField(&b, f, d)
		}
		b.WriteByte('\r')
	}
	if b.Len() > MaxMessageSize {
		return nil, &ParseError{Err: ErrTooLarge, Detail: fmt.Sprintf("%d bytes, limit %d", b.Len(), MaxMessageSize)}
	}
	return b.Bytes(), nil
}

// String returns the encoded message with segments on separate lines, for logs; it returns
// the encoding error's text when the message cannot be encoded.
func (m *Message) String() string {
	raw, err := m.Encode()
	if err != nil {
		return err.Error()
	}
	return string(bytes.ReplaceAll(bytes.TrimRight(raw, "\r"), []byte{'\r'}, []byte{'\n'}))
}

// writeField writes a field's repetitions, components and subcomponents.
func writeField(w textWriter, f Field, d Delimiters) {
	for i, r := range f {
		if i > 0 {
			w.WriteByte(d.Repetition)
		}
		for j, c := range r {
			if j > 0 {
				w.WriteByte(d.Component)
			}
			for k, sub := range c {
				if k > 0 {
					w.WriteByte(d.Subcomponent)
				}
				escape(w, sub, d)
			}
		}
	}
}
