package hl7

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"slices"
	"time"
)

// Values this system writes in MSH.
const (
	// Application is MSH-3 of what the medication-request system sends, and MSH-5 of what
	// cabinets send to it.
	Application = "PYXIS-MEDREQ"
	// Version is MSH-12 of every message built here.
	Version = "2.5"
	// ProcessingProduction is MSH-11 "P"; ProcessingTraining (T) and ProcessingDebugging
	// (D) are the other values of HL7 table 0103.
	ProcessingProduction = "P"
	ProcessingTraining   = "T"
	ProcessingDebugging  = "D"
	// CharacterSet is MSH-18 of every message built here: UTF-8 (HL7 table 0211).
	CharacterSet = "UNICODE UTF-8"
	// AckAlways (AL) and AckNever (NE) are MSH-15/16 values (HL7 table 0155): an
	// enhanced-mode message asks for a commit acknowledgment always and an application
	// acknowledgment never.
	AckAlways  = "AL"
	AckNever   = "NE"
	AckOnError = "ER"
	AckSuccess = "SU"
	// MaxControlID is the longest MSH-10 HL7 v2.5 allows: 20 characters.
	MaxControlID = 20
)

// ProcessingIDs are the values of MSH-11 (HL7 table 0103).
var ProcessingIDs = []string{ProcessingProduction, ProcessingTraining, ProcessingDebugging}

// ValidProcessingID reports whether p is P, T or D.
func ValidProcessingID(p string) bool { return slices.Contains(ProcessingIDs, p) }

// Envelope is what a message built here says beyond its content: in MSH the facilities,
// production or test and the acknowledgment mode; and the site's conventions every message
// follows (the time zone, the MRN's assigning authority, the patient class).
type Envelope struct {
	// SendingFacility and ReceivingFacility are MSH-4 and MSH-6; either may be empty.
	SendingFacility   string
	ReceivingFacility string
	// ProcessingID is MSH-11: P (production, the default when empty), T or D.
	ProcessingID string
	// Enhanced asks for enhanced-mode acknowledgment: MSH-15 AL, MSH-16 NE, so the receiver
	// answers with a commit acknowledgment (CA, CE, CR). When false MSH-15 and MSH-16 are
	// empty: original mode (AA, AE, AR).
	Enhanced bool
	// Location is the zone every time is written in, with its offset (MSH-7, ORC-9, TQ1-7,
	// TQ1-8, MFE-3, RXD-3, ZPM-19): the hospital's, so that an engine or a cabinet that
	// ignores the offset still reads the wall-clock time. Nil: each time in its own zone.
	Location *time.Location
	// AssigningAuthority is PID-3.4, the authority that issued the MRN; empty: the
	// SendingFacility.
	AssigningAuthority string
	// PatientClass is PV1-2 (HL7 table 0004); empty: I, inpatient.
	PatientClass string
	// ServerApplication is MSH-5 of an item master update sent once to an address that
	// several cabinets share (a central server or an engine); empty: DefaultServerApplication.
	ServerApplication string
}

// DefaultServerApplication is MSH-5 of an item master update for a central cabinet server
// when Envelope.ServerApplication is empty.
const DefaultServerApplication = "PYXIS"

// time writes t in the envelope's zone: YYYYMMDDHHMMSS+ZZZZ.
func (e Envelope) time(t time.Time) string {
	if e.Location != nil {
		t = t.In(e.Location)
	}
	return FormatTime(t)
}

// ShortID returns a message control id of at most MaxControlID characters: prefix, then
// upper-case base32 of the SHA-256 of key, cut to fit. The same prefix and key always give
// the same id, so a resent message repeats it.
func ShortID(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])
	return prefix + enc[:max(MaxControlID-len(prefix), 0)]
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
	AcceptAckType     string // MSH-15
	AppAckType        string // MSH-16
	CharacterSet      string // MSH-18 (first repetition)
}

// CommitAck reports whether a message with this header is answered by a commit
// acknowledgment (CA, CE, CR) rather than an application acknowledgment (AA, AE, AR), when
// the answer accepts it or not: MSH-15 (accept acknowledgment type, HL7 table 0155) asks
// for one always (AL), only on success (SU) or only on error (ER). MSH-15 empty or NE, with
// whatever MSH-16 says, is answered by an application acknowledgment.
func (h Header) CommitAck(accepted bool) bool {
	switch h.AcceptAckType {
	case AckAlways:
		return true
	case AckSuccess:
		return accepted
	case AckOnError:
		return !accepted
	}
	return false
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
		AcceptAckType:     msh.Value(15),
		AppAckType:        msh.Value(16),
		CharacterSet:      msh.Value(18),
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
	env                      Envelope
}

// message returns a message holding the MSH: MSH-3 to MSH-7, MSH-9 to MSH-12, MSH-15 and
// MSH-16 in enhanced mode, MSH-18.
func (h header) message() *Message {
	m := NewMessage(StandardDelimiters())
	msh := m.Segments[0]
	msh.Set(3, h.sendingApp)
	msh.Set(4, h.env.SendingFacility)
	msh.Set(5, h.receivingApp)
	msh.Set(6, h.env.ReceivingFacility)
	msh.Set(7, h.env.time(h.at))
	msh.Set(9, trimmed(h.code, h.trigger, h.structure)...)
	msh.Set(10, h.controlID)
	pid := h.env.ProcessingID
	if pid == "" {
		pid = ProcessingProduction
	}
	msh.Set(11, pid)
	msh.Set(12, Version)
	if h.env.Enhanced {
		msh.Set(15, AckAlways)
		msh.Set(16, AckNever)
	}
	msh.Set(18, CharacterSet)
	return m
}

// checkEnvelope refuses an envelope a message cannot carry.
func checkEnvelope(env Envelope) error {
	if env.ProcessingID != "" && !ValidProcessingID(env.ProcessingID) {
		return fmt.Errorf("hl7: processing id %q is not P, T or D", env.ProcessingID)
	}
	return nil
}

// expectType checks MSH-9 names this message code (and, when given, trigger event).
func expectType(m *Message, code, trigger string) error {
	h := m.Header()
	if h.MessageCode != code {
		return fmt.Errorf("hl7: %w: %s^%s, want %s^%s", ErrUnsupported, h.MessageCode, h.TriggerEvent, code, trigger)
	}
	if trigger != "" && h.TriggerEvent != trigger {
		return fmt.Errorf("hl7: %w: %s^%s, want %s^%s", ErrUnsupportedEvent, h.MessageCode, h.TriggerEvent, code, trigger)
	}
	if h.ControlID == "" {
		return missing("MSH", 1, 10, "MSH-10 message control id is empty")
	}
	return nil
}
