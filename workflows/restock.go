package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/activities"
)

// refillRoles may confirm a refill.
var refillRoles = []string{pyxis.RoleTechnician, pyxis.RoleAdmin, pyxis.RoleCabinet}

// Restock brings one cabinet pocket back to its par level. It opens a refill task for the
// technicians (unless the pocket is at par again by then), waits for the refill to be
// confirmed through ConfirmRefillUpdate (by a technician through the API, or by the cabinet's
// load report), adds the quantity loaded to on_hand, closes the task and audits each step. The
// workflow id is RestockWorkflowID(cabinet, medication), so a pocket has one restock at a time.
//
// A refill that does not come is not given up on: the task stays open, and every
// EscalateEvery (default 8h) the wait is audited as refill_overdue, so the delay is visible.
// A wait long enough for the server to suggest it continues as new, carrying the open task
// (RestockInput.Continued), so its history stays bounded. Cancelling the run in Temporal
// cancels the open task, or, once a refill was confirmed, still applies it.
func Restock(ctx workflow.Context, in RestockInput) (*RestockState, error) {
	r := &restock{in: in}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	st, err := r.run(ctx)
	if temporal.IsCanceledError(err) {
		return nil, r.compensateCancellation(ctx, err)
	}
	return st, err
}

// restock is one Restock execution's state and behaviour.
type restock struct {
	in      RestockInput
	state   RestockState
	confirm ConfirmRefillInput
	logger  log.Logger
	// nextEscalation is when the wait for the refill is next audited as overdue.
	nextEscalation time.Time
}

func (r *restock) setup(ctx workflow.Context) error {
	if err := validateRestockInput(r.in); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidInput, err)
	}
	if r.in.EscalateEvery == 0 {
		r.in.EscalateEvery = DefaultRestockEscalation
	}
	now := workflow.Now(ctx)
	r.state = RestockState{
		ID:           workflow.GetInfo(ctx).WorkflowExecution.ID,
		Status:       RestockOpening,
		CabinetID:    r.in.CabinetID,
		MedicationID: r.in.MedicationID,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if w := r.in.Continued; w != nil {
		r.state.Status, r.state.TaskID, r.state.RequestedQuantity = RestockAwaitingRefill, w.TaskID, w.RequestedQuantity
		r.state.CreatedAt, r.state.UpdatedAt, r.state.Escalations = w.CreatedAt, w.UpdatedAt, w.Escalations
		r.nextEscalation = w.NextEscalation
	}
	r.logger = log.With(workflow.GetLogger(ctx), "RestockID", r.state.ID)
	if err := workflow.SetQueryHandler(ctx, StateQuery, func() (RestockState, error) {
		return r.state, nil
	}); err != nil {
		return fmt.Errorf("register %s query: %w", StateQuery, err)
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, ConfirmRefillUpdate, r.confirmRefill,
		workflow.UpdateHandlerOptions{Validator: r.validateConfirmRefill})
}

func validateRestockInput(in RestockInput) error {
	if in.CabinetID <= 0 || in.MedicationID <= 0 || in.EscalateEvery < 0 {
		return errors.New("a restock needs a cabinet, a medication and a non-negative escalation interval")
	}
	if w := in.Continued; w != nil && (w.TaskID <= 0 || w.RequestedQuantity < 0 || w.Escalations < 0) {
		return errors.New("a continued restock needs its open task")
	}
	return nil
}

func (r *restock) run(ctx workflow.Context) (*RestockState, error) {
	if r.in.Continued == nil {
		needed, err := r.open(ctx)
		if err != nil {
			return nil, err
		}
		if !needed {
			r.setStatus(ctx, RestockNotNeeded)
			return r.finish(ctx)
		}
	}
	// A confirmation naming the task may have come while it was being opened.
	if r.state.Status == RestockAwaitingRefill {
		if err := r.awaitRefill(ctx); err != nil {
			return nil, err
		}
	}
	if err := r.complete(ctx); err != nil {
		return nil, err
	}
	return r.finish(ctx)
}

// open opens the refill task of the pocket. It reports whether one was needed: a pocket at
// par again needs none.
func (r *restock) open(ctx workflow.Context) (bool, error) {
	var opened pyxis.OpenedRefill
	err := workflow.ExecuteActivity(dbCtx(ctx), a.OpenRefillTask, activities.OpenRefillInput{
		CabinetID: r.in.CabinetID, MedicationID: r.in.MedicationID, WorkflowID: r.state.ID,
		Actor: pyxis.System,
	}).Get(ctx, &opened)
	if err != nil || opened.NotNeeded {
		return false, err
	}
	r.state.TaskID, r.state.RequestedQuantity = opened.TaskID, opened.RequestedQty
	if r.state.Status == RestockOpening {
		r.setStatus(ctx, RestockAwaitingRefill)
	}
	r.nextEscalation = workflow.Now(ctx).Add(r.in.EscalateEvery)
	return true, nil
}

// awaitRefill waits for the refill to be confirmed, auditing the wait as overdue at every
// escalation. When the server suggests it, the wait goes on in a new run (continueAsNew).
func (r *restock) awaitRefill(ctx workflow.Context) error {
	awaiting := func() bool { return r.state.Status == RestockAwaitingRefill }
	for awaiting() {
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if err := r.continueAsNew(ctx); err != nil {
				return err
			}
			continue
		}
		if wait := r.nextEscalation.Sub(workflow.Now(ctx)); wait > 0 {
			if _, err := workflow.AwaitWithTimeout(ctx, wait, func() bool { return !awaiting() }); err != nil {
				return err
			}
		}
		// The status decides, not the timer: a confirmation handled as the timer fired wins.
		if awaiting() && !workflow.Now(ctx).Before(r.nextEscalation) {
			if err := r.escalate(ctx); err != nil {
				return err
			}
			r.nextEscalation = r.nextEscalation.Add(r.in.EscalateEvery)
		}
	}
	return nil
}

// continueAsNew ends the run with the wait carried into a new one, so the history of a refill
// that takes weeks stays bounded. Update handlers finish first; a confirmation that came
// meanwhile ends the wait here instead (it returns nil then).
func (r *restock) continueAsNew(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	if r.state.Status != RestockAwaitingRefill {
		return nil
	}
	in := r.in
	in.Continued = &RestockWait{
		TaskID: r.state.TaskID, RequestedQuantity: r.state.RequestedQuantity,
		CreatedAt: r.state.CreatedAt, UpdatedAt: r.state.UpdatedAt,
		Escalations: r.state.Escalations, NextEscalation: r.nextEscalation,
	}
	r.logger.Info("Restock continues as new", "TaskID", r.state.TaskID, "Escalations", r.state.Escalations)
	return workflow.NewContinueAsNewError(ctx, RestockName, in)
}

// escalate audits that the refill is overdue; the task stays open.
func (r *restock) escalate(ctx workflow.Context) error {
	r.state.Escalations++
	waited := workflow.Now(ctx).Sub(r.state.CreatedAt).Round(time.Minute)
	r.logger.Warn("Refill overdue", "TaskID", r.state.TaskID, "Waited", waited)
	info := workflow.GetInfo(ctx)
	return workflow.ExecuteActivity(dbCtx(ctx), a.AuditRefill, activities.RefillAuditInput{
		Action: "refill_overdue",
		Actor:  pyxis.System,
		At:     workflow.Now(ctx),
		Details: map[string]any{
			"refill_task_id": r.state.TaskID, "cabinet_id": r.in.CabinetID, "medication_id": r.in.MedicationID,
			"requested": r.state.RequestedQuantity, "waited": waited.String(), "escalation": r.state.Escalations,
		},
		IdemKey: fmt.Sprintf("%s/%s/overdue/%d", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, r.state.Escalations),
	}).Get(ctx, nil)
}

// complete applies the confirmed refill to the stock and closes the task.
func (r *restock) complete(ctx workflow.Context) error {
	var done pyxis.CompletedRefill
	err := workflow.ExecuteActivity(dbCtx(ctx), a.CompleteRefill, pyxis.RefillCompletion{
		TaskID:           r.state.TaskID,
		Quantity:         r.confirm.Quantity,
		Actor:            pyxis.Actor{ID: r.confirm.Actor.ID, Role: r.confirm.Actor.Role},
		Source:           r.confirm.Source,
		CabinetMessageID: r.confirm.MessageControlID,
		At:               *r.state.ConfirmedAt,
	}).Get(ctx, &done)
	if err != nil {
		return err
	}
	r.state.OnHandAfter = done.OnHandAfter
	r.setStatus(ctx, RestockDone)
	return nil
}

// compensateCancellation settles a run cancelled in Temporal: a confirmed refill is still
// applied (the medication is in the pocket), an unconfirmed task is cancelled.
func (r *restock) compensateCancellation(ctx workflow.Context, cause error) error {
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	switch r.state.Status {
	case RestockRefilling:
		if err := r.complete(ctx); err != nil {
			return errors.Join(cause, err)
		}
	case RestockAwaitingRefill:
		err := workflow.ExecuteActivity(dbCtx(ctx), a.CancelRefill, activities.CancelRefillInput{
			TaskID: r.state.TaskID, Actor: pyxis.System,
			Reason: "the restock workflow was cancelled in Temporal",
		}).Get(ctx, nil)
		if err != nil {
			return errors.Join(cause, err)
		}
		r.setStatus(ctx, RestockCancelled)
	}
	return cause
}

func (r *restock) finish(ctx workflow.Context) (*RestockState, error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return nil, err
	}
	r.logger.Info("Restock finished", "Status", r.state.Status, "TaskID", r.state.TaskID)
	return &r.state, nil
}

func (r *restock) setStatus(ctx workflow.Context, s RestockStatus) {
	r.state.Status = s
	r.state.UpdatedAt = workflow.Now(ctx)
}

// validateConfirmRefill only reads state: a rejection leaves no trace in history.
func (r *restock) validateConfirmRefill(_ workflow.Context, in ConfirmRefillInput) error {
	switch {
	case r.state.Status == RestockAwaitingRefill:
	case r.state.Status == RestockOpening && in.TaskID != 0:
		// The task is committed (the caller read its id) but its opening has not reported
		// back yet: the confirmation is for the task being opened.
	default:
		return rejection(ErrInvalidState, fmt.Sprintf("the restock of this pocket is %s, not awaiting a refill", r.state.Status))
	}
	if in.TaskID != 0 && r.state.TaskID != 0 && in.TaskID != r.state.TaskID {
		return rejection(ErrInvalidState, fmt.Sprintf("refill task %d is not the open task of this pocket", in.TaskID))
	}
	if !slices.Contains(refillRoles, in.Actor.Role) || in.Actor.ID == "" {
		return rejection(ErrForbidden, "only a technician, an admin or the cabinet may confirm a refill")
	}
	if in.Quantity <= 0 || in.Quantity > MaxRefillQuantity {
		return rejection(ErrInvalidInput, fmt.Sprintf("the quantity loaded must be between 1 and %d", MaxRefillQuantity))
	}
	if in.Source != RefillSourceAPI && in.Source != RefillSourceCabinet {
		return rejection(ErrInvalidInput, fmt.Sprintf("unknown refill source %q", in.Source))
	}
	return nil
}

func (r *restock) confirmRefill(ctx workflow.Context, in ConfirmRefillInput) (RestockState, error) {
	now := workflow.Now(ctx)
	by := in.Actor
	r.confirm = in
	r.state.LoadedQuantity, r.state.Source = in.Quantity, in.Source
	r.state.ConfirmedBy, r.state.ConfirmedAt = &by, &now
	r.setStatus(ctx, RestockRefilling)
	return r.state, nil
}
