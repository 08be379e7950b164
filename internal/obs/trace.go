package obs

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName names the spans the system makes itself (cabinet commands, report intake).
const TracerName = "github.com/medreq/pyxis"

// Span attributes of the system. They carry identifiers only, never patient data.
const (
	// AttrRequestID is the X-Request-ID of an HTTP request.
	AttrRequestID = attribute.Key("pyxis.request_id")
	// AttrActor is the id of the user or cabinet an action is done for.
	AttrActor = attribute.Key("pyxis.actor")
	// AttrWorkflowID is a medication request's id, its workflow's id.
	AttrWorkflowID = attribute.Key("pyxis.workflow_id")
	// AttrCabinet is a cabinet's code.
	AttrCabinet = attribute.Key("pyxis.cabinet")
	// AttrCommand is what a cabinet command does: authorize, revoke, item.
	AttrCommand = attribute.Key("pyxis.cabinet.command")
	// AttrReportKind is the kind of a cabinet report (vend, count, load, ...).
	AttrReportKind = attribute.Key("pyxis.report.kind")
	// AttrControlID is the HL7 message control id (MSH-10) of a message.
	AttrControlID = attribute.Key("hl7.control_id")
	// AttrAck is the acknowledgment code of an HL7 answer (AA, AE, AR, CA, CE, CR).
	AttrAck = attribute.Key("hl7.ack")
)

// StartSpan starts a span of the system's tracer (the global TracerProvider's). Without a
// configured provider it costs next to nothing.
func StartSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return otel.Tracer(TracerName).Start(ctx, name, trace.WithAttributes(attrs...))
}

// End ends span, marking it failed when err is not nil. Only the error's type of failure is
// recorded as the status, not its text: error texts may quote what a peer sent.
func End(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, "failed")
	}
	span.End()
}
