package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/internal/textcheck"
)

// a is only a typed handle for activity method references; the worker registers the real one.
var a *activities.Activities

// MedicationRequestName is the workflow type the worker registers MedicationRequest under:
// the name in every history, so it never changes with the function's.
const MedicationRequestName = "MedicationRequest"

// MedicationRequest runs one medication request from submission to a terminal status. The
// workflow id is the request id. It returns the final State.
func MedicationRequest(ctx workflow.Context, in Input) (*State, error) {
	r := &request{in: in}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	st, err := r.run(ctx)
	if errors.Is(err, errSalvaged) {
		return r.finish(ctx, false)
	}
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
	// indexed is the status last written to the RequestStatus search attribute.
	indexed Status
	// acceptFirst is set for runs since recordAfterAcceptance (recording.go): what an update
	// handler changed is recorded only once the update is accepted. unaccepted is set when a
	// handler has moved the request in a workflow task that has not completed yet.
	acceptFirst bool
	unaccepted  bool
	// notes are the pharmacists' approval notes by the seq of their transition, registrations
	// the professional registrations the approvals were given under.
	notes         map[int32]string
	registrations map[int32]string
	// authorizing is set once a cabinet command may have reached the cabinet.
	authorizing bool
	// durable is set for a run that sends its cabinet commands since durableDelivery
	// (cabinet.go); windowEnd is then the end of its withdrawal window, fixed when the
	// authorization is first sent, and order the authorization as sent.
	durable   bool
	windowEnd time.Time
	order     *cabinet.Order
	// delivering is set while the order waits for the cabinet's acknowledgment (durable
	// runs only): the request may be cancelled then.
	delivering bool
	// consumed is set once the withdrawn stock has left the ledger.
	consumed bool
	// salvaging is set once a step was refused for good (recording.go, salvage).
	salvaging bool
	// named are the ordered medications a withdrawal report has named, pendingVends the
	// reports not yet recorded, and vendedAt what each withdrawal transition (by seq)
	// dispensed (vends.go).
	named        map[int64]bool
	pendingVends []pyxis.Vend
	vendedAt     map[int32]vendRecord
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
	now := info.WorkflowStartTime.UTC()
	r.state = State{
		ID:                info.WorkflowExecution.ID,
		Status:            StatusSubmitted,
		Priority:          r.in.Priority,
		CabinetID:         r.in.CabinetID,
		CabinetCode:       r.in.CabinetCode,
		Patient:           r.in.Patient,
		Requester:         r.in.Requester,
		Lines:             r.in.Lines,
		Approvals:         []Approval{},
		Transitions:       []Transition{},
		CreatedAt:         now,
		UpdatedAt:         now,
		RequiredApprovals: r.in.RequiredApprovals,
	}
	r.logger = log.With(workflow.GetLogger(ctx), "RequestID", r.state.ID)
	// Decided once, at the start, for the whole run: a run of an earlier release replays
	// without the marker and keeps recording as it did.
	r.acceptFirst = workflow.GetVersion(ctx, recordAfterAcceptance, workflow.DefaultVersion, 1) >= 1

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
	if in.RequiredApprovals < 1 || in.RequiredApprovals > 2 {
		errs = append(errs, fmt.Errorf("required approvals must be 1 or 2, not %d", in.RequiredApprovals))
	}
	for _, l := range in.Lines {
		if l.Quantity <= 0 {
			errs = append(errs, fmt.Errorf("medication %d: quantity must be positive", l.MedicationID))
		}
	}
	// CabinetAttempts is read by runs of v0.1.0 only (cabinet.go); it may be zero since.
	if in.Policy.ApprovalTimeout <= 0 || in.Policy.WithdrawalTimeout <= 0 || in.Policy.CabinetAttempts < 0 {
		errs = append(errs, errors.New("policy timeouts must be positive"))
	}
	// The API refuses such text already; a workflow started some other way must not carry
	// it into history and the database either.
	for _, f := range []struct{ name, value string }{
		{"requester id", in.Requester.ID}, {"requester name", in.Requester.Name},
		{"patient MRN", in.Patient.MRN}, {"patient bed", in.Patient.Bed}, {"cabinet code", in.CabinetCode},
		{"patient family name", in.Patient.Family}, {"patient given name", in.Patient.Given},
	} {
		if err := textcheck.Check(f.value, textcheck.Line); err != nil {
			errs = append(errs, fmt.Errorf("%s %w", f.name, err))
		}
	}
	return errors.Join(errs...)
}

// run drives the lifecycle, one step after the other: the admission reserves the lines, a
// pharmacist decides, the cabinet is commanded, and the withdrawal reports are taken until the
// request is dispensed or the window passes. Each step leaves the request in a status whose
// compensation is known: nothing is reserved before the admission succeeds, and every
// terminal status but dispensed releases what was reserved.
func (r *request) run(ctx workflow.Context) (*State, error) {
	reserved, err := r.admit(ctx)
	if err != nil {
		return nil, err
	}
	if !reserved {
		return r.finish(ctx, false)
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
	err = r.authorize(ctx)
	if r.durable && r.state.Status == StatusCancelled {
		// Cancelled while the order waited out an outage: an attempt may have reached the
		// cabinet, so the order is revoked, after the cancellation is recorded.
		if err := r.flush(ctx); err != nil {
			return nil, err
		}
		r.revoke(ctx)
		return r.finish(ctx, true)
	}
	if err != nil {
		if temporal.IsCanceledError(err) {
			return nil, err
		}
		// A transport failure may hide a command the cabinet did apply: withdraw it, so no
		// authorization outlives its reservation. A refusal, or a cabinet that does not
		// exist, needs no such care, unless the refusal followed an attempt that went
		// unanswered (since durableDelivery): that one may have reached the cabinet.
		refused := isApplicationError(err, activities.ErrCabinetRefused) && !(r.durable && refusedAfterSilence(err))
		if !refused && !isApplicationError(err, activities.ErrUnknownCabinet) {
			r.revoke(ctx)
		}
		w := cabinetFailure(err, r.in.Policy.CabinetAttempts)
		if r.durable {
			w = deliveryFailure(err, "the order", r.in.Policy.WithdrawalTimeout)
		}
		r.move(ctx, StatusFailed, "cabinet_failed", pyxis.System, w)
		return r.finish(ctx, true)
	}
	deadline := workflow.Now(ctx).Add(r.in.Policy.WithdrawalTimeout)
	if r.durable {
		// The window the order carries (TQ1-8) is the one the nurse has.
		deadline = r.windowEnd
	}
	r.state.WithdrawalDeadline = &deadline
	r.move(ctx, StatusReadyAtCabinet, "authorized_at_cabinet", pyxis.System, noReason)
	if err := r.flush(ctx); err != nil {
		return nil, err
	}
	return r.awaitWithdrawal(ctx)
}

// dispense records the report that completed the withdrawal, with the vends still pending,
// and gives back what the reports left held (a short line: the step opens its
// discrepancy); then it starts the restocks the pockets need.
func (r *request) dispense(ctx workflow.Context) error {
	res, err := r.commit(ctx, pyxis.StockRelease)
	if err != nil {
		return err
	}
	r.consumed = true
	r.restockAfterConsume(ctx, res.Levels)
	return nil
}

// compensateCancellation settles a run cancelled through Temporal, on a context the
// cancellation does not reach: it records the cancellation, withdraws a cabinet authorization
// that may exist, and releases the stock (after the report that dispensed it, what the
// reports left). Release and revoke are idempotent, so doing them when the step may never
// have run is safe.
func (r *request) compensateCancellation(ctx workflow.Context, cause error) error {
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	if r.state.Status == StatusDispensed {
		if !r.consumed {
			if err := r.dispense(ctx); err != nil {
				return errors.Join(cause, err)
			}
		}
	} else {
		if !r.state.Status.Terminal() {
			r.move(ctx, StatusCancelled, "workflow_cancelled", pyxis.System,
				because(ReasonWorkflowCancelled, "the workflow run was cancelled in Temporal"))
		}
		if r.authorizing {
			r.revoke(ctx)
		}
		if _, err := r.commit(ctx, pyxis.StockRelease); err != nil {
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
	// The admission set the deadline: it runs from then.
	total := r.in.Policy.ApprovalTimeout
	deadline := *r.state.ApprovalDeadline
	escalateAt := deadline.Add(-total / 2)
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
			r.move(ctx, StatusExpired, "approval_deadline_passed", pyxis.System,
				because(ReasonApprovalExpired, "no pharmacist decision within "+total.String()))
			return nil
		case !r.state.Escalated && !now.Before(escalateAt):
			r.state.Escalated = true
			r.move(ctx, StatusAwaitingApproval, "escalated", pyxis.System, note("no decision after "+(total/2).String()))
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
// dispensed), records what is pending, and waits for update handlers to return: a handler
// still running (say, slowed by an interceptor) must not have its update lost with the run.
func (r *request) finish(ctx workflow.Context, release bool) (*State, error) {
	if release {
		if _, err := r.commit(ctx, pyxis.StockRelease); err != nil {
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

// revoke withdraws the cabinet authorization (withdrawAuthorization): the request ends
// either way, and a revoke that the cabinet never acknowledged is audited (revoke_failed).
func (r *request) revoke(ctx workflow.Context) {
	if err := r.withdrawAuthorization(ctx); err != nil {
		r.logger.Warn("Cabinet authorization not withdrawn", "Error", err)
		w := cabinetFailure(err, revokeAttemptsAfterWindow)
		if r.durable {
			w = deliveryFailure(err, "the cancel", r.in.Policy.WithdrawalTimeout)
		}
		r.move(ctx, r.state.Status, "revoke_failed", pyxis.System, w)
	}
}

func (r *request) cabinetInput() activities.CabinetInput {
	return activities.CabinetInput{RequestID: r.state.ID, RequestHeader: r.in.RequestHeader}
}

// move applies a transition in memory; flush (or a step) writes it. Keeping the two apart
// lets update handlers change state synchronously while the main coroutine does the I/O.
func (r *request) move(ctx workflow.Context, to Status, action string, by pyxis.Actor, w why) {
	r.apply(r.next(ctx, to, action, by, w))
}

// next builds the transition that would follow the current state, without applying it.
func (r *request) next(ctx workflow.Context, to Status, action string, by pyxis.Actor, w why) Transition {
	t := Transition{
		Seq:        int32(len(r.state.Transitions) + 1),
		From:       r.state.Status,
		To:         to,
		Action:     action,
		Actor:      by,
		At:         workflow.Now(ctx),
		Reason:     w.text,
		ReasonCode: w.code,
	}
	if len(r.state.Transitions) == 0 {
		// Submitted when the workflow started; the first transition has no from.
		t.At, t.From = r.state.CreatedAt, ""
	}
	return t
}

// apply appends t to the state and moves the status; the step that records it also indexes
// the status it leaves (commit).
func (r *request) apply(t Transition) {
	r.state.Transitions = append(r.state.Transitions, t)
	if t.To != r.state.Status && t.Reason != "" {
		r.state.Reason, r.state.ReasonCode = t.Reason, t.ReasonCode
	}
	r.state.Status = t.To
	r.state.UpdatedAt = t.At
}

// index writes status to the RequestStatus search attribute, so the Web UI can list requests
// by it.
func (r *request) index(ctx workflow.Context, status Status) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, RequestStatusKey.ValueSet(string(status))); err != nil {
		r.logger.Warn("Search attribute not updated", "Error", err)
	}
	r.indexed = status
}
