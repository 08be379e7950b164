package workflows

import (
	"errors"
	"math"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/cabinet"
)

// durableDelivery is the change id of the cabinet commands that outlive an outage (issue 16).
// Runs of v0.1.0 (no marker) send each command in attempts the workflow counts itself
// (commandInAttempts); runs since send it as one activity that Temporal retries until the
// cabinet acknowledges it or the withdrawal window closes (deliver).
const durableDelivery = "durable-cabinet-delivery"

// maxCabinetBackoff bounds the wait between attempts of a cabinet command.
const maxCabinetBackoff = 30 * time.Second

// cabinetCommandTimeout bounds one attempt: a connection and an acknowledgment
// (PYXIS_CABINET_ACK_TIMEOUT is at most 20s).
const cabinetCommandTimeout = 30 * time.Second

// revokeAttemptsAfterWindow are the attempts of a revoke once the window has closed: the
// order's TQ1-8 has ended it at the cabinet already, so the revoke is a courtesy.
const revokeAttemptsAfterWindow = 3

// authorize sends the dispense authorization. Since durableDelivery, the order is prepared
// once, with its times fixed (issued and started now, ending with the withdrawal window),
// and it is retried until the cabinet acknowledges it or the window closes.
func (r *request) authorize(ctx workflow.Context) error {
	r.durable = workflow.GetVersion(ctx, durableDelivery, workflow.DefaultVersion, 1) >= 1
	if !r.durable {
		return r.commandInAttempts(ctx, a.DispenseOrder, r.in.Policy.CabinetAttempts)
	}
	now := workflow.Now(ctx)
	r.windowEnd = now.Add(r.in.Policy.WithdrawalTimeout)
	var order cabinet.Order
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.PrepareOrder, r.cabinetInput()).Get(ctx, &order); err != nil {
		return err
	}
	// The message is the same on every attempt: its times are the order's, never the
	// moment an attempt is sent (MSH-7 and ORC-9 the issue, TQ1-7 the start, TQ1-8 the
	// window's end, after which the cabinet no longer offers the order).
	order.IssuedAt, order.StartAt, order.EndAt = now, now, r.windowEnd
	r.order = &order
	// The order may wait out an outage for as long as the window: meanwhile the request may
	// be cancelled (validateCancel), and the delivery then stops; run revokes what an
	// attempt may have left at the cabinet.
	sendCtx, stop := workflow.WithCancel(ctx)
	defer stop()
	sent := r.send(sendCtx, a.DispenseOrder, order, 0)
	r.delivering = true
	err := workflow.Await(ctx, func() bool { return sent.IsReady() || r.state.Status == StatusCancelled })
	r.delivering = false
	if err != nil || !sent.IsReady() {
		return err
	}
	return sent.Get(ctx, nil)
}

// withdrawAuthorization withdraws the authorization. Since durableDelivery, the cancel (or,
// once part was withdrawn, the discontinue) is retried until the cabinet acknowledges it
// while the window is open, so no request is left withdrawable at the cabinet; once the
// window has closed, the cabinet ended the order by its TQ1-8, and three attempts suffice.
// Runs of v0.1.0 try three times.
func (r *request) withdrawAuthorization(ctx workflow.Context) error {
	if !r.durable {
		return r.commandInAttempts(ctx, a.WithdrawOrder, revokeAttemptsAfterWindow)
	}
	if r.order == nil {
		// Cancelled (in Temporal) before the order was prepared: prepare it now, as the
		// authorization would have been.
		var order cabinet.Order
		if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.PrepareOrder, r.cabinetInput()).Get(ctx, &order); err != nil {
			return err
		}
		r.order = &order
	}
	order := *r.order
	// The cancel is a message of its own, issued now; it repeats the order's start and end.
	order.IssuedAt = workflow.Now(ctx)
	order.PartlyDispensed = len(r.state.Vended) > 0
	attempts := int32(0)
	if !workflow.Now(ctx).Before(r.windowEnd) {
		attempts = revokeAttemptsAfterWindow
	}
	return r.deliver(ctx, a.WithdrawOrder, order, attempts)
}

// deliver sends a cabinet command as one activity that Temporal retries with back-off (the
// policy's interval, doubling, at most maxCabinetBackoff) until it succeeds, is refused, or
// attempts run out; attempts zero retries until the withdrawal window closes. The attempts
// are not events of the history, which stays the same size through an outage of any length;
// the activity records them in Postgres for the request's view.
func (r *request) deliver(ctx workflow.Context, send any, order cabinet.Order, attempts int32) error {
	return r.send(ctx, send, order, attempts).Get(ctx, nil)
}

// send schedules the activity deliver waits for.
func (r *request) send(ctx workflow.Context, send any, order cabinet.Order, attempts int32) workflow.Future {
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: cabinetCommandTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    r.retryInterval(),
			BackoffCoefficient: 2,
			MaximumInterval:    maxCabinetBackoff,
			MaximumAttempts:    attempts,
		},
	}
	if attempts == 0 {
		// At least a second: the bound of an attempt begun just before the window closes.
		opts.ScheduleToCloseTimeout = max(r.windowEnd.Sub(workflow.Now(ctx)), time.Second)
		// The window bounds the attempts. Zero would say "no maximum" to the server too, but
		// the SDK's test environment reads it as ten, and the tests must see the window.
		opts.RetryPolicy.MaximumAttempts = math.MaxInt32
	}
	in := activities.Delivery{Order: order, CabinetID: r.in.CabinetID}
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), send, in)
}

func (r *request) retryInterval() time.Duration {
	if r.in.Policy.CabinetRetryInterval <= 0 {
		return time.Second
	}
	return r.in.Policy.CabinetRetryInterval
}

// commandInAttempts is how v0.1.0 sends a cabinet command: up to attempts attempts, each
// reading the order from the database (PrepareOrder, a local activity retried like any
// database step) and sending it once, waiting the policy's back-off between them (doubling,
// at most 30s). A refusal, or a cabinet that cannot be commanded, ends it at once.
func (r *request) commandInAttempts(ctx workflow.Context, send any, attempts int32) error {
	wait := r.retryInterval()
	once := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: cabinetCommandTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	for attempt := int32(1); ; attempt++ {
		var order cabinet.Order
		if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.PrepareOrder, r.cabinetInput()).Get(ctx, &order); err != nil {
			return err
		}
		err := workflow.ExecuteActivity(once, send, activities.Delivery{Order: order}).Get(ctx, nil)
		if err == nil || temporal.IsCanceledError(err) || final(err) || attempt >= attempts {
			return err
		}
		if err := workflow.Sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, maxCabinetBackoff)
	}
}

// final reports whether a cabinet command's failure is one no other attempt can mend.
func final(err error) bool {
	for _, t := range []string{activities.ErrCabinetRefused, activities.ErrUnknownCabinet, activities.ErrCabinetNotConfigured,
		activities.ErrInvalidData, activities.ErrNotFound} {
		if isApplicationError(err, t) {
			return true
		}
	}
	return false
}

// refusedAfterSilence reports whether a refusal came after an attempt of the same message
// that went unanswered (the activity's second detail): that attempt may have reached the
// cabinet, and the order must be revoked like one that was never acknowledged.
func refusedAfterSilence(err error) bool {
	var appErr *temporal.ApplicationError
	if !isApplicationError(err, activities.ErrCabinetRefused) || !errors.As(err, &appErr) || !appErr.HasDetails() {
		return false
	}
	var (
		reason string
		maybe  bool
	)
	return appErr.Details(&reason, &maybe) == nil && maybe
}
