package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/internal/textcheck"
)

// A request is recorded in steps: each step's transitions, with the stock change that goes
// with them, in one local activity and one transaction (Admit, RecordStep). A step costs no
// server round trip beyond the workflow task that takes it; see README, Performance.
//
// A step that records what an update did is the exception. A local activity runs inside the
// workflow task, before the task completes, and an update is durable only once a completed
// task has accepted it. Temporal refuses a completion that ends the run while something else
// arrived during the task (UNHANDLED_COMMAND: a deadline's timer, an activity's result) and
// aborts the updates the task had not accepted; the retried task runs without them. Had the
// step run in that task, the database would keep a rejection, a cancellation or a vend the
// workflow never took (its stock released, its audit entry written), and the next step at the
// same seq would be skipped as a retry. So since recordAfterAcceptance such a step runs as an
// activity: the task that accepts the update schedules it, so it runs only once the update is
// durable, and the handler answers once the step is recorded, so an answered update is in the
// database as before. docs/reliability.md tells the story; e2e/acceptance_test.go provokes it.
// (A task the worker fails, or that times out, keeps its updates: Temporal delivers them
// again.)

// recordAfterAcceptance is the change id of that. Runs of v0.1.0 and of the code before the
// change (no marker) record an update's step in the task that handles it.
const recordAfterAcceptance = "record-after-acceptance"

// answer is an update handler's result: the state, once the transitions the handler applied
// are recorded (since recordAfterAcceptance; at once before). The run's end waits for every
// handler (finish), and every step it takes records what is pending, so the wait ends.
func (r *request) answer(ctx workflow.Context) (State, error) {
	if !r.acceptFirst {
		return r.state, nil
	}
	r.unaccepted = true
	applied := len(r.state.Transitions)
	if err := workflow.Await(ctx, func() bool { return r.recorded >= applied }); err != nil {
		return r.state, err
	}
	return r.state, nil
}

// recordStep runs a step: as a local activity, in this workflow task, unless an update handler
// moved the request in it (since recordAfterAcceptance); then as an activity, which the task's
// completion schedules together with the update's acceptance. A handler that runs while the
// activity is on its way sets unaccepted again, for the next step.
func (r *request) recordStep(ctx workflow.Context, in pyxis.Step) workflow.Future {
	if !r.unaccepted {
		return workflow.ExecuteLocalActivity(localCtx(ctx), a.RecordStep, in)
	}
	r.unaccepted = false
	return workflow.ExecuteActivity(dbCtx(ctx), a.RecordStep, in)
}

// admit records the submission and reserves the request's lines. It reports whether the lines
// are held; a request that could not get them has moved to failed, recorded.
func (r *request) admit(ctx workflow.Context) (bool, error) {
	r.move(ctx, StatusSubmitted, "submitted", r.in.Requester, noReason)
	// The approval deadline runs from the admission, and the projection learns it with it.
	deadline := workflow.Now(ctx).Add(r.in.Policy.ApprovalTimeout)
	r.state.ApprovalDeadline = &deadline
	reserved := r.next(ctx, StatusAwaitingApproval, "stock_reserved", pyxis.System, noReason)
	// The words of a refusal are the shortage's, filled in by the admission.
	refused := r.next(ctx, StatusFailed, "reserve_failed", pyxis.System, because(ReasonInsufficientStock, ""))
	var res activities.AdmitResult
	err := workflow.ExecuteLocalActivity(localCtx(ctx), a.Admit, pyxis.Admission{
		RequestID: r.state.ID, CabinetID: r.in.CabinetID, Lines: r.in.Lines,
		Submitted: r.record(r.state.Transitions[0]), Reserved: r.record(reserved), Refused: r.record(refused),
	}).Get(ctx, &res)
	switch {
	case temporal.IsCanceledError(err):
		return false, err
	case err != nil:
		// The admission itself was refused (nothing was written): the request fails, and
		// finish records it.
		r.logger.Error("Admission refused", "Error", err)
		r.state.ApprovalDeadline = nil
		r.move(ctx, StatusFailed, "reserve_failed", pyxis.System, admissionFailure(err))
		return false, nil
	case !res.Reserved:
		r.state.ApprovalDeadline = nil
		refused.Reason = res.Reason
		r.apply(refused)
	default:
		r.apply(reserved)
	}
	r.recorded = len(r.state.Transitions)
	r.index(ctx, r.state.Status)
	return res.Reserved, nil
}

// flush records every pending transition, in order.
func (r *request) flush(ctx workflow.Context) error {
	_, err := r.commit(ctx, pyxis.StockNone)
	return err
}

// commit records the pending transitions and vends with the stock change (pyxis.StockNone,
// or pyxis.StockRelease to give back what the request still holds) in one step, then indexes
// the status the step leaves the request in.
func (r *request) commit(ctx workflow.Context, change pyxis.StockChange) (activities.StockResult, error) {
	var res activities.StockResult
	pending := r.state.Transitions[r.recorded:]
	vends := r.pendingVends
	if len(pending) == 0 && len(vends) == 0 && change == pyxis.StockNone {
		return res, nil
	}
	in := pyxis.Step{RequestID: r.state.ID, Stock: change, Vends: vends, Transitions: make([]pyxis.Transition, len(pending))}
	for i, t := range pending {
		in.Transitions[i] = r.record(t)
	}
	if err := r.recordStep(ctx, in).Get(ctx, &res); err != nil {
		if permanent(err) && !r.salvaging {
			return r.salvage(ctx, change, err)
		}
		return res, fmt.Errorf("record step %d-%d: %w", r.recorded+1, r.recorded+len(pending), err)
	}
	// Handlers may have moved the request further while the step ran: only what was sent
	// is recorded.
	r.recorded += len(pending)
	r.pendingVends = r.pendingVends[len(vends):]
	if r.state.Status != r.indexed {
		r.index(ctx, r.state.Status)
	}
	return res, nil
}

// record is the recorded form of transition t: the first carries the request's header, the
// one that starts a wait carries its deadline, an approval its note and registration. Its
// audit details say where it came from, when it has one why, and under which registration an
// approval was given.
func (r *request) record(t Transition) pyxis.Transition {
	in := pyxis.Transition{
		RequestID:    r.state.ID,
		Seq:          t.Seq,
		From:         string(t.From),
		Status:       string(t.To),
		Action:       t.Action,
		Reason:       t.Reason,
		ReasonCode:   string(t.ReasonCode),
		Actor:        t.Actor,
		At:           t.At,
		Details:      map[string]any{"from": string(t.From)},
		Note:         r.notes[t.Seq],
		Registration: r.registrations[t.Seq],
		Vended:       r.vendedAt[t.Seq].lines,
		ReportID:     r.vendedAt[t.Seq].reportID,
	}
	if t.Reason != "" {
		in.Details["reason"] = t.Reason
	}
	if in.Registration != "" {
		in.Details["registration"] = in.Registration
	}
	switch {
	case t.Seq == 1:
		header := r.in.RequestHeader
		in.Header = &header
	case t.Action == "stock_reserved":
		in.ApprovalDeadline = r.state.ApprovalDeadline
	case t.Action == "authorized_at_cabinet":
		in.WithdrawalDeadline = r.state.WithdrawalDeadline
	}
	return in
}

// errSalvaged ends a run whose step the database refused for good, once salvage recorded the
// request as failed: MedicationRequest returns the state as it is.
var errSalvaged = errors.New("request ended after the database refused a step")

// permanent reports whether a step failed in a way no retry can mend.
func permanent(err error) bool {
	return isApplicationError(err, activities.ErrInvalidData) || isApplicationError(err, activities.ErrNotFound)
}

// salvage records a request whose step the database refused as it was (text Postgres cannot
// store slipped past every entrance, a row it needs is gone), so the request does not retry
// forever and its stock is not held for good: the free text of the pending transitions is
// cleaned, a request not yet ended fails with invalid_data (its authorization withdrawn, its
// stock released), and the run ends. Should the database refuse even that, the run fails with
// the error: only a person can help then.
func (r *request) salvage(ctx workflow.Context, change pyxis.StockChange, cause error) (activities.StockResult, error) {
	r.logger.Error("The database refused a step for good; ending the request", "Error", cause)
	r.salvaging = true
	for i := r.recorded; i < len(r.state.Transitions); i++ {
		t := &r.state.Transitions[i]
		t.Reason = textcheck.Clean(t.Reason, 1000)
		delete(r.notes, t.Seq)
	}
	if !r.state.Status.Terminal() {
		if r.authorizing {
			r.revoke(ctx)
		}
		r.move(ctx, StatusFailed, "invalid_data", pyxis.System, because(ReasonInvalidData, "the request holds data the system cannot store"))
		change = pyxis.StockRelease
	}
	res, err := r.commit(ctx, change)
	if err != nil {
		return res, err
	}
	return res, errSalvaged
}
