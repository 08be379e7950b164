package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/cabinet"
)

// A cabinet command is sent in attempts the workflow counts itself: each attempt first reads
// the order from the database (PrepareOrder, a local activity retried like any database
// step), then sends it once (DispenseOrder, WithdrawOrder). So only the cabinet's own failures
// spend the command's attempts; a database outage delays the command instead.

// authorize sends the dispense authorization within the request's cabinet attempts.
func (r *request) authorize(ctx workflow.Context) error {
	return r.command(ctx, a.DispenseOrder, r.in.Policy.CabinetAttempts)
}

// withdrawAuthorization withdraws the authorization, in three attempts whatever the policy.
func (r *request) withdrawAuthorization(ctx workflow.Context) error {
	return r.command(ctx, a.WithdrawOrder, 3)
}

// command prepares and sends one cabinet command in up to attempts attempts, waiting the
// policy's back-off between them (doubling, at most 30s). A refusal, or a cabinet that
// cannot be commanded, ends it at once.
func (r *request) command(ctx workflow.Context, send any, attempts int32) error {
	wait := r.in.Policy.CabinetRetryInterval
	if wait <= 0 {
		wait = time.Second
	}
	once := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	for attempt := int32(1); ; attempt++ {
		var order cabinet.Order
		if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.PrepareOrder, r.cabinetInput()).Get(ctx, &order); err != nil {
			return err
		}
		err := workflow.ExecuteActivity(once, send, order).Get(ctx, nil)
		if err == nil || temporal.IsCanceledError(err) || final(err) || attempt >= attempts {
			return err
		}
		if err := workflow.Sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, 30*time.Second)
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
