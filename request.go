package pyxis

import "regexp"

// requestIDPattern is the form of a medication request id: "medreq-" and a ULID, which
// carries no patient data and sorts by creation time.
var requestIDPattern = regexp.MustCompile(`^medreq-[0-9A-HJKMNP-TV-Z]{26}$`)

// ValidRequestID reports whether id has the form of a medication request id: anything else
// names no request.
func ValidRequestID(id string) bool { return requestIDPattern.MatchString(id) }

// Line is one medication of a request and how many units of it: what was ordered, reserved,
// released or withdrawn.
type Line struct {
	MedicationID int64 `json:"medication_id"`
	Quantity     int32 `json:"quantity"`
}

// Patient identifies whom the medication is for. It stays out of workflow ids, search
// attributes and memos: the visibility store is not encrypted.
type Patient struct {
	MRN string `json:"mrn"`
	Bed string `json:"bed"`
	// Family and Given are the patient's names, when the request gives them.
	Family string `json:"family,omitempty"`
	Given  string `json:"given,omitempty"`
}

// Priority decides how long a request may wait for a pharmacist.
type Priority string

// The three clinical priorities.
const (
	PriorityStat    Priority = "stat"
	PriorityUrgent  Priority = "urgent"
	PriorityRoutine Priority = "routine"
)

// Valid reports whether p is a known priority.
func (p Priority) Valid() bool {
	return p == PriorityStat || p == PriorityUrgent || p == PriorityRoutine
}

// RequestHeader is what a medication request is created with: who asks, for whom, at which
// cabinet, how urgently, what, and how many pharmacists must approve. The workflow starts
// with it (workflows.Input embeds it, so its JSON names are the histories'), its first
// transition carries it to the projection, and the projection answers it back.
type RequestHeader struct {
	Requester Actor    `json:"requester"`
	Patient   Patient  `json:"patient"`
	CabinetID int64    `json:"cabinet_id"`
	Priority  Priority `json:"priority"`
	Lines     []Line   `json:"lines"`
	// RequiredApprovals is how many different pharmacists must approve: 2 when the request
	// holds a medication of a list that needs dual approval, else 1 (0 means 1).
	RequiredApprovals int32 `json:"required_approvals,omitempty"`
}
