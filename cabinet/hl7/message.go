// Package hl7 reads and writes HL7 version 2 messages, strictly, and builds and decodes the
// few messages the Pyxis interface exchanges: RDE^O11 dispense authorizations, their ACKs,
// RDS^O13 dispense reports and OMS^O05 pocket events (see INTERFACE.md beside this file).
//
// A Message is a list of segments; a segment's fields hold repetitions (~), repetitions hold
// components (^) and components hold subcomponents (&). Numbering follows HL7: fields,
// repetitions, components and subcomponents count from 1, and MSH-1 is the field separator
// itself, so MSH-9 is the message type as in every HL7 document. Values are stored unescaped:
// Parse decodes \F\ \S\ \T\ \R\ \E\ (and \P\ for a v2.7 truncation character) and \Xhh..\,
// and Encode escapes delimiters and control characters again.
package hl7

import "strings"

// Delimiters are a message's separators and escape character, read from MSH-1 and MSH-2.
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent byte
	// Truncation is the v2.7 truncation character, 0 when MSH-2 has four characters.
	Truncation byte
}

// StandardDelimiters returns the delimiters almost every system uses: |^~\&.
func StandardDelimiters() Delimiters {
	return Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&'}
}

// EncodingCharacters returns MSH-2 for these delimiters.
func (d Delimiters) EncodingCharacters() string {
	s := string([]byte{d.Component, d.Repetition, d.Escape, d.Subcomponent})
	if d.Truncation != 0 {
		s += string(d.Truncation)
	}
	return s
}

// Message is a parsed HL7 v2 message.
type Message struct {
	Delims   Delimiters
	Segments []*Segment
}

// Segment is one segment: its three-character name and its fields. Fields[0] is field 1; in
// an MSH segment, fields 1 and 2 hold the field separator and the encoding characters, and
// Encode writes them from the message's Delimiters rather than from these values.
type Segment struct {
	Name   string
	Fields []Field
}

// Field is one field: its repetitions.
type Field []Repetition

// Repetition is one occurrence of a field: its components.
type Repetition []Component

// Component is one component: its subcomponents.
type Component []string

// NewMessage returns a message holding only an MSH segment with the delimiters in MSH-1 and
// MSH-2.
func NewMessage(d Delimiters) *Message {
	msh := NewSegment("MSH")
	msh.Set(1, string(d.Field))
	msh.Set(2, d.EncodingCharacters())
	return &Message{Delims: d, Segments: []*Segment{msh}}
}

// NewSegment returns an empty segment with this name.
func NewSegment(name string) *Segment {
	return &Segment{Name: name}
}

// Add appends segments to the message.
func (m *Message) Add(segs ...*Segment) {
	m.Segments = append(m.Segments, segs...)
}

// Segment returns the first segment with this name, or nil. The methods of a nil *Segment
// return empty values, so m.Segment("ORC").Value(2) needs no check.
func (m *Message) Segment(name string) *Segment {
	for _, s := range m.Segments {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// All returns every segment with this name, in message order.
func (m *Message) All(name string) []*Segment {
	var out []*Segment
	for _, s := range m.Segments {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// Field returns field n (1-based), or nil when the segment is shorter.
func (s *Segment) Field(n int) Field {
	if s == nil || n < 1 || n > len(s.Fields) {
		return nil
	}
	return s.Fields[n-1]
}

// Sub returns one subcomponent, all positions 1-based, or "" when it is absent.
func (s *Segment) Sub(field, rep, comp, sub int) string {
	f := s.Field(field)
	if rep < 1 || rep > len(f) {
		return ""
	}
	r := f[rep-1]
	if comp < 1 || comp > len(r) {
		return ""
	}
	c := r[comp-1]
	if sub < 1 || sub > len(c) {
		return ""
	}
	return c[sub-1]
}

// Component returns the first subcomponent of a component (1-based positions), which is the
// whole component when it has no subcomponents.
func (s *Segment) Component(field, rep, comp int) string {
	return s.Sub(field, rep, comp, 1)
}

// Value returns the first component of the first repetition of field n: the field's value
// when it is a simple one.
func (s *Segment) Value(n int) string {
	return s.Sub(n, 1, 1, 1)
}

// Repetitions returns how many repetitions field n has.
func (s *Segment) Repetitions(n int) int {
	return len(s.Field(n))
}

// Set makes field n (1-based) a single repetition with these components, growing the
// segment as needed. Set(n) with no components empties the field.
func (s *Segment) Set(n int, comps ...string) *Segment {
	r := make(Repetition, max(len(comps), 1))
	for i := range r {
		v := ""
		if i < len(comps) {
			v = comps[i]
		}
		r[i] = Component{v}
	}
	return s.SetField(n, Field{r})
}

// SetField replaces field n (1-based), growing the segment as needed.
func (s *Segment) SetField(n int, f Field) *Segment {
	if n < 1 {
		return s
	}
	for len(s.Fields) < n {
		s.Fields = append(s.Fields, Field{Repetition{Component{""}}})
	}
	s.Fields[n-1] = f
	return s
}

// String returns the field's text as it would be encoded with the standard delimiters; it
// is meant for logs and error messages.
func (f Field) String() string {
	d := StandardDelimiters()
	var b strings.Builder
	writeField(&b, f, d)
	return b.String()
}
