package cabinet

// Causes of a Flag: why a report the listener accepted needs a person's review before what
// it says is applied. The application adds its own causes beside these (an unknown
// medication, a patient or units that differ from the order's).
const (
	// CauseFractional: an amount or a count is not a whole number (RXD-4 "0.5", half an
	// ampoule). Flag.Value holds it exactly, as a decimal; the event's number is absent.
	CauseFractional = "fractional_amount"
	// CauseCharacterSet: the text is not in the character set MSH-18 declares (or, with
	// MSH-18 empty or UTF-8, not UTF-8), or in one this system cannot transcode; it was read
	// as ISO 8859-1, which decodes any byte, and names or free text may read wrong.
	CauseCharacterSet = "character_set"
)

// Flag is one odd thing in a report that the listener accepted anyway: a vend, a waste or a
// count happened in the room, and refusing the report would keep it out of the ledger and
// the controlled-drug register.
type Flag struct {
	// Cause is CauseFractional or CauseCharacterSet.
	Cause string `json:"cause"`
	// Field names the field as HL7 documents do ("RXD-4", "ZPM-10", "MSH-18").
	Field string `json:"field"`
	// Line is the 1-based line of Event.Lines the flag is about, 0 when it is about the
	// report as a whole.
	Line int `json:"line,omitempty"`
	// Value is the value at fault, normalised ("0.5" for "00.50"), or what MSH-18 declared.
	Value string `json:"value,omitempty"`
	// Text says what was found, for the person who reviews it.
	Text string `json:"text"`
}

// Flagged reports whether the event carries a flag of this cause.
func (e Event) Flagged(cause string) bool {
	for _, f := range e.Flags {
		if f.Cause == cause {
			return true
		}
	}
	return false
}
