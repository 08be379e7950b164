package db

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// checkTransitions refuses what the schema would refuse, before a transaction starts.
func checkTransitions(ts []pyxis.Transition) error {
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
func project(ctx context.Context, q *gen.Queries, t pyxis.Transition) (bool, error) {
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
	if n > 0 {
		// The workflow moved on: no cabinet command it sent before waits any more.
		if err := q.CloseDelivery(ctx, t.RequestID); err != nil {
			return false, err
		}
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
		Vended:       vended,
		ReportID:     t.ReportID,
		RequestID:    t.RequestID,
		Seq:          t.Seq,
		FromStatus:   gen.NullRequestStatus{RequestStatus: gen.RequestStatus(t.From), Valid: t.From != ""},
		ToStatus:     status,
		Action:       action(t),
		ActorID:      t.Actor.ID,
		ActorName:    t.Actor.Name,
		ActorRole:    t.Actor.Role,
		At:           t.At,
		Reason:       t.Reason,
		ReasonCode:   t.ReasonCode,
		Note:         t.Note,
		Registration: t.Registration,
	})
	return inserted == 1, err
}

// auditTransition appends t's audit entry, keyed requestID/seq, in the caller's transaction.
func auditTransition(ctx context.Context, q *gen.Queries, t pyxis.Transition) error {
	return appendAudit(ctx, q, auditRecord{
		at:        t.At,
		actor:     t.Actor,
		action:    action(t),
		requestID: t.RequestID,
		idemKey:   t.RequestID + "/" + strconv.Itoa(int(t.Seq)),
		details:   t.Details,
	})
}

// action names a transition's audit entry: its Action, else its Status.
func action(t pyxis.Transition) string {
	if t.Action == "" {
		return t.Status
	}
	return t.Action
}

// insertRequest creates the projection row and lines of a request from its first transition.
func insertRequest(ctx context.Context, q *gen.Queries, t pyxis.Transition, status gen.RequestStatus) error {
	h := t.Header
	priority := gen.RequestPriority(h.Priority)
	if !priority.Valid() {
		return invalidf("unknown request priority %q", h.Priority)
	}
	n, err := q.InsertRequest(ctx, gen.InsertRequestParams{
		ID:                t.RequestID,
		RequesterID:       h.Requester.ID,
		RequesterName:     h.Requester.Name,
		PatientMrn:        h.Patient.MRN,
		PatientBed:        h.Patient.Bed,
		PatientFamily:     h.Patient.Family,
		PatientGiven:      h.Patient.Given,
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

func linesJSON(lines []pyxis.Line) []lineJSON {
	out := make([]lineJSON, len(lines))
	for i, l := range lines {
		out[i] = lineJSON(l)
	}
	return out
}

func linesFromJSON(raw []byte) ([]pyxis.Line, error) {
	if raw == nil {
		return nil, nil
	}
	var in []lineJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, err
	}
	out := make([]pyxis.Line, len(in))
	for i, l := range in {
		out[i] = pyxis.Line(l)
	}
	return out, nil
}
