package hl7

import (
	"errors"
	"fmt"

	"github.com/medreq/pyxis/cabinet"
)

// Error conditions for ERR-3, from HL7 table 0357.
const (
	ConditionSegmentSequence    = cabinet.ConditionSegmentSequence // 100
	ConditionRequiredField      = cabinet.ConditionRequiredField   // 101
	ConditionDataType           = cabinet.ConditionDataType        // 102
	ConditionTableValue         = cabinet.ConditionTableValue      // 103
	ConditionUnsupportedType    = "200"
	ConditionUnsupportedEvent   = "201"
	ConditionUnsupportedProcess = "202"
	ConditionUnsupportedVersion = "203"
	ConditionUnknownKey         = cabinet.ConditionUnknownKey   // 204
	ConditionDuplicateKey       = cabinet.ConditionDuplicateKey // 205
	ConditionRecordLocked       = cabinet.ConditionRecordLocked // 206
	ConditionInternal           = cabinet.ConditionInternal     // 207
)

// ConditionText is the name HL7 table 0357 gives each condition, written in ERR-3.2.
var ConditionText = map[string]string{
	ConditionSegmentSequence:    "Segment sequence error",
	ConditionRequiredField:      "Required field missing",
	ConditionDataType:           "Data type error",
	ConditionTableValue:         "Table value not found",
	ConditionUnsupportedType:    "Unsupported message type",
	ConditionUnsupportedEvent:   "Unsupported event code",
	ConditionUnsupportedProcess: "Unsupported processing id",
	ConditionUnsupportedVersion: "Unsupported version id",
	ConditionUnknownKey:         "Unknown key identifier",
	ConditionDuplicateKey:       "Duplicate key identifier",
	ConditionRecordLocked:       "Application record locked",
	ConditionInternal:           "Application internal error",
}

// ErrInvalid reports a message that parses but lacks what its type requires (a missing
// segment or field, a bad number or code); the decoders return it inside a *ValidationError.
var ErrInvalid = errors.New("invalid message")

// ErrUnsupported reports a message type (MSH-9.1) a decoder does not handle, and
// ErrUnsupportedEvent a trigger event (MSH-9.2).
var (
	ErrUnsupported      = errors.New("unsupported message type")
	ErrUnsupportedEvent = errors.New("unsupported event code")
)

// ValidationError is what a decoder found wrong with a message that parses: what, where,
// and the HL7 table 0357 condition an acknowledgment names. It wraps ErrInvalid.
type ValidationError struct {
	// Condition is ConditionRequiredField, ConditionDataType, ConditionTableValue or
	// ConditionSegmentSequence.
	Condition string
	// Segment names the segment at fault, Occurrence counts it among segments of that name
	// (1-based), Field is the field (0 when the segment as a whole is at fault); Segment is
	// empty when no one segment is.
	Segment    string
	Occurrence int
	Field      int
	Detail     string
}

// Error says what is wrong, e.g. "hl7: invalid message: RXD-4 amount is empty".
func (e *ValidationError) Error() string { return "hl7: invalid message: " + e.Detail }

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func verr(cond, seg string, occ, field int, format string, args ...any) error {
	return &ValidationError{Condition: cond, Segment: seg, Occurrence: occ, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// missing: a required segment or field is absent (101).
func missing(seg string, occ, field int, format string, args ...any) error {
	return verr(ConditionRequiredField, seg, occ, field, format, args...)
}

// badValue: a field is not of its data type (a number, a time) (102).
func badValue(seg string, occ, field int, format string, args ...any) error {
	return verr(ConditionDataType, seg, occ, field, format, args...)
}

// badCode: a coded field holds a value its table does not have (103).
func badCode(seg string, occ, field int, format string, args ...any) error {
	return verr(ConditionTableValue, seg, occ, field, format, args...)
}

// badSequence: segments are missing, repeated, misplaced or disagree (100).
func badSequence(seg string, occ int, format string, args ...any) error {
	return verr(ConditionSegmentSequence, seg, occ, 0, format, args...)
}

// ConditionOf returns the HL7 table 0357 condition for an error of Parse or of a decoder:
// the ValidationError's own, 200 and 201 for an unsupported message type or event, 102 for a
// bad escape, and 100 for any other parse error.
func ConditionOf(err error) string {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		return ve.Condition
	case errors.Is(err, ErrUnsupported):
		return ConditionUnsupportedType
	case errors.Is(err, ErrUnsupportedEvent):
		return ConditionUnsupportedEvent
	case errors.Is(err, ErrBadEscape):
		return ConditionDataType
	default:
		return ConditionSegmentSequence
	}
}
