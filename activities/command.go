package activities

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis/internal/obs"
)

// ErrWorkerStopping is the type of the error of a cabinet command that was not begun because
// its worker is stopping: nothing was sent, and the workflow's next attempt runs on another
// worker.
const ErrWorkerStopping = "WorkerStopping"

// command runs one cabinet command (for an HL7 cabinet, one MLLP round trip) in a span of its
// own, "cabinet <name>", carrying the cabinet's code and the request's id (never the order's
// patient). A command begun runs to its end: the cabinet's acknowledgment timeout is shorter
// than the worker's stop timeout (PYXIS_CABINET_ACK_TIMEOUT < PYXIS_SHUTDOWN_TIMEOUT), so a
// stopping worker does not cut it short. One that has not begun when the worker starts
// stopping (activity.GetWorkerStopChannel) is not sent from here.
func command(ctx context.Context, name, cabinetCode, requestID string, send func(context.Context) error) error {
	if activity.IsActivity(ctx) {
		select {
		case <-activity.GetWorkerStopChannel(ctx):
			return temporal.NewApplicationError(
				fmt.Sprintf("cabinet %s: %s not sent: the worker is stopping", cabinetCode, name), ErrWorkerStopping)
		default:
		}
	}
	attrs := []attribute.KeyValue{obs.AttrCabinet.String(cabinetCode), obs.AttrCommand.String(name)}
	if requestID != "" {
		attrs = append(attrs, obs.AttrWorkflowID.String(requestID))
	}
	ctx, span := obs.StartSpan(ctx, "cabinet "+name, attrs...)
	err := send(ctx)
	obs.End(span, err)
	return err
}
