package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/internal/textcheck"
)

// registerUpdates installs the update handlers. Validators only read state: a rejection leaves
// no trace in history. Handlers change state synchronously; the main coroutine notices the new
// status and does the I/O (audit, cabinet, stock), and a handler answers once what it changed
// is recorded (answer, recording.go).
func (r *request) registerUpdates(ctx workflow.Context) error {
	handlers := []struct {
		name string
		fn   any
		val  any
	}{
		{ApproveUpdate, r.approve, r.validateApprove},
		{RejectUpdate, r.reject, r.validateReject},
		{CancelUpdate, r.cancel, r.validateCancel},
		{WithdrawnUpdate, r.withdrawn, r.validateWithdrawn},
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.fn, workflow.UpdateHandlerOptions{Validator: h.val}); err != nil {
			return err
		}
	}
	return nil
}

func (r *request) validateApprove(_ workflow.Context, in ApproveInput) error {
	if err := r.requireStatus("approve", StatusAwaitingApproval); err != nil {
		return err
	}
	if err := checkText(in.Actor, "note", in.Note); err != nil {
		return err
	}
	for _, id := range in.Voided {
		if err := textcheck.Check(id, textcheck.Line); err != nil {
			return rejection(ErrInvalidInput, "voided approver "+err.Error())
		}
	}
	if in.Actor.Role != pyxis.RolePharmacist {
		return rejection(ErrForbidden, "only a pharmacist may approve")
	}
	if in.Actor.ID == r.in.Requester.ID {
		return rejection(ErrForbidden, "the requester may not approve their own request")
	}
	if err := checkText(in.Actor, "registration", in.Registration); err != nil {
		return err
	}
	// Two approvals are two people only if each names a professional registration: two
	// accounts without one could be one pharmacist, so neither counts towards a second
	// approval. Validators do not run on replay, so the rule needs no version marker.
	if r.state.RequiredApprovals >= 2 && in.Registration == "" {
		return rejection(ErrForbidden, "a request that needs two approvals is approved only by pharmacists with a professional registration in the users directory; this account has none")
	}
	for _, ap := range r.state.Approvals {
		if ap.Actor.ID == in.Actor.ID {
			return rejection(ErrDuplicateApproval, "this pharmacist has already approved; the second approval must come from a different pharmacist")
		}
		if in.Registration != "" && ap.Registration == in.Registration && !slices.Contains(in.Voided, ap.Actor.ID) {
			return rejection(ErrDuplicateApproval, "this professional registration has already approved; the second approval must come from a different pharmacist")
		}
	}
	return nil
}

// approve records an approval. A request that needs two stays awaiting approval after the
// first, with the approval audited; the last one moves it to approved. Approvals of the
// pharmacists in in.Voided are voided first, so they are not counted.
func (r *request) approve(ctx workflow.Context, in ApproveInput) (State, error) {
	r.voidApprovals(ctx, in.Voided)
	r.state.Approvals = append(r.state.Approvals, Approval{Actor: in.Actor, At: workflow.Now(ctx), Note: in.Note, Registration: in.Registration})
	if in.Note != "" {
		if r.notes == nil {
			r.notes = map[int32]string{}
		}
		r.notes[int32(len(r.state.Transitions)+1)] = in.Note
	}
	if in.Registration != "" {
		if r.registrations == nil {
			r.registrations = map[int32]string{}
		}
		r.registrations[int32(len(r.state.Transitions)+1)] = in.Registration
	}
	if int32(len(r.state.Approvals)) < r.state.RequiredApprovals {
		r.move(ctx, StatusAwaitingApproval, "approval_recorded", in.Actor,
			note(fmt.Sprintf("approval %d of %d", len(r.state.Approvals), r.state.RequiredApprovals)))
		return r.answer(ctx)
	}
	r.move(ctx, StatusApproved, "approved", in.Actor, noReason)
	return r.answer(ctx)
}

// voidApprovals removes the approvals of the given pharmacists, each with an audited
// approval_voided transition by the system whose note names the pharmacist. The update's
// input decides, so replaying it voids the same approvals.
func (r *request) voidApprovals(ctx workflow.Context, ids []string) {
	for _, id := range ids {
		i := slices.IndexFunc(r.state.Approvals, func(ap Approval) bool { return ap.Actor.ID == id })
		if i < 0 {
			continue
		}
		r.state.Approvals = slices.Delete(slices.Clone(r.state.Approvals), i, i+1)
		if r.notes == nil {
			r.notes = map[int32]string{}
		}
		r.notes[int32(len(r.state.Transitions)+1)] = id
		r.move(ctx, StatusAwaitingApproval, "approval_voided", pyxis.System,
			note("the approval of "+id+" no longer counts: the user is deactivated"))
	}
}

func (r *request) validateReject(_ workflow.Context, in RejectInput) error {
	if err := r.requireStatus("reject", StatusAwaitingApproval); err != nil {
		return err
	}
	if in.Actor.Role != pyxis.RolePharmacist {
		return rejection(ErrForbidden, "only a pharmacist may reject")
	}
	if strings.TrimSpace(in.Reason) == "" {
		return rejection(ErrInvalidInput, "a rejection needs a reason")
	}
	return checkText(in.Actor, "reason", in.Reason)
}

func (r *request) reject(ctx workflow.Context, in RejectInput) (State, error) {
	r.move(ctx, StatusRejected, "rejected", in.Actor, because(ReasonRejected, in.Reason))
	return r.answer(ctx)
}

func (r *request) validateCancel(_ workflow.Context, in CancelInput) error {
	allowed := []Status{StatusAwaitingApproval, StatusReadyAtCabinet}
	if r.delivering {
		// The order waits out a cabinet outage (since durableDelivery): it may be cancelled.
		allowed = append(allowed, StatusApproved)
	}
	if err := r.requireStatus("cancel", allowed...); err != nil {
		return err
	}
	if err := checkText(in.Actor, "reason", in.Reason); err != nil {
		return err
	}
	switch in.Actor.Role {
	case pyxis.RolePharmacist:
		return nil
	case pyxis.RoleNurse:
		if in.Actor.ID == r.in.Requester.ID {
			return nil
		}
		return rejection(ErrForbidden, "a nurse may cancel only their own requests")
	}
	return rejection(ErrForbidden, "only the requesting nurse or a pharmacist may cancel")
}

func (r *request) cancel(ctx workflow.Context, in CancelInput) (State, error) {
	reason := in.Reason
	if reason == "" {
		reason = "cancelled by " + in.Actor.Role
	}
	r.move(ctx, StatusCancelled, "cancelled", in.Actor, because(ReasonCancelled, reason))
	return r.answer(ctx)
}

func (r *request) validateWithdrawn(_ workflow.Context, in WithdrawnInput) error {
	if in.CabinetID != r.in.CabinetID {
		return rejection(ErrInvalidInput, "the request is not authorized at this cabinet")
	}
	if r.state.Status == StatusApproved {
		// The cabinet can report a vend before its acknowledgment of the order reaches the
		// workflow (or while the command is being retried): not refused, only early.
		return rejection(ErrNotYet, "the cabinet's authorization of this request is still being confirmed")
	}
	if err := r.requireStatus("report a withdrawal for", StatusReadyAtCabinet); err != nil {
		return err
	}
	if len(in.Lines) > 50 {
		return rejection(ErrInvalidInput, "a withdrawal report has at most 50 lines")
	}
	for _, l := range in.Lines {
		if l.MedicationID <= 0 || l.Quantity <= 0 || l.Quantity > MaxVendQuantity {
			return rejection(ErrInvalidInput, fmt.Sprintf("a withdrawn line needs a medication and a quantity from 1 to %d", MaxVendQuantity))
		}
	}
	if err := checkText(in.Actor, "report id", in.ReportID); err != nil {
		return err
	}
	return checkText(in.Actor, "source", in.Source)
}

// withdrawn takes a withdrawal report: its lines are what left the cabinet (vends.go). The
// request is dispensed once every ordered line was withdrawn, and waits for the rest until
// then.
func (r *request) withdrawn(ctx workflow.Context, in WithdrawnInput) (State, error) {
	r.takeVend(ctx, in)
	return r.answer(ctx)
}

func (r *request) requireStatus(action string, allowed ...Status) error {
	for _, s := range allowed {
		if r.state.Status == s {
			return nil
		}
	}
	return rejection(ErrInvalidState, "cannot "+action+" a request that is "+string(r.state.Status))
}

// checkText refuses an update whose actor or free text (named field) holds what textcheck
// refuses: it would reach history and the database.
func checkText(by pyxis.Actor, field, text string) error {
	for _, f := range []struct {
		name, value string
		mode        textcheck.Mode
	}{
		{"actor id", by.ID, textcheck.Line}, {"actor name", by.Name, textcheck.Line}, {field, text, textcheck.Multiline},
	} {
		if err := textcheck.Check(f.value, f.mode); err != nil {
			return rejection(ErrInvalidInput, f.name+" "+err.Error())
		}
	}
	return nil
}

func rejection(errType, msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, errType, nil)
}
