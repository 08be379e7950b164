package cabinet

import "fmt"

// Acknowledgment codes a ReportError asks the listener for (HL7 MSA-1, original mode).
const (
	// AckError (AE): the report is wrong and the sender must fix it; it must not be resent
	// as it is.
	AckError = "AE"
	// AckReject (AR): not now; the sender resends the same report later.
	AckReject = "AR"
)

// Error conditions (HL7 table 0357) a ReportError names in ERR-3.
const (
	ConditionSegmentSequence = "100" // segment sequence error
	ConditionRequiredField   = "101" // required field missing
	ConditionDataType        = "102" // data type error
	ConditionTableValue      = "103" // table value not found (an unknown code)
	ConditionUnknownKey      = "204" // unknown key identifier (an unknown order, cabinet)
	ConditionDuplicateKey    = "205" // duplicate key identifier
	ConditionRecordLocked    = "206" // application record locked
	ConditionInternal        = "207" // application internal error
)

// ReportError is an EventHandler's classified failure: it tells the listener what to answer
// and what to tell the sender. Text reaches the sender (MSA-3, ERR-8), so it must hold
// nothing internal; Err is the cause, for the logs and errors.Is.
type ReportError struct {
	// Ack is AckError or AckReject.
	Ack string
	// Condition is the HL7 table 0357 code for ERR-3. It is the sender's only key: 206 and
	// 207 ask it to resend the same report later (the listener answers them AR whatever
	// Ack says, and an empty Condition is 207), every other condition never to.
	Condition string
	// Text is what the sender is told.
	Text string
	// Err is the cause; it may be nil.
	Err error
}

// Rejected returns an AE: the report is wrong (an unknown medication or cabinet, a missing or
// invalid field, a conflict) and resending it will not help.
func Rejected(condition, text string, err error) *ReportError {
	return &ReportError{Ack: AckError, Condition: condition, Text: text, Err: err}
}

// NotNow returns an AR with condition 207: the report could not be applied now (the
// database is down, the process is shutting down) and should be resent later.
func NotNow(text string, err error) *ReportError {
	return &ReportError{Ack: AckReject, Condition: ConditionInternal, Text: text, Err: err}
}

// Error says what is answered and why.
func (e *ReportError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%s %s: %s", e.Ack, e.Condition, e.Text)
	}
	return fmt.Sprintf("%s %s: %s: %v", e.Ack, e.Condition, e.Text, e.Err)
}

// Unwrap returns the cause.
func (e *ReportError) Unwrap() error { return e.Err }
