package db

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis/db/gen"
)

// checkTransitions refuses what the schema would refuse, before a transaction starts.
func checkTransitions(ts []Transition) error {
	for _, t := range ts {
		if !gen.RequestStatus(t.Status).Valid() {
			return invalidf("unknown request status %q", t.Status)
		}
		if t.From != "" && !gen.RequestStatus(t.From).Valid() {
			return invalidf("unknown request status %q", t.From)
		}
		if _, err := marshalDetails(t.Details); err != nil {
			return err
		}
	}
	return nil
}

// project applies t to the projection in the caller's transaction: it creates the request
// from its header, moves the row forward (never back) and keeps the transition itself. It
// reports whether the transition is recorded now for the first time.
func project(ctx context.Context, q *gen.Queries, t Transition) (bool, error) {
	status := gen.RequestStatus(t.Status)
	if t.Header != nil {
		if err := insertRequest(ctx, q, t, status); err != nil {
			return false, err
		}
	}
	n, err := q.AdvanceRequest(ctx, gen.AdvanceRequestParams{
		ID:                 t.RequestID,
		Status:             status,
		Reason:             t.Reason,
		ReasonCode:         t.ReasonCode,
		Seq:                t.Seq,
		At:                 t.At,
		ApprovalDeadline:   t.ApprovalDeadline,
		WithdrawalDeadline: t.WithdrawalDeadline,
	})
	if err != nil {
		return false, err
	}
	if n == 0 && t.Header == nil {
		exists, err := q.RequestExists(ctx, t.RequestID)
		if err != nil {
			return false, err
		}
		if !exists {
			return false, notFoundf("request %q", t.RequestID)
		}
	}
	var vended []byte
	if len(t.Vended) > 0 {
		var err error
		if vended, err = json.Marshal(linesJSON(t.Vended)); err != nil {
			return false, err
		}
	}
	inserted, err := q.InsertTransition(ctx, gen.InsertTransitionParams{
		Vended:     vended,
		ReportID:   t.ReportID,
		RequestID:  t.RequestID,
		Seq:        t.Seq,
		FromStatus: gen.NullRequestStatus{RequestStatus: gen.RequestStatus(t.From), Valid: t.From != ""},
		ToStatus:   status,
		Action:     t.action(),
		ActorID:    t.Actor.ID,
		ActorName:  t.Actor.Name,
		ActorRole:  t.Actor.Role,
		At:         t.At,
		Reason:     t.Reason,
		ReasonCode: t.ReasonCode,
		Note:       t.Note,
	})
	return inserted == 1, err
}

// auditTransition appends t's audit entry, keyed requestID/seq, in the caller's transaction.
func auditTransition(ctx context.Context, q *gen.Queries, t Transition) error {
	return appendAudit(ctx, q, auditRecord{
		at:        t.At,
		actor:     t.Actor,
		action:    t.action(),
		requestID: t.RequestID,
		idemKey:   t.RequestID + "/" + strconv.Itoa(int(t.Seq)),
		details:   t.Details,
	})
}

func (t Transition) action() string {
	if t.Action == "" {
		return t.Status
	}
	return t.Action
}

// insertRequest creates the projection row and lines of a request from its first transition.
func insertRequest(ctx context.Context, q *gen.Queries, t Transition, status gen.RequestStatus) error {
	h := t.Header
	priority := gen.RequestPriority(h.Priority)
	if !priority.Valid() {
		return invalidf("unknown request priority %q", h.Priority)
	}
	n, err := q.InsertRequest(ctx, gen.InsertRequestParams{
		ID:                t.RequestID,
		RequesterID:       h.RequesterID,
		RequesterName:     h.RequesterName,
		PatientMrn:        h.PatientMRN,
		PatientBed:        h.PatientBed,
		PatientFamily:     h.PatientFamily,
		PatientGiven:      h.PatientGiven,
		CabinetID:         h.CabinetID,
		Priority:          priority,
		Status:            status,
		Reason:            t.Reason,
		Seq:               t.Seq,
		At:                t.At,
		RequiredApprovals: max(h.RequiredApprovals, 1),
	})
	if err != nil || n == 0 || len(h.Lines) == 0 {
		return err
	}
	lines, err := mergeLines(h.Lines)
	if err != nil {
		return err
	}
	params := gen.InsertRequestLinesParams{
		RequestID:     t.RequestID,
		MedicationIds: make([]int64, len(lines)),
		Quantities:    make([]int32, len(lines)),
	}
	for i, l := range lines {
		params.MedicationIds[i] = l.MedicationID
		params.Quantities[i] = l.Quantity
	}
	return q.InsertRequestLines(ctx, params)
}

// AppendAudit appends an audit entry not tied to a transition: an escalation, a stock count,
// a catalogue change. A zero At means now, an empty RequestID is stored as NULL, and a
// non-empty idemKey makes a repeated call write the entry once; "" means no key. The entry's
// ID is ignored.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry, idemKey string) error {
	return wrap("append audit", s.inTx(ctx, func(q *gen.Queries) error {
		return appendAudit(ctx, q, auditRecord{
			at: e.At, actor: e.Actor, action: e.Action, requestID: e.RequestID, idemKey: idemKey, details: e.Details,
		})
	}))
}

// ListAudit returns the audit entries of a request in the order they were written.
func (s *Store) ListAudit(ctx context.Context, requestID string) ([]AuditEntry, error) {
	rows, err := s.q.ListAudit(ctx, pgtype.Text{String: requestID, Valid: true})
	if err != nil {
		return nil, wrap("list audit", err)
	}
	out, err := auditEntries(rows)
	return out, wrap("list audit", err)
}

// ListAuditByAction returns the latest 500 audit entries of one action, newest first.
func (s *Store) ListAuditByAction(ctx context.Context, action string) ([]AuditEntry, error) {
	rows, err := s.q.ListAuditByAction(ctx, gen.ListAuditByActionParams{Action: action, MaxRows: 500})
	if err != nil {
		return nil, wrap("list audit by action", err)
	}
	out, err := auditEntries(rows)
	return out, wrap("list audit by action", err)
}

func auditEntries(rows []gen.AuditLog) ([]AuditEntry, error) {
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		details := map[string]any{}
		if err := json.Unmarshal(r.Details, &details); err != nil {
			return nil, err
		}
		out[i] = AuditEntry{
			ID:        r.ID,
			At:        r.At,
			Actor:     Actor{ID: r.ActorID, Role: r.ActorRole},
			Action:    r.Action,
			RequestID: r.RequestID.String,
			Details:   details,
		}
	}
	return out, nil
}

// marshalDetails encodes audit details as a JSON object; nil becomes {}.
func marshalDetails(d map[string]any) ([]byte, error) {
	if d == nil {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, invalidf("audit details: %v", err)
	}
	return b, nil
}

// lineJSON is how a line is kept in a jsonb column.
type lineJSON struct {
	MedicationID int64 `json:"medication_id"`
	Quantity     int32 `json:"quantity"`
}

func linesJSON(lines []Line) []lineJSON {
	out := make([]lineJSON, len(lines))
	for i, l := range lines {
		out[i] = lineJSON(l)
	}
	return out
}

func linesFromJSON(raw []byte) ([]Line, error) {
	if raw == nil {
		return nil, nil
	}
	var in []lineJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, err
	}
	out := make([]Line, len(in))
	for i, l := range in {
		out[i] = Line(l)
	}
	return out, nil
}
