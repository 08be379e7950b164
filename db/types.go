package db

import (
	"net/netip"
	"time"
)

// Medication is an entry of the medication catalogue.
type Medication struct {
	ID       int64
	Code     string
	Name     string
	Strength string
	Form     string
	Unit     string
	// ControlledList is the medication's list of Portaria SVS/MS 344/98 (A1 ... C5), or ""
	// for a medication that is not controlled.
	ControlledList string
	CreatedAt      time.Time
	// UpdatedAt is when the entry last changed: cabinets' item masters are told it.
	UpdatedAt time.Time
}

// Controlled reports whether the medication is on any controlled list.
func (m Medication) Controlled() bool { return m.ControlledList != "" }

// ControlledLists are the lists of Portaria SVS/MS 344/98 a medication may be on.
var ControlledLists = []string{"A1", "A2", "A3", "B1", "B2", "C1", "C2", "C3", "C5"}

// NewMedication holds the fields of a medication to be added to the catalogue.
type NewMedication struct {
	Code           string
	Name           string
	Strength       string
	Form           string
	Unit           string
	ControlledList string
	// By is who adds it, for the audit trail; zero means the system (seeding).
	By Actor
}

// Cabinet is an automated dispensing cabinet on a hospital unit.
type Cabinet struct {
	ID     int64
	Code   string
	Name   string
	Unit   string
	Status string
	// Driver is "sim" (the in-process simulator) or "hl7" (HL7 v2 over MLLP to Address).
	Driver  string
	Address string
	// ReportSources are the networks the cabinet's reports are believed from; empty: nobody.
	ReportSources []netip.Prefix
	CreatedAt     time.Time
}

// Cabinet drivers.
const (
	DriverSim = "sim"
	DriverHL7 = "hl7"
)

// NewCabinet holds the fields of a cabinet to be registered. An empty Status means online;
// Driver has no default.
type NewCabinet struct {
	Code    string
	Name    string
	Unit    string
	Status  string
	Driver  string
	Address string
	// ReportSources: see Cabinet.
	ReportSources []netip.Prefix
	// By is who registers it, for the audit trail; zero means the system (seeding).
	By Actor
}

// StockRow is the stock of one medication in one cabinet.
type StockRow struct {
	CabinetID      int64
	MedicationID   int64
	MedicationCode string
	MedicationName string
	OnHand         int32
	Reserved       int32
	ParLevel       int32
	UpdatedAt      time.Time
	// New is set by SetStock when the pocket did not exist before: a cabinet with an item
	// master must then learn the medication.
	New bool
}

// Line is one medication and quantity of a request, or of what was reserved or released for it.
type Line struct {
	MedicationID int64
	Quantity     int32
}

// ConsumedLine is a line taken out of a cabinet, with the stock left after it.
type ConsumedLine struct {
	MedicationID int64
	Quantity     int32
	OnHand       int32
	ParLevel     int32
}

// User is an entry of the users directory: a person who uses the system (a nurse, a
// pharmacist, a technician or an admin) or a cabinet interface that reports through the API.
// ID is the subject of the user's tokens.
type User struct {
	ID   string
	Name string
	Role string
	// Registration is the professional registration: COREN for nurses, CRF for pharmacists.
	Registration string
	// Unit is the hospital unit the user works on, as cabinets name it; "" for none.
	Unit string
	// Active is false for a deactivated user, whose tokens are refused.
	Active    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// UserPatch holds the fields of a user to change; a nil field is left as it is.
type UserPatch struct {
	Name         *string
	Role         *string
	Registration *string
	Unit         *string
	Active       *bool
}

// Actor is who performed an action: a user, or the system itself.
type Actor struct {
	ID   string
	Role string
	// Name is shown with a request's transitions; the audit trail records ID and Role.
	Name string
}

// RequestHeader is what a medication request was created with. It comes with the first
// transition of a request so the projection row can be created.
type RequestHeader struct {
	RequesterID   string
	RequesterName string
	PatientMRN    string
	PatientBed    string
	PatientFamily string
	PatientGiven  string
	CabinetID     int64
	Priority      string
	Lines         []Line
	// RequiredApprovals is 2 for a request that needs two pharmacists, else 1 (0 means 1).
	RequiredApprovals int32
}

// Transition is one step of a request's lifecycle, as recorded by the workflow. Seq numbers
// the transitions of a request from 1, so a retried or late write never moves it backwards.
type Transition struct {
	RequestID string
	Seq       int32
	// From is the status before the transition ("" for the first); Status the one after.
	From   string
	Status string
	Reason string
	// ReasonCode says why, from the workflows' reason table; "" for none.
	ReasonCode string
	At         time.Time
	Actor      Actor
	// Action names the audit entry; empty means the Status.
	Action string
	// Note is a pharmacist's note on an approval.
	Note string
	// Vended is what the withdrawal report this transition records dispensed, ReportID which
	// report it was.
	Vended   []Line
	ReportID string
	Details  map[string]any
	// Header is set on the transition that creates the request.
	Header *RequestHeader
	// ApprovalDeadline and WithdrawalDeadline, when set, are the deadlines the request has
	// from this transition on.
	ApprovalDeadline, WithdrawalDeadline *time.Time
}

// RequestDetail is one request as the projection shows it: the row, its lines and every
// transition, enough to answer a read without asking the workflow. Complete is false for a
// request recorded before the projection kept transitions: its Transitions are missing some.
type RequestDetail struct {
	RequestSummary
	Seq                int32
	RequiredApprovals  int32
	ApprovalDeadline   *time.Time
	WithdrawalDeadline *time.Time
	Transitions        []Transition
	Complete           bool
}

// RequestSummary is a medication request as projected into Postgres.
type RequestSummary struct {
	ID            string
	RequesterID   string
	RequesterName string
	PatientMRN    string
	PatientBed    string
	PatientFamily string
	PatientGiven  string
	CabinetID     int64
	CabinetCode   string
	Priority      string
	Status        string
	Reason        string
	ReasonCode    string
	Lines         []Line
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// RequestFilter selects and pages requests. Zero values mean no filter; Limit 0 means 50 and
// is capped at 200; Cursor is the next cursor returned by the previous page.
type RequestFilter struct {
	Status      string
	CabinetID   int64
	RequesterID string
	// VisibleTo, when set, keeps only what that viewer may see (need to know).
	VisibleTo *Viewer
	Limit     int
	Cursor    string
}

// Viewer is someone who may read only some requests: those they made (requester ID) and those
// of the cabinets of their Unit. An empty Unit is no unit: only their own requests.
type Viewer struct {
	ID   string
	Unit string
}

// AuditEntry is one row of the append-only audit log.
type AuditEntry struct {
	ID        int64
	At        time.Time
	Actor     Actor
	Action    string
	RequestID string
	Details   map[string]any
}
