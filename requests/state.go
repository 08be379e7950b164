package requests

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/workflows"
)

// State answers where request id stands from the Postgres projection, which the workflow
// writes in the same transaction as each step, so a read does not wake the workflow (a
// query waits for a worker and, for a workflow not in its cache, a replay of its history). A
// request whose first step is not recorded yet is still submitted: its start event says all
// there is to say, and Temporal answers that without a worker (under a burst the first
// workflow task of a new request may wait seconds for one). The workflow is asked only when
// the projection cannot answer: a request recorded before the projection kept transitions,
// or a database that does not answer. An unknown request is a NotFound Error.
func (s *Service) State(ctx context.Context, id string) (workflows.State, error) {
	d, err := s.store.GetRequestDetail(ctx, id)
	switch {
	case err == nil && d.Complete:
		return stateFromProjection(d), nil
	case errors.Is(err, pyxis.ErrNotFound):
		return s.startedState(ctx, id)
	case err != nil:
		slog.WarnContext(ctx, "projection not read; asking the workflow", "request", id, "error", err)
	}
	return s.queryState(ctx, id)
}

// startedState is a request's state from its workflow's start event: what Create answered
// when it was created. The projection is written by the workflow's first step, in the same
// transaction as anything else that step does, so a request with no row has done nothing yet
// (or its first step is being retried: still nothing done).
func (s *Service) startedState(ctx context.Context, id string) (workflows.State, error) {
	it := s.temporal.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var state workflows.State
	if !it.HasNext() {
		return state, notFound("request")
	}
	ev, err := it.Next()
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return state, notFound("request")
	}
	if err != nil {
		return state, fmt.Errorf("read start of %s: %w", id, err)
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil || attrs.GetWorkflowType().GetName() != workflows.MedicationRequestName {
		return state, notFound("request")
	}
	var in workflows.Input
	if err := s.dataConverter().FromPayloads(attrs.GetInput(), &in); err != nil {
		return state, fmt.Errorf("decode start of %s: %w", id, err)
	}
	return initialState(id, in), nil
}

// dataConverter decodes what the service's own Temporal client encoded: the same codec.
func (s *Service) dataConverter() converter.DataConverter {
	if s.codec == nil {
		return converter.GetDefaultDataConverter()
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), s.codec)
}

// queryState reads the live state from the workflow.
func (s *Service) queryState(ctx context.Context, id string) (workflows.State, error) {
	var state workflows.State
	resp, err := s.temporal.QueryWorkflow(ctx, id, "", workflows.StateQuery)
	if err == nil {
		err = resp.Get(&state)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return state, notFound("request")
	}
	if err != nil {
		return state, fmt.Errorf("query %s: %w", id, err)
	}
	return state, nil
}

// stateFromProjection rebuilds a request's State from its projection the way the workflow
// builds it from its transitions, so both answer a read alike.
func stateFromProjection(d db.RequestDetail) workflows.State {
	st := workflows.State{
		ID: d.ID, Priority: d.Priority, CabinetID: d.CabinetID, CabinetCode: d.CabinetCode, Patient: d.Patient,
		Requester:         pyxis.Actor{ID: d.Requester.ID, Name: d.Requester.Name, Role: pyxis.RoleNurse},
		Lines:             slices.Clone(d.Lines),
		Approvals:         []workflows.Approval{},
		Transitions:       make([]workflows.Transition, len(d.Transitions)),
		RequiredApprovals: d.RequiredApprovals,
		Version:           d.Version,
		CreatedAt:         d.CreatedAt,
		UpdatedAt:         d.CreatedAt,
		ApprovalDeadline:  d.ApprovalDeadline, WithdrawalDeadline: d.WithdrawalDeadline,
		CabinetDelivery: d.CabinetDelivery,
		Status:          workflows.StatusSubmitted,
	}
	for i, t := range d.Transitions {
		to := workflows.Status(t.Status)
		st.Transitions[i] = workflows.Transition{
			Seq: t.Seq, From: workflows.Status(t.From), To: to, Action: t.Action, Actor: t.Actor, At: t.At, Reason: t.Reason,
			ReasonCode: workflows.ReasonCode(t.ReasonCode),
		}
		switch t.Action {
		case "approved", "approval_recorded":
			st.Approvals = append(st.Approvals, workflows.Approval{Actor: t.Actor, At: t.At, Note: t.Note, Registration: t.Registration})
		case "approval_voided":
			// The note names the pharmacist whose approval no longer counts.
			st.Approvals = slices.DeleteFunc(st.Approvals, func(ap workflows.Approval) bool { return ap.Actor.ID == t.Note })
		case "escalated":
			st.Escalated = true
		case "submitted":
			st.Requester = t.Actor
		}
		for _, l := range t.Vended {
			st.Vended = addVended(st.Vended, l)
		}
		// As the workflow does: a reason sticks when it comes with a change of status.
		if to != st.Status && t.Reason != "" {
			st.Reason, st.ReasonCode = t.Reason, workflows.ReasonCode(t.ReasonCode)
		}
		st.Status, st.UpdatedAt = to, t.At
	}
	return st
}

// addVended adds l to lines as the workflow does: a medication already there is summed.
func addVended(lines []pyxis.Line, l pyxis.Line) []pyxis.Line {
	for i := range lines {
		if lines[i].MedicationID == l.MedicationID {
			lines[i].Quantity += l.Quantity
			return lines
		}
	}
	return append(lines, l)
}
