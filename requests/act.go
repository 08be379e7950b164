package requests

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.temporal.io/api/serviceerror"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/workflows"
)

// People act on a request through its workflow's updates: the validator decides whether the
// action is allowed now, so a refusal changes nothing, and the answer is the request's State
// after the action. A request that has ended allows nothing (InvalidState); one that never
// existed is NotFound.

// Approve records a pharmacist's approval, with an optional note. A pharmacist deactivated
// since approving no longer counts toward a second sign-off: the workflow voids their
// approval before it counts this one. A refused second approval by the same pharmacist is
// audited (approval_refused): the workflow leaves no trace of it, but the controlled-drug
// rules want every attempt on record. registration is the approver's professional
// registration in the users directory: a second approval under the same registration is one
// person's, and refused like a second approval of the same user.
func (s *Service) Approve(ctx context.Context, id string, by pyxis.Actor, registration, note string) (workflows.State, error) {
	voided, err := s.store.InactiveApprovers(ctx, id)
	if err != nil {
		return workflows.State{}, err
	}
	st, err := s.update(ctx, id, workflows.ApproveUpdate, workflows.ApproveInput{Actor: by, Note: note, Registration: registration, Voided: voided})
	if re := (*Error)(nil); errors.As(err, &re) && re.Kind == DuplicateApproval {
		aerr := s.store.AppendAudit(ctx, pyxis.AuditEntry{
			Actor: pyxis.Actor{ID: by.ID, Role: by.Role}, Action: "approval_refused", RequestID: id,
			Details: map[string]any{"reason": re.Message},
		}, "")
		if aerr != nil {
			slog.ErrorContext(ctx, "audit refused approval", "error", aerr)
		}
	}
	return st, err
}

// Reject records a pharmacist's rejection; the reason is required.
func (s *Service) Reject(ctx context.Context, id string, by pyxis.Actor, reason string) (workflows.State, error) {
	return s.update(ctx, id, workflows.RejectUpdate, workflows.RejectInput{Actor: by, Reason: reason})
}

// Cancel records a cancellation by the requesting nurse or a pharmacist.
func (s *Service) Cancel(ctx context.Context, id string, by pyxis.Actor, reason string) (workflows.State, error) {
	return s.update(ctx, id, workflows.CancelUpdate, workflows.CancelInput{Actor: by, Reason: reason})
}

// update sends a Workflow Update and waits for its result, at most Config.UpdateTimeout.
func (s *Service) update(ctx context.Context, id, name string, arg any) (workflows.State, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.UpdateTimeout)
	defer cancel()
	var state workflows.State
	err := workflows.Update(ctx, s.temporal, id, "", name, arg, &state)
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return state, nil
	case errors.As(err, &nf):
		return state, s.closedOrMissing(ctx, id)
	case ctx.Err() != nil:
		return state, fmt.Errorf("%s %s: %w", name, id, ErrWorkflowTimeout)
	}
	return state, Refusal(err)
}

// closedOrMissing tells a finished request (InvalidState: nothing can be done to it any more)
// from one that never existed (NotFound).
func (s *Service) closedOrMissing(ctx context.Context, id string) error {
	desc, err := s.temporal.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return notFound("request")
	}
	if err != nil {
		return fmt.Errorf("describe %s: %w", id, err)
	}
	status := desc.GetWorkflowExecutionInfo().GetStatus().String()
	return refuse(InvalidState, "the request is finished ("+status+"); nothing can change it")
}
