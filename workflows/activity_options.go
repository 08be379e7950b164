package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis/activities"
)

// dbCtx is for activities that only touch Postgres. They retry without a cap: an outage must
// delay a request, never lose or half-apply it, and every write is idempotent.
func dbCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        500 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			NonRetryableErrorTypes: []string{activities.ErrInsufficientStock},
		},
	})
}

// localCtx is for the steps that record a request (Admit, RecordStep): short, idempotent
// database transactions run as local activities, in the workflow task that decides them, so
// they cost no server round trip. Like dbCtx they retry without a cap: the schedule-to-close
// bound is only there because a local activity's defaults to its start-to-close timeout,
// which would end the retries of an outage after 15 seconds.
func localCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    15 * time.Second,
		ScheduleToCloseTimeout: 10 * 365 * 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    500 * time.Millisecond,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
		},
	})
}

func isApplicationError(err error, errType string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == errType
}
