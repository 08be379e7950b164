package obs

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Keys of the identifiers on every log line.
const (
	KeyRequestID  = "request_id"
	KeyActor      = "actor"
	KeyWorkflowID = "workflow_id"
	KeyRunID      = "run_id"
	KeyTraceID    = "trace_id"
	KeySpanID     = "span_id"
)

// sdkKeys renames the identifiers the Temporal SDK puts on its lines (WorkflowID, RunID, and
// the TraceID and SpanID of its OpenTelemetry interceptor) to the keys the rest of the system
// logs them under, so one query finds a workflow's lines in the api's and the worker's logs.
var sdkKeys = map[string]string{
	"WorkflowID": KeyWorkflowID,
	"RunID":      KeyRunID,
	"TraceID":    KeyTraceID,
	"SpanID":     KeySpanID,
}

// seen bits: which identifiers a line already has.
const (
	hasRequestID = 1 << iota
	hasActor
	hasWorkflowID
	hasTraceID
)

func bit(key string) uint8 {
	switch key {
	case KeyRequestID:
		return hasRequestID
	case KeyActor:
		return hasActor
	case KeyWorkflowID:
		return hasWorkflowID
	case KeyTraceID:
		return hasTraceID
	}
	return 0
}

// Handler adds the identifiers of the context to every line: request_id, actor and
// workflow_id from the Fields on it (Start), trace_id from its span. It renames the Temporal
// SDK's WorkflowID, RunID, TraceID and SpanID to workflow_id, run_id, trace_id and span_id. An
// identifier a line already carries is not added twice.
type Handler struct {
	next    slog.Handler
	has     uint8
	grouped bool
}

// NewHandler returns a Handler writing to next.
func NewHandler(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled reports whether next handles records of the level.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// WithAttrs returns a handler whose lines carry as.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	has := h.has
	for i, a := range as {
		out[i] = h.rename(a)
		if !h.grouped {
			has |= bit(out[i].Key)
		}
	}
	return &Handler{next: h.next.WithAttrs(out), has: has, grouped: h.grouped}
}

// WithGroup returns a handler whose further attributes go in the group.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Handler{next: h.next.WithGroup(name), has: h.has, grouped: true}
}

// Handle writes r with the context's identifiers.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	has := h.has
	r.Attrs(func(a slog.Attr) bool {
		a = h.rename(a)
		has |= bit(a.Key)
		nr.AddAttrs(a)
		return true
	})
	if ctx != nil {
		requestID, actor, workflowID := FromContext(ctx).Get()
		add := func(b uint8, key, v string) {
			if v != "" && has&b == 0 {
				nr.AddAttrs(slog.String(key, v))
			}
		}
		add(hasRequestID, KeyRequestID, requestID)
		add(hasActor, KeyActor, actor)
		add(hasWorkflowID, KeyWorkflowID, workflowID)
		if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
			add(hasTraceID, KeyTraceID, sc.TraceID().String())
		}
	}
	return h.next.Handle(ctx, nr)
}

func (h *Handler) rename(a slog.Attr) slog.Attr {
	if h.grouped {
		return a
	}
	key, ok := sdkKeys[a.Key]
	if !ok {
		return a
	}
	if a.Value.Kind() == slog.KindAny {
		// The SDK's interceptor logs trace.TraceID and trace.SpanID values: hex strings.
		return slog.String(key, fmt.Sprint(a.Value.Any()))
	}
	return slog.Attr{Key: key, Value: a.Value}
}
