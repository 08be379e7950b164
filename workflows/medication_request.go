package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis/activities"
)

// a is only a typed handle for activity method references; the worker registers the real one.
var a *activities.Activities

// MedicationRequest runs one medication request from submission to a terminal status. The
// workflow id is the request id. It returns the final State.
func MedicationRequest(ctx workflow.Context, in Input) (*State, error) {
	r := &request{in: in}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	st, err := r.run(ctx)
	if temporal.IsCanceledError(err) {
		// An operator cancelled the run in Temporal: the request must still give back what
		// it holds, exactly as a cancellation through the API would.
		return nil, r.compensateCancellation(ctx, err)
	}
	return st, err
}

// request is one workflow execution's state and behaviour.
type request struct {
	in     Input
	state  State
	logger log.Logger
	// recorded counts the transitions already written to Postgres; the rest are pending.
	recorded int
	// authorizing is set once a cabinet command may have reached the cabinet.
	authorizing bool
	// consumed is set once the withdrawn stock has left the ledger.
	consumed bool
}

// setup validates the input and registers the query and update handlers before anything
// blocks, so no message is refused for arriving early.
func (r *request) setup(ctx workflow.Context) error {
	if err := validateInput(r.in); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidInput, err)
	}
	info := workflow.GetInfo(ctx)
	// A request is as old as its workflow: the server's start time orders requests as they
	// were submitted, where the first workflow task's clock may not.
	now := info.WorkflowStartTime
	r.state = State{
		ID:          info.WorkflowExecution.ID,
		Status:      StatusSubmitted,
		Priority:    r.in.Priority,
		CabinetID:   r.in.CabinetID,
		CabinetCode: r.in.CabinetCode,
		Patient:     r.in.Patient,
		Requester:   r.in.Requester,
		Lines:       r.in.Lines,
		Approvals:   []Approval{},
		Transitions: []Transition{},
		CreatedAt:   now,
		UpdatedAt:   now,
		// Requests started before dual approval existed carry no count: one approval.
		RequiredApprovals: max(r.in.RequiredApprovals, 1),
	}
	r.logger = log.With(workflow.GetLogger(ctx), "RequestID", r.state.ID)

	if err := workflow.SetQueryHandler(ctx, StateQuery, func() (State, error) {
		return r.state, nil
	}); err != nil {
		return fmt.Errorf("register %s query: %w", StateQuery, err)
	}
	return r.registerUpdates(ctx)
}

func validateInput(in Input) error {
	var errs []error
	if in.Requester.ID == "" {
		errs = append(errs, errors.New("requester is required"))
	}
	if in.Patient.MRN == "" {
		errs = append(errs, errors.New("patient MRN is required"))
	}
	if in.CabinetID <= 0 {
		errs = append(errs, errors.New("cabinet is required"))
	}
	if !in.Priority.Valid() {
		errs = append(errs, fmt.Errorf("unknown priority %q", in.Priority))
	}
	if len(in.Lines) == 0 {
		errs = append(errs, errors.New("at least one line is required"))
	}
	for _, l := range in.Lines {
		if l.Quantity <= 0 {
			errs = append(errs, fmt.Errorf("medication %d: quantity must be positive", l.MedicationID))
		}
	}
	if in.Policy.ApprovalTimeout <= 0 || in.Policy.WithdrawalTimeout <= 0 || in.Policy.CabinetAttempts <= 0 {
		errs = append(errs, errors.New("policy timeouts and cabinet attempts must be positive"))
	}
	return errors.Join(errs...)
}

// run drives the lifecycle. Each step leaves the request in a status whose compensation is
// known: nothing is reserved before reserve succeeds, and every terminal status but dispensed
// releases what was reserved.
func (r *request) run(ctx workflow.Context) (*State, error) {
	r.move(ctx, StatusSubmitted, "submitted", r.in.Requester, "")
	if err := r.flush(ctx); err != nil {
		return nil, err
	}

	if err := workflow.ExecuteActivity(dbCtx(ctx), a.ReserveStock, activities.ReserveInput{
		RequestID: r.state.ID, CabinetID: r.in.CabinetID, Lines: toActivityLines(r.in.Lines),
	}).Get(ctx, nil); err != nil {
		r.move(ctx, StatusFailed, "reserve_failed", System, failureReason(err))
		return r.finish(ctx, false)
	}
	r.move(ctx, StatusAwaitingApproval, "stock_reserved", System, "")
	if err := r.flush(ctx); err != nil {
		return nil, err
	}

	if err := r.awaitApproval(ctx); err != nil {
		return nil, err
	}
	if r.state.Status != StatusApproved {
		return r.finish(ctx, true)
	}
	if err := r.flush(ctx); err != nil {
		return nil, err
	}

	r.authorizing = true
	if err := workflow.ExecuteActivity(cabinetCtx(ctx, r.in.Policy, r.in.Policy.CabinetAttempts),
		a.AuthorizeDispense, r.cabinetInput()).Get(ctx, nil); err != nil {
		if temporal.IsCanceledError(err) {
			return nil, err
		}
		// A transport failure may hide a command the cabinet did apply: withdraw it, so no
		// authorization outlives its reservation. A refusal, or a cabinet that does not
		// exist, needs no such care.
		if !isApplicationError(err, activities.ErrCabinetRefused) && !isApplicationError(err, activities.ErrUnknownCabinet) {
			r.revoke(ctx)
		}
		r.move(ctx, StatusFailed, "cabinet_failed", System, failureReason(err))
		return r.finish(ctx, true)
	}
	deadline := workflow.Now(ctx).Add(r.in.Policy.WithdrawalTimeout)
	r.state.WithdrawalDeadline = &deadline
	r.move(ctx, StatusReadyAtCabinet, "authorized_at_cabinet", System, "")
	if err := r.flush(ctx); err != nil {
		return nil, err
	}

	// Wait until the advertised deadline, not a full window from now: recording the
	// transition may have taken a while.
	if _, err := workflow.AwaitWithTimeout(ctx, deadline.Sub(workflow.Now(ctx)), func() bool {
		return r.state.Status != StatusReadyAtCabinet
	}); err != nil {
		return nil, err
	}
	switch r.state.Status {
	case StatusReadyAtCabinet:
		r.move(ctx, StatusExpired, "withdrawal_window_passed", System, "not withdrawn within "+r.in.Policy.WithdrawalTimeout.String())
		r.revoke(ctx)
		return r.finish(ctx, true)
	case StatusCancelled:
		r.revoke(ctx)
		return r.finish(ctx, true)
	}
	// Dispensed: the stock left the cabinet.
	if err := r.flush(ctx); err != nil {
		return nil, err
	}
	if err := r.consume(ctx); err != nil {
		return nil, err
	}
	return r.finish(ctx, false)
}

func (r *request) consume(ctx workflow.Context) error {
	var res activities.StockResult
	if err := workflow.ExecuteActivity(dbCtx(ctx), a.ConsumeStock, activities.StockInput{RequestID: r.state.ID}).Get(ctx, &res); err != nil {
		return err
	}
	r.consumed = true
	r.restockAfterConsume(ctx, res.Levels)
	return nil
}

// compensateCancellation settles a run cancelled through Temporal, on a context the
// cancellation does not reach: it records the cancellation, withdraws a cabinet authorization
// that may exist, and releases (or, after a reported withdrawal, consumes) the stock. Release
// and revoke are idempotent, so doing them when the step may never have run is safe.
func (r *request) compensateCancellation(ctx workflow.Context, cause error) error {
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	if r.state.Status == StatusDispensed {
		if !r.consumed {
			if err := r.consume(ctx); err != nil {
				return errors.Join(cause, err)
			}
		}
	} else {
		if !r.state.Status.Terminal() {
			r.move(ctx, StatusCancelled, "workflow_cancelled", System, "the workflow run was cancelled in Temporal")
		}
		if r.authorizing {
			r.revoke(ctx)
		}
		if err := workflow.ExecuteActivity(dbCtx(ctx), a.ReleaseStock, activities.StockInput{RequestID: r.state.ID}).Get(ctx, nil); err != nil {
			return errors.Join(cause, err)
		}
	}
	if err := r.flush(ctx); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// awaitApproval waits for a pharmacist's decision or a cancellation. Halfway through the
// deadline the request is escalated (audited); at the deadline it expires. An approval that
// is not yet the last one needed is recorded as soon as it arrives, and the wait goes on.
func (r *request) awaitApproval(ctx workflow.Context) error {
	total := r.in.Policy.ApprovalTimeout
	start := workflow.Now(ctx)
	deadline, escalateAt := start.Add(total), start.Add(total/2)
	r.state.ApprovalDeadline = &deadline
	decided := func() bool { return r.state.Status != StatusAwaitingApproval }
	pending := func() bool { return decided() || r.recorded < len(r.state.Transitions) }

	for {
		// The status decides, not a timer's result: an update handled in the same workflow
		// task as a timer firing wins.
		if decided() {
			return nil
		}
		if err := r.flush(ctx); err != nil {
			return err
		}
		now := workflow.Now(ctx)
		switch {
		case !now.Before(deadline):
			r.move(ctx, StatusExpired, "approval_deadline_passed", System, "no pharmacist decision within "+total.String())
			return nil
		case !r.state.Escalated && !now.Before(escalateAt):
			r.state.Escalated = true
			r.move(ctx, StatusAwaitingApproval, "escalated", System, "no decision after "+(total/2).String())
			continue
		}
		next := deadline
		if !r.state.Escalated {
			next = escalateAt
		}
		if _, err := workflow.AwaitWithTimeout(ctx, next.Sub(now), pending); err != nil {
			return err
		}
	}
}

// finish completes the workflow: it releases held stock when asked (every terminal status but
// dispensed), records what is pending, and waits for update handlers to return.
func (r *request) finish(ctx workflow.Context, release bool) (*State, error) {
	if release {
		if err := workflow.ExecuteActivity(dbCtx(ctx), a.ReleaseStock, activities.StockInput{RequestID: r.state.ID}).Get(ctx, nil); err != nil {
			return nil, err
		}
	}
	if err := r.flush(ctx); err != nil {
		return nil, err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return nil, err
	}
	r.logger.Info("Request finished", "Status", r.state.Status)
	return &r.state, nil
}

// revoke withdraws the cabinet authorization, best effort: the request ends either way, and a
// cabinet that stays unreachable cannot be helped by waiting longer.
func (r *request) revoke(ctx workflow.Context) {
	err := workflow.ExecuteActivity(cabinetCtx(ctx, r.in.Policy, 3), a.RevokeAuthorization, r.cabinetInput()).Get(ctx, nil)
	if err != nil {
		r.logger.Warn("Cabinet authorization not withdrawn", "Error", err)
		r.move(ctx, r.state.Status, "revoke_failed", System, failureReason(err))
	}
}

func (r *request) cabinetInput() activities.CabinetInput {
	return activities.CabinetInput{
		RequestID:  r.state.ID,
		CabinetID:  r.in.CabinetID,
		PatientMRN: r.in.Patient.MRN,
		PatientBed: r.in.Patient.Bed,
		Lines:      toActivityLines(r.in.Lines),
	}
}

// move applies a transition in memory; flush writes it. Keeping the two apart lets update
// handlers change state synchronously while the main coroutine does the I/O.
func (r *request) move(ctx workflow.Context, to Status, action string, by Actor, reason string) {
	now := workflow.Now(ctx)
	if len(r.state.Transitions) == 0 {
		now = r.state.CreatedAt // submitted when the workflow started
	}
	r.state.Transitions = append(r.state.Transitions, Transition{
		Seq:    int32(len(r.state.Transitions) + 1),
		From:   r.state.Status,
		To:     to,
		Action: action,
		Actor:  by,
		At:     now,
		Reason: reason,
	})
	if to != r.state.Status && reason != "" {
		r.state.Reason = reason
	}
	r.state.Status = to
	r.state.UpdatedAt = now
	// The first transition carries From == To == submitted; drop the self-reference.
	if len(r.state.Transitions) == 1 {
		r.state.Transitions[0].From = ""
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, RequestStatusKey.ValueSet(string(to))); err != nil {
		r.logger.Warn("Search attribute not updated", "Error", err)
	}
}

// flush records every pending transition, in order, each as projection row plus audit entry.
func (r *request) flush(ctx workflow.Context) error {
	for r.recorded < len(r.state.Transitions) {
		t := r.state.Transitions[r.recorded]
		in := activities.RecordInput{
			RequestID: r.state.ID,
			Seq:       t.Seq,
			Status:    string(t.To),
			Action:    t.Action,
			Reason:    t.Reason,
			Actor:     activities.Actor{ID: t.Actor.ID, Role: t.Actor.Role},
			At:        t.At,
			Details:   map[string]any{"from": string(t.From)},
		}
		if t.Seq == 1 {
			in.Header = &activities.RequestHeader{
				RequesterID:   r.in.Requester.ID,
				RequesterName: r.in.Requester.Name,
				PatientMRN:    r.in.Patient.MRN,
				PatientBed:    r.in.Patient.Bed,
				CabinetID:     r.in.CabinetID,
				Priority:      string(r.in.Priority),
				Lines:         toActivityLines(r.in.Lines),
			}
		}
		if err := workflow.ExecuteActivity(dbCtx(ctx), a.RecordTransition, in).Get(ctx, nil); err != nil {
			return fmt.Errorf("record transition %d: %w", t.Seq, err)
		}
		r.recorded++
	}
	return nil
}
