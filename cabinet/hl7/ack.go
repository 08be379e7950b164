package hl7

import (
	"fmt"
	"time"
)

// AckCode is MSA-1, the acknowledgment code of original-mode HL7.
type AckCode string

// Acknowledgment codes.
const (
	// AckAccept (AA): the message was accepted and applied (or had been already).
	AckAccept AckCode = "AA"
	// AckError (AE): the receiver understood the message and refused it; the reason is in
	// MSA-3 and ERR.
	AckError AckCode = "AE"
	// AckReject (AR): the message could not be read or is of a type the receiver does not take.
	AckReject AckCode = "AR"
)

// Error conditions for ERR-3, from HL7 table 0357.
const (
	ConditionSegmentSequence = "100"
	ConditionRequiredField   = "101"
	ConditionDataType        = "102"
	ConditionUnsupportedType = "200"
	ConditionUnknownKey      = "204"
	ConditionInternal        = "207"
)

var conditionText = map[string]string{
	ConditionSegmentSequence: "Segment sequence error",
	ConditionRequiredField:   "Required field missing",
	ConditionDataType:        "Data type error",
	ConditionUnsupportedType: "Unsupported message type",
	ConditionUnknownKey:      "Unknown key identifier",
	ConditionInternal:        "Application internal error",
}

// Ack is an acknowledgment: what it says and which message it answers.
type Ack struct {
	Code AckCode
	// ControlID (MSA-2) is the MSH-10 of the message acknowledged.
	ControlID string
	// Text is the reason of a refusal: MSA-3, else ERR-8, else the text of ERR-3.
	Text string
	// Condition is ERR-3's code from HL7 table 0357 for AE and AR; BuildACK writes
	// ConditionInternal when it is empty.
	Condition string
}

// BuildACK answers the message whose header is h: MSH with sender and receiver swapped,
// MSH-9 ACK^<trigger>^ACK, MSH-10 "<acknowledged id>-ACK", MSA-1 a.Code, MSA-2 h.ControlID,
// MSA-3 a.Text, and for AE and AR an ERR segment (ERR-3 condition, ERR-4 severity E, ERR-8
// the text).
func BuildACK(h Header, a Ack, at time.Time) *Message {
	sending := h.ReceivingApp
	if sending == "" {
		sending = Application
	}
	m := header{
		sendingApp: sending, receivingApp: h.SendingApp,
		code: "ACK", trigger: h.TriggerEvent, structure: "ACK",
		controlID: h.ControlID + "-ACK", at: at,
	}.message()
	msh := m.Segments[0]
	msh.Set(4, h.ReceivingFacility)
	msh.Set(6, h.SendingFacility)
	if h.ProcessingID != "" {
		msh.Set(11, h.ProcessingID)
	}
	if h.Version != "" {
		msh.Set(12, h.Version)
	}
	msa := NewSegment("MSA").Set(1, string(a.Code)).Set(2, h.ControlID)
	if a.Text != "" {
		msa.Set(3, a.Text)
	}
	m.Add(msa)
	if a.Code != AckAccept {
		cond := a.Condition
		if cond == "" {
			cond = ConditionInternal
		}
		m.Add(NewSegment("ERR").
			Set(3, cond, conditionText[cond], "HL70357").
			Set(4, "E").
			Set(8, a.Text))
	}
	return m
}

// DecodeACK reads an acknowledgment. It fails when the message has no MSA or MSA-1 is not
// AA, AE or AR: only original-mode acknowledgments are part of this interface.
func DecodeACK(m *Message) (Ack, error) {
	msa := m.Segment("MSA")
	if msa == nil {
		return Ack{}, invalid("acknowledgment without MSA")
	}
	a := Ack{Code: AckCode(msa.Value(1)), ControlID: msa.Value(2), Text: msa.Value(3)}
	switch a.Code {
	case AckAccept, AckError, AckReject:
	default:
		return Ack{}, invalid("MSA-1 %q is not AA, AE or AR", a.Code)
	}
	if a.ControlID == "" {
		return Ack{}, invalid("MSA-2 is empty")
	}
	if err := m.Segment("ERR"); err != nil {
		a.Condition = err.Component(3, 1, 1)
		if a.Text == "" {
			a.Text = err.Value(8)
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

// Reject returns an AR answering raw when its MSH can be read, with reason as the text, or
// nil when not even the MSH can be read (the frame is then dropped unanswered).
func Reject(raw []byte, reason, condition string, at time.Time) []byte {
	h, err := ParseHeader(raw)
	if err != nil || h.ControlID == "" {
		return nil
	}
	ack, err := Reply(h, Ack{Code: AckReject, Text: reason, Condition: condition}, at)
	if err != nil {
		return nil
	}
	return ack
}
