package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	sdklog "go.temporal.io/sdk/log"
)

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		out = append(out, m)
	}
	buf.Reset()
	return out
}

func TestHandlerAddsTheContextsIdentifiers(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	ctx, _ = Start(ctx)
	SetRequestID(ctx, "req-1")
	log.InfoContext(ctx, "before the actor is known")
	SetActor(ctx, "nurse-1")
	SetWorkflowID(ctx, "medreq-X")
	log.InfoContext(ctx, "after", "k", "v")
	log.InfoContext(ctx, "its own request_id wins", "request_id", "explicit")
	log.Info("no context")

	got := lines(t, &buf)
	require.Len(t, got, 4)
	assert.Equal(t, "req-1", got[0]["request_id"])
	assert.Equal(t, sc.TraceID().String(), got[0]["trace_id"])
	assert.NotContains(t, got[0], "actor")
	assert.Equal(t, "nurse-1", got[1]["actor"])
	assert.Equal(t, "medreq-X", got[1]["workflow_id"])
	assert.Equal(t, "v", got[1]["k"])
	assert.Equal(t, "explicit", got[2]["request_id"])
	assert.NotContains(t, got[3], "request_id")
	assert.NotContains(t, got[3], "trace_id")

	// Setting fields on a context without them does nothing, and does not panic.
	SetActor(context.Background(), "x")
}

// The Temporal SDK's lines (through its slog adapter) carry workflow_id, run_id, trace_id and
// span_id under the same keys as the rest of the system, once each.
func TestHandlerRenamesTheSDKsKeys(t *testing.T) {
	var buf bytes.Buffer
	logger := sdklog.NewStructuredLogger(slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))))
	tid := trace.TraceID{0xa, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	l := sdklog.With(logger, "Namespace", "default", "WorkflowID", "medreq-Y", "RunID", "run-1")
	l = sdklog.With(l, "TraceID", tid, "SpanID", trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	l.Info("Authorizing dispense", "RequestID", "medreq-Y")
	got := lines(t, &buf)
	require.Len(t, got, 1)
	assert.Equal(t, "medreq-Y", got[0]["workflow_id"])
	assert.Equal(t, "run-1", got[0]["run_id"])
	assert.Equal(t, tid.String(), got[0]["trace_id"])
	assert.Equal(t, "0102030405060708", got[0]["span_id"])
	assert.Equal(t, "default", got[0]["Namespace"])
	assert.NotContains(t, got[0], "WorkflowID")
	assert.NotContains(t, got[0], "TraceID")
}
