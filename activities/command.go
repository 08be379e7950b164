package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/internal/metrics"
	"github.com/medreq/pyxis/internal/obs"
)

// ErrWorkerStopping is the type of the error of a cabinet command that was not begun because
// its worker is stopping: nothing was sent, and the workflow's next attempt runs on another
// worker.
const ErrWorkerStopping = "WorkerStopping"

// command runs one cabinet command (for an HL7 cabinet, one MLLP round trip) in a span of its
// own, "cabinet <name>", carrying the cabinet's code and the request's id (never the order's
// patient), and counts it with its acknowledgment code, outcome and latency (every attempt:
// pyxis_cabinet_commands_total, pyxis_cabinet_command_duration_seconds,
// pyxis_cabinet_reachable). A command begun runs to its end: the cabinet's acknowledgment
// timeout is shorter than the worker's stop timeout (PYXIS_CABINET_ACK_TIMEOUT <
// PYXIS_SHUTDOWN_TIMEOUT), so a stopping worker does not cut it short. One that has not begun
// when the worker starts stopping (activity.GetWorkerStopChannel) is not sent from here.
func (a *Activities) command(ctx context.Context, name, cabinetCode, requestID string, send func(context.Context) error) (ack string, err error) {
	if activity.IsActivity(ctx) {
		select {
		case <-activity.GetWorkerStopChannel(ctx):
			return "", temporal.NewApplicationError(
				fmt.Sprintf("cabinet %s: %s not sent: the worker is stopping", cabinetCode, name), ErrWorkerStopping)
		default:
		}
	}
	attrs := []attribute.KeyValue{obs.AttrCabinet.String(cabinetCode), obs.AttrCommand.String(name)}
	if requestID != "" {
		attrs = append(attrs, obs.AttrWorkflowID.String(requestID))
	}
	ctx, span := obs.StartSpan(ctx, "cabinet "+name, attrs...)
	// The driver tells the acknowledgment code it got, which an error does not always carry.
	ctx = cabinet.WithCommandTrace(ctx, &cabinet.CommandTrace{Acknowledged: func(code string) { ack = code }})
	start := time.Now()
	err = send(ctx)
	a.Metrics.Observe(metrics.CabinetCommand{
		Cabinet: cabinetCode, Command: name, Ack: ack, Outcome: commandOutcome(err, ack), Duration: time.Since(start),
		Transport: ack == "" && errors.Is(err, cabinet.ErrUnreachable),
	})
	obs.End(span, err)
	return ack, err
}
