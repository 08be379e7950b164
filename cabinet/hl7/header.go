package hl7

import (
	"errors"
	"fmt"
	"time"
)

// Values this system writes in MSH.
const (
	// Application is MSH-3 of what the medication-request system sends, and MSH-5 of what
	// cabinets send to it.
	Application = "PYXIS-MEDREQ"
	// Version is MSH-12 of every message built here.
	Version = "2.5"
	// ProcessingProduction is MSH-11 "P".
	ProcessingProduction = "P"
)

// ErrInvalid reports a message that parses but lacks what its type requires (a missing
// segment or field, a bad number or code); the decoders wrap it with the detail.
var ErrInvalid = errors.New("invalid message")

// ErrUnsupported reports a message type (MSH-9) a decoder does not handle.
var ErrUnsupported = errors.New("unsupported message type")

// invalid returns an error wrapping ErrInvalid.
func invalid(format string, args ...any) error {
	return fmt.Errorf("hl7: %w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Header is what MSH says about a message.
type Header struct {
	SendingApp        string // MSH-3.1
	SendingFacility   string // MSH-4.1
	ReceivingApp      string // MSH-5.1
	ReceivingFacility string // MSH-6.1
	Time              string // MSH-7, as written
	MessageCode       string // MSH-9.1, e.g. "RDE"
	TriggerEvent      string // MSH-9.2, e.g. "O11"
	ControlID         string // MSH-10
	ProcessingID      string // MSH-11.1
	Version           string // MSH-12.1
}

// Header returns the message's MSH fields (empty when the message has no MSH).
func (m *Message) Header() Header {
	msh := m.Segment("MSH")
	return Header{
		SendingApp:        msh.Value(3),
		SendingFacility:   msh.Value(4),
		ReceivingApp:      msh.Value(5),
		ReceivingFacility: msh.Value(6),
		Time:              msh.Value(7),
		MessageCode:       msh.Component(9, 1, 1),
		TriggerEvent:      msh.Component(9, 1, 2),
		ControlID:         msh.Value(10),
		ProcessingID:      msh.Value(11),
		Version:           msh.Value(12),
	}
}

// ParseHeader reads only the first segment of data, which must be a valid MSH: it is how a
// receiver finds what to acknowledge in a message that does not parse as a whole (too large,
// a bad segment further on). It does not enforce MaxMessageSize.
func ParseHeader(data []byte) (Header, error) {
	lines := splitSegments(data)
	if len(lines) == 0 {
		return Header{}, &ParseError{Err: ErrEmpty}
	}
	d, err := readDelimiters(lines[0])
	if err != nil {
		return Header{}, err
	}
	msh, err := parseSegment(lines[0], d, true)
	if err != nil {
		return Header{}, err
	}
	m := Message{Delims: d, Segments: []*Segment{msh}}
	return m.Header(), nil
}

// header builds an MSH segment for a message this package builds.
type header struct {
	sendingApp, receivingApp string
	code, trigger, structure string
	controlID                string
	at                       time.Time
}

func (h header) message() *Message {
	m := NewMessage(StandardDelimiters())
	msh := m.Segments[0]
	msh.Set(3, h.sendingApp)
	msh.Set(5, h.receivingApp)
	msh.Set(7, FormatTime(h.at))
	msh.Set(9, h.code, h.trigger, h.structure)
	msh.Set(10, h.controlID)
	msh.Set(11, ProcessingProduction)
	msh.Set(12, Version)
	return m
}

// expectType checks MSH-9 names this message code (and, when given, trigger event).
func expectType(m *Message, code, trigger string) error {
	h := m.Header()
	if h.MessageCode != code || (trigger != "" && h.TriggerEvent != trigger) {
		return fmt.Errorf("hl7: %w: %s^%s, want %s^%s", ErrUnsupported, h.MessageCode, h.TriggerEvent, code, trigger)
	}
	if h.ControlID == "" {
		return invalid("MSH-10 message control id is empty")
	}
	return nil
}
