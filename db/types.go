package db

import (
	"net/netip"
	"time"

	"github.com/medreq/pyxis"
)

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
	// Route is a code of HL7 table 0162 or ""; Barcodes the package barcodes (GTIN, NDC).
	// The API checks both.
	Route    string
	Barcodes []string
	// By is who adds it, for the audit trail; zero means the system (seeding).
	By pyxis.Actor
}

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
	By pyxis.Actor
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

// RequestDetail is one request as the projection shows it: the row, its lines and every
// transition, enough to answer a read without asking the workflow. Complete is false for a
// request recorded before the projection kept transitions: its Transitions are missing some.
type RequestDetail struct {
	RequestSummary
	Seq int32
	// Version grows with every change of the request's row (migration 0016): what a client
	// waits on to change (RequestChanges).
	Version            int64
	ApprovalDeadline   *time.Time
	WithdrawalDeadline *time.Time
	Transitions        []pyxis.Transition
	Complete           bool
	// CabinetDelivery is the cabinet command the request waits for, while the cabinet has
	// not acknowledged it (nil: none).
	CabinetDelivery *pyxis.CabinetDelivery
}

// RequestSummary is a medication request as projected into Postgres: what it was created
// with, and where it stands. The projection keeps the requester's id and name, not the role;
// RequiredApprovals is read only with the detail (GetRequestDetail).
type RequestSummary struct {
	ID string
	pyxis.RequestHeader
	CabinetCode string
	Status      string
	Reason      string
	ReasonCode  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
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
