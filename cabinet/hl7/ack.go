package hl7

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// AckCode is MSA-1: an original-mode application acknowledgment (AA, AE, AR) or an
// enhanced-mode commit acknowledgment (CA, CE, CR).
type AckCode string

// Acknowledgment codes (HL7 table 0008).
const (
	// AckAccept (AA): the message was accepted and applied (or had been already).
	AckAccept AckCode = "AA"
	// AckError (AE): the receiver understood the message and refused it; the sender must
	// not resend it as it is. The reason is in MSA-3 and ERR.
	AckError AckCode = "AE"
	// AckReject (AR): not now, or not this kind of message (type, event, version, processing
	// id); the sender may resend later.
	AckReject AckCode = "AR"
	// CommitAccept (CA), CommitError (CE) and CommitReject (CR) are their enhanced-mode
	// counterparts.
	CommitAccept AckCode = "CA"
	CommitError  AckCode = "CE"
	CommitReject AckCode = "CR"
)

// Commit returns the enhanced-mode counterpart of an original-mode code (AA→CA, AE→CE,
// AR→CR), and any other code unchanged.
func (c AckCode) Commit() AckCode {
	switch c {
	case AckAccept:
		return CommitAccept
	case AckError:
		return CommitError
	case AckReject:
		return CommitReject
	}
	return c
}

// Accepted reports AA or CA; Refused AE or CE (final: do not resend); Retry AR or CR (resend
// later).
func (c AckCode) Accepted() bool { return c == AckAccept || c == CommitAccept }

// Refused reports AE or CE: a final refusal.
func (c AckCode) Refused() bool { return c == AckError || c == CommitError }

// Retry reports AR or CR: resend later.
func (c AckCode) Retry() bool { return c == AckReject || c == CommitReject }

// Ack is an acknowledgment: what it says and which message it answers.
type Ack struct {
	Code AckCode
	// ControlID (MSA-2) is the MSH-10 of the message acknowledged.
	ControlID string
	// Text is the reason of a refusal: ERR-8, else MSA-3, else the text of ERR-3. BuildACK
	// writes it in MSA-3 cut to 80 characters and in ERR-8 cut to 250 (their v2.5 lengths).
	Text string
	// Condition is ERR-3's code from HL7 table 0357 for AE and AR; BuildACK writes
	// ConditionInternal when it is empty.
	Condition string
	// Segment, Occurrence and Field locate the error (ERR-2: segment^sequence^field), when
	// one segment is at fault.
	Segment    string
	Occurrence int
	Field      int
}

// AckFor returns the acknowledgment of an error of Parse or of a decoder: code, the error's
// text, its condition (ConditionOf) and, for a *ValidationError, its location.
func AckFor(code AckCode, err error) Ack {
	a := Ack{Code: code, Text: err.Error(), Condition: ConditionOf(err)}
	var ve *ValidationError
	if errors.As(err, &ve) {
		a.Segment, a.Occurrence, a.Field = ve.Segment, ve.Occurrence, ve.Field
	}
	return a
}

// BuildACK answers the message whose header is h: MSH with sender and receiver (application
// and facility) swapped, MSH-9 ACK^<trigger>^ACK, MSH-10 an id of its own (ShortID of the
// answered sender and id), MSH-11 and MSH-12 as the message had them, MSA-1 a.Code, MSA-2
// h.ControlID (empty when the message had none), MSA-3 a.Text, and for anything but an
// acceptance an ERR segment (ERR-2 the location, ERR-3 condition^text^HL70357, ERR-4
// severity E, ERR-8 the text; for a message of v2.3 or v2.4, which know ERR-1 only, ERR-1
// too). When the message asks for a commit acknowledgment for this outcome
// (h.CommitAck), the code is written as its commit counterpart (AA as CA, AE as CE, AR as
// CR); otherwise it is the application acknowledgment AA, AE or AR.
func BuildACK(h Header, a Ack, at time.Time) *Message {
	sending := h.ReceivingApp
	if sending == "" {
		sending = Application
	}
	code := a.Code
	if h.CommitAck(code.Accepted()) {
		code = code.Commit()
	}
	structure := "ACK"
	if h.Version == "2.3" || h.Version == "2.2" {
		structure = "" // MSH-9.3, the message structure, came with v2.3.1
	}
	m := header{
		sendingApp: sending, receivingApp: h.SendingApp,
		code: "ACK", trigger: h.TriggerEvent, structure: structure,
		controlID: ShortID("AK", h.SendingApp+"|"+h.ControlID+"|"+string(code)), at: at,
		env: Envelope{SendingFacility: h.ReceivingFacility, ReceivingFacility: h.SendingFacility, ProcessingID: h.ProcessingID},
	}.message()
	msh := m.Segments[0]
	if h.Version != "" {
		msh.Set(12, h.Version)
	}
	msa := NewSegment("MSA").Set(1, string(code)).Set(2, h.ControlID)
	if a.Text != "" {
		msa.Set(3, cut(a.Text, 80))
	}
	m.Add(msa)
	if !code.Accepted() {
		m.Add(errSegment(h.Version, a))
	}
	return m
}

// errSegment returns the ERR of a refusal: ERR-2 the location, ERR-3 the condition, ERR-4
// E, ERR-8 the text; for a version before 2.5, ERR-1 (segment^sequence^field^condition) as
// well, the only field those versions define.
func errSegment(version string, a Ack) *Segment {
	cond := a.Condition
	if cond == "" {
		cond = ConditionInternal
	}
	e := NewSegment("ERR")
	var loc []string
	if a.Segment != "" {
		loc = []string{a.Segment, strconv.Itoa(max(a.Occurrence, 1))}
		if a.Field > 0 {
			loc = append(loc, strconv.Itoa(a.Field))
		}
		e.Set(2, loc...)
	}
	if before25(version) {
		eld := append(loc, make([]string, 3-len(loc))...)
		r := make(Repetition, 0, 4)
		for _, v := range eld {
			r = append(r, Component{v})
		}
		r = append(r, Component{cond, ConditionText[cond], "HL70357"})
		e.SetField(1, Field{r})
	}
	return e.Set(3, cond, ConditionText[cond], "HL70357").Set(4, "E").Set(8, cut(a.Text, 250))
}

// before25 reports whether version is one of v2.1 to v2.4.
func before25(version string) bool {
	switch version {
	case "2.1", "2.2", "2.3", "2.3.1", "2.4":
		return true
	}
	return false
}

// Resend reports whether an acknowledgment with this ERR-3 condition asks the sender to send
// the same message again later: 206 (record locked) and 207 (application internal error:
// the receiver could not keep it now). Every other condition means the message must not be
// sent again as it is, whether MSA-1 says AE or AR: ERR-3 alone decides, so an engine's
// resend rule needs nothing else.
func Resend(condition string) bool {
	return condition == ConditionRecordLocked || condition == ConditionInternal
}

// cut shortens s to at most n bytes, on a UTF-8 boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// DecodeACK reads an acknowledgment (ACK, or any message with an MSA, such as MFK). It fails
// when the message has no MSA, MSA-1 is not one of AA, AE, AR, CA, CE, CR, or MSA-2 is empty.
func DecodeACK(m *Message) (Ack, error) {
	msa := m.Segment("MSA")
	if msa == nil {
		return Ack{}, missing("MSA", 1, 0, "acknowledgment without MSA")
	}
	a := Ack{Code: AckCode(msa.Value(1)), ControlID: msa.Value(2), Text: msa.Value(3)}
	switch a.Code {
	case AckAccept, AckError, AckReject, CommitAccept, CommitError, CommitReject:
	default:
		return Ack{}, badCode("MSA", 1, 1, "MSA-1 %q is not AA, AE, AR, CA, CE or CR", a.Code)
	}
	if a.ControlID == "" {
		return Ack{}, missing("MSA", 1, 2, "MSA-2 is empty")
	}
	if err := m.Segment("ERR"); err != nil {
		a.Condition = err.Component(3, 1, 1)
		a.Segment = err.Component(2, 1, 1)
		a.Occurrence, _ = strconv.Atoi(err.Component(2, 1, 2))
		a.Field, _ = strconv.Atoi(err.Component(2, 1, 3))
		if t := err.Value(8); t != "" {
			a.Text = t
		}
		if a.Text == "" {
			a.Text = err.Component(3, 1, 2)
		}
	}
	return a, nil
}

// ParseACK parses raw and decodes it as an acknowledgment.
func ParseACK(raw []byte) (Ack, error) {
	m, err := Parse(raw)
	if err != nil {
		return Ack{}, err
	}
	return DecodeACK(m)
}

// Reply encodes BuildACK's answer to h. It fails only when the header's values make the
// acknowledgment larger than MaxMessageSize.
func Reply(h Header, a Ack, at time.Time) ([]byte, error) {
	raw, err := BuildACK(h, a, at).Encode()
	if err != nil {
		return nil, fmt.Errorf("encode ACK of %q: %w", h.ControlID, err)
	}
	return raw, nil
}

// Answer returns the acknowledgment a answering raw when raw's MSH can be read and names a
// control id, or nil when not (the frame is then dropped unanswered): it is how a receiver
// answers a message that does not parse as a whole.
func Answer(raw []byte, a Ack, at time.Time) []byte {
	h, err := ParseHeader(raw)
	if err != nil || h.ControlID == "" {
		return nil
	}
	ack, err := Reply(h, a, at)
	if err != nil {
		return nil
	}
	return ack
}

// Reject returns an AR answering raw with reason as the text, or nil when not even the MSH
// can be read.
func Reject(raw []byte, reason, condition string, at time.Time) []byte {
	return Answer(raw, Ack{Code: AckReject, Text: reason, Condition: condition}, at)
}
