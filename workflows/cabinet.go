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

// durableDelivery is the change id of how the cabinet commands are sent. Runs of v0.1.0 (no
// marker) send each command in attempts the workflow counts itself (commandInAttempts).
// Version 1 (issue 16) sends it as one activity that Temporal retries until the cabinet
// acknowledges it or the withdrawal window closes (send). Version 2, localFirstOrder,
// first sends the authorization in the workflow task that approved it, as a local activity,
// and falls back to version 1's activity only when that attempt fails (issue 20).
const durableDelivery = "durable-cabinet-delivery"

// localFirstOrder is durableDelivery's version that tries the authorization as a local
// activity first (authorize).
const localFirstOrder workflow.Version = 2

// maxCabinetBackoff bounds the wait between attempts of a cabinet command.
const maxCabinetBackoff = 30 * time.Second

// cabinetCommandTimeout bounds one attempt: a connection and an acknowledgment
// (PYXIS_CABINET_ACK_TIMEOUT is at most 20s).
const cabinetCommandTimeout = 30 * time.Second

// firstOrderTimeout bounds the order's first attempt (sendNow), which runs in the workflow
// task that took the approval, so the pharmacist's answer waits for it: a cabinet that
// answers does so in milliseconds, and one that is slow or silent is left to the durable
// delivery, which sends the same message again after the first back-off.
const firstOrderTimeout = 2 * time.Second

// revokeAttemptsAfterWindow are the attempts of a revoke once the window has closed: the
// order's TQ1-8 has ended it at the cabinet already, so the revoke is a courtesy.
const revokeAttemptsAfterWindow = 3

// authorize sends the dispense authorization. Since durableDelivery, the order is prepared
// once, with its times fixed (issued and started now, ending with the withdrawal window),
// and it is retried until the cabinet acknowledges it or the window closes. Since
// localFirstOrder, the first attempt is a local activity (sendNow).
func (r *request) authorize(ctx workflow.Context) error {
	version := workflow.GetVersion(ctx, durableDelivery, workflow.DefaultVersion, localFirstOrder)
	r.durable = version >= 1
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
	backoff, prior := r.retryInterval(), int32(0)
	if version >= localFirstOrder {
		err := r.sendNow(ctx, a.DispenseOrder, order)
		if err == nil || final(err) || temporal.IsCanceledError(err) || r.state.Status == StatusCancelled {
			return err
		}
		r.logger.Info("The cabinet did not take the order at once; it is retried until the window closes", "Error", err)
		// The next attempts keep the schedule an activity's retries would have had: the first
		// back-off, then doubling. The request may be cancelled meanwhile.
		r.delivering = true
		_, werr := workflow.AwaitWithTimeout(ctx, backoff, func() bool { return r.state.Status == StatusCancelled })
		r.delivering = false
		if werr != nil {
			return werr
		}
		if r.state.Status == StatusCancelled {
			return err
		}
		backoff, prior = min(2*backoff, maxCabinetBackoff), 1
	}
	// The order may wait out an outage for as long as the window: meanwhile the request may
	// be cancelled (validateCancel), and the delivery then stops; run revokes what an
	// attempt may have left at the cabinet.
	sendCtx, stop := workflow.WithCancel(ctx)
	defer stop()
	sent := r.send(sendCtx, a.DispenseOrder, order, 0, backoff, prior)
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
	return r.send(ctx, a.WithdrawOrder, order, attempts, r.retryInterval(), 0).Get(ctx, nil)
}

// sendNow makes one attempt of a cabinet command as a local activity, in the workflow task
// that decided it. A cabinet that answers, as it does nearly always, then costs the request
// no activity task and no workflow task of its own: one workflow task takes the approval,
// records it, commands the cabinet and records the authorization. The attempt is bounded by
// firstOrderTimeout; while it runs the request may be cancelled, as while the durable
// delivery runs (validateCancel), though the cancellation is taken only once the attempt
// has ended. A failed attempt is recorded in Postgres like any other (activities.deliver),
// so a refusal that follows it still knows it went unanswered.
func (r *request) sendNow(ctx workflow.Context, send any, order cabinet.Order) error {
	once := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: firstOrderTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	r.delivering = true
	defer func() { r.delivering = false }()
	return workflow.ExecuteLocalActivity(once, send, activities.Delivery{Order: order, CabinetID: r.in.CabinetID}).Get(ctx, nil)
}

// send sends a cabinet command as one activity that Temporal retries with back-off (first
// backoff, doubling, at most maxCabinetBackoff) until it succeeds, is refused, or attempts
// run out; attempts zero retries until the withdrawal window closes; prior attempts were
// made before it (the order's local first attempt), for the count. The attempts are not
// events of the history, which stays the same size through an outage of any length; the
// activity records them in Postgres for the request's view.
func (r *request) send(ctx workflow.Context, send any, order cabinet.Order, attempts int32, backoff time.Duration, prior int32) workflow.Future {
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: cabinetCommandTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    backoff,
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
	in := activities.Delivery{Order: order, CabinetID: r.in.CabinetID, PriorAttempts: prior}
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
