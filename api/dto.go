package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/internal/textcheck"
	"github.com/medreq/pyxis/workflows"
)

// CreateRequestBody is the body of POST /v1/requests.
type CreateRequestBody struct {
	CabinetID int64       `json:"cabinet_id"`
	Patient   PatientBody `json:"patient"`
	Priority  string      `json:"priority"`
	Items     []ItemBody  `json:"items"`
}

// PatientBody identifies the patient by medical record number and bed, and optionally by name
// (the cabinet shows it, HL7 PID-5).
type PatientBody struct {
	MRN  string      `json:"mrn"`
	Bed  string      `json:"bed"`
	Name *PersonName `json:"name,omitempty"`
}

// patient is the workflow's form of the body's patient.
func (p PatientBody) patient() pyxis.Patient {
	out := pyxis.Patient{MRN: p.MRN, Bed: p.Bed}
	if p.Name != nil {
		out.Family, out.Given = p.Name.Family, p.Name.Given
	}
	return out
}

func patientView(p pyxis.Patient) PatientBody {
	out := PatientBody{MRN: p.MRN, Bed: p.Bed}
	if p.Family != "" || p.Given != "" {
		out.Name = &PersonName{Family: p.Family, Given: p.Given}
	}
	return out
}

// PersonName is a person's family and given names.
type PersonName struct {
	Family string `json:"family"`
	Given  string `json:"given"`
}

// ItemBody is one requested medication.
type ItemBody struct {
	MedicationID int64 `json:"medication_id"`
	Quantity     int32 `json:"quantity"`
}

// validate checks the body and the request's Idempotency-Key header (empty when none).
func (b CreateRequestBody) validate(idempotencyKey string) error {
	var fe fields
	if b.CabinetID <= 0 {
		fe.add("cabinet_id", "is required")
	}
	fe.checkString("patient.mrn", b.Patient.MRN, true, 64)
	fe.checkString("patient.bed", b.Patient.Bed, false, 32)
	if n := b.Patient.Name; n != nil {
		fe.checkString("patient.name.family", n.Family, true, 100)
		fe.checkString("patient.name.given", n.Given, false, 100)
	}
	if fe.checkText("priority", b.Priority, textcheck.Line) && !pyxis.Priority(b.Priority).Valid() {
		fe.add("priority", "must be one of stat, urgent, routine")
	}
	switch {
	case len(b.Items) == 0:
		fe.add("items", "at least one item is required")
	case len(b.Items) > MaxLines:
		fe.add("items", "at most %d items per request", MaxLines)
	}
	seen := make(map[int64]bool, len(b.Items))
	for i, it := range b.Items {
		f := fmt.Sprintf("items[%d]", i)
		if it.MedicationID <= 0 {
			fe.add(f+".medication_id", "is required")
		} else if seen[it.MedicationID] {
			fe.add(f+".medication_id", "medication %d appears twice; put the total on one line", it.MedicationID)
		}
		seen[it.MedicationID] = true
		if it.Quantity <= 0 || it.Quantity > MaxQuantity {
			fe.add(f+".quantity", "must be between 1 and %d", MaxQuantity)
		}
	}
	fe.checkString("Idempotency-Key", idempotencyKey, false, maxIdemKeyLen)
	return fe.err()
}

func (b CreateRequestBody) lines() []pyxis.Line {
	out := make([]pyxis.Line, len(b.Items))
	for i, it := range b.Items {
		out[i] = pyxis.Line(it)
	}
	return out
}

// NoteBody is the optional body of an approval.
type NoteBody struct {
	Note string `json:"note"`
}

// ReasonBody is the body of a rejection (reason required) or cancellation (optional).
type ReasonBody struct {
	Reason string `json:"reason"`
}

// CabinetEventBody is a withdrawal report: the request, and optionally what was dispensed
// per medication (none: the order as it stands).
type CabinetEventBody struct {
	Type      string     `json:"type"`
	RequestID string     `json:"request_id"`
	Lines     []ItemBody `json:"lines,omitempty"`
}

// ListView wraps a page of results.
type ListView[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// writeList answers 200 with a page of rows, each converted to its view.
func writeList[T, V any](c *gin.Context, rows []T, view func(T) V, nextCursor string) {
	out := make([]V, len(rows))
	for i, r := range rows {
		out[i] = view(r)
	}
	c.JSON(http.StatusOK, ListView[V]{Data: out, NextCursor: nextCursor})
}

// RequestView is a request's live state, as the workflow reports it.
type RequestView struct {
	ID          string                 `json:"id"`
	Status      workflows.Status       `json:"status"`
	Priority    pyxis.Priority         `json:"priority"`
	CabinetID   int64                  `json:"cabinet_id"`
	CabinetCode string                 `json:"cabinet_code"`
	Patient     PatientBody            `json:"patient"`
	Requester   pyxis.Actor            `json:"requester"`
	Items       []ItemBody             `json:"items"`
	Approvals   []workflows.Approval   `json:"approvals"`
	Transitions []workflows.Transition `json:"transitions"`
	Reason      string                 `json:"reason,omitempty"`
	ReasonCode  workflows.ReasonCode   `json:"reason_code,omitempty"`
	// Vended is what withdrawal reports dispensed so far, per medication.
	Vended             []ItemBody `json:"vended,omitempty"`
	RequiredApprovals  int32      `json:"required_approvals"`
	Escalated          bool       `json:"escalated"`
	CreatedAt          *time.Time `json:"created_at,omitempty"`
	UpdatedAt          *time.Time `json:"updated_at,omitempty"`
	ApprovalDeadline   *time.Time `json:"approval_deadline,omitempty"`
	WithdrawalDeadline *time.Time `json:"withdrawal_deadline,omitempty"`
	// Version grows with every change of the view: what ?wait=&version= waits on.
	Version int64 `json:"version"`
	// CabinetDelivery is the cabinet command the request waits for (issue 16), while the
	// cabinet has not acknowledged it.
	CabinetDelivery *pyxis.CabinetDelivery `json:"cabinet_delivery,omitempty"`
}

func requestView(s workflows.State) RequestView {
	items := make([]ItemBody, len(s.Lines))
	for i, l := range s.Lines {
		items[i] = ItemBody(l)
	}
	var vended []ItemBody
	for _, l := range s.Vended {
		vended = append(vended, ItemBody(l))
	}
	return RequestView{
		Vended: vended,
		ID:     s.ID, Status: s.Status, Priority: s.Priority, CabinetID: s.CabinetID, CabinetCode: s.CabinetCode,
		Patient: patientView(s.Patient), Requester: s.Requester, Items: items,
		Approvals: s.Approvals, Transitions: s.Transitions, Reason: s.Reason, ReasonCode: s.ReasonCode,
		RequiredApprovals: s.RequiredApprovals, Escalated: s.Escalated,
		CreatedAt: timePtr(s.CreatedAt), UpdatedAt: timePtr(s.UpdatedAt),
		ApprovalDeadline: s.ApprovalDeadline, WithdrawalDeadline: s.WithdrawalDeadline,
		Version:         s.Version,
		CabinetDelivery: s.CabinetDelivery,
	}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// RequestSummaryView is a request as the projection lists it.
type RequestSummaryView struct {
	ID          string      `json:"id"`
	Status      string      `json:"status"`
	Priority    string      `json:"priority"`
	CabinetID   int64       `json:"cabinet_id"`
	CabinetCode string      `json:"cabinet_code"`
	Patient     PatientBody `json:"patient"`
	RequesterID string      `json:"requester_id"`
	Requester   string      `json:"requester_name"`
	Items       []ItemBody  `json:"items"`
	Reason      string      `json:"reason,omitempty"`
	ReasonCode  string      `json:"reason_code,omitempty"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

func summaryView(r db.RequestSummary) RequestSummaryView {
	items := make([]ItemBody, len(r.Lines))
	for i, l := range r.Lines {
		items[i] = ItemBody(l)
	}
	return RequestSummaryView{
		ID: r.ID, Status: r.Status, Priority: string(r.Priority), CabinetID: r.CabinetID, CabinetCode: r.CabinetCode,
		Patient: patientView(r.Patient), RequesterID: r.Requester.ID, Requester: r.Requester.Name, Items: items,
		Reason: r.Reason, ReasonCode: r.ReasonCode, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// AuditView is one audit entry.
type AuditView struct {
	ID        int64          `json:"id"`
	At        time.Time      `json:"at"`
	Actor     pyxis.Actor    `json:"actor"`
	Action    string         `json:"action"`
	RequestID string         `json:"request_id,omitempty"`
	Details   map[string]any `json:"details"`
}

func auditView(e pyxis.AuditEntry) AuditView {
	return AuditView{
		ID: e.ID, At: e.At, Actor: e.Actor,
		Action: e.Action, RequestID: e.RequestID, Details: e.Details,
	}
}
