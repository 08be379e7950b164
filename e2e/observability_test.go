package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/service"
)

var (
	// e2eTP is the tracer provider of the in-process stack: it samples everything, and a test
	// registers a span processor on it to see the spans.
	e2eTP *sdktrace.TracerProvider
	// e2eLogs captures the in-process stack's log lines (the API's, the worker's, the SDK's)
	// while a test asks for them; e2eLogger writes to it as `pyxis api` and `pyxis worker`
	// log: JSON, with the context's identifiers.
	e2eLogs   = &logCapture{}
	e2eLogger = service.NewLogger(e2eLogs, "json", slog.LevelInfo, false)
)

// installTestTracing sets OpenTelemetry's globals as service.SetupTracing does with an exporter.
func installTestTracing() {
	e2eTP = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	otel.SetTracerProvider(e2eTP)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
}

// logCapture keeps what is written to it between start and stop, and drops the rest.
type logCapture struct {
	mu  sync.Mutex
	on  bool
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.on {
		c.buf.Write(p)
	}
	return len(p), nil
}

func (c *logCapture) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = true
	c.buf.Reset()
}

func (c *logCapture) stop() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	out := c.buf.String()
	c.buf.Reset()
	return out
}

// doHeaders sends a JSON request and returns the status, the answer's headers and its body.
func (c *apiClient) doHeaders(method, path, token string, body any) (int, http.Header, map[string]any) {
	c.t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(c.t, err)
	req, err := http.NewRequest(method, c.url+path, bytes.NewReader(raw))
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	var out map[string]any
	require.NoError(c.t, json.Unmarshal(b, &out), "body: %s", b)
	return resp.StatusCode, resp.Header, out
}

// A patient whose data must never reach a log line or a span: unusual enough that finding it
// anywhere can only mean it leaked.
const (
	phiMRN    = "MRN-QZ7X4K9W"
	phiFamily = "Vandermeulenhoek"
	phiGiven  = "Philippadora"
)

// containsPHI reports which of the patient's data s holds.
func containsPHI(s string) []string {
	var found []string
	for _, v := range []string{phiMRN, phiFamily, phiGiven} {
		if strings.Contains(strings.ToLower(s), strings.ToLower(v)) {
			found = append(found, v)
		}
	}
	return found
}

// One request's whole lifecycle over HL7 (the name goes out in PID-5 of the RDE, the
// cabinet's vend report comes back over MLLP): its spans form one trace, the one whose id
// the API answered in X-Trace-ID, from the API through the workflow and its activities to
// Postgres and the cabinet command; no span and no log line holds the patient's MRN or name;
// and the log lines of its handling carry request_id, trace_id, actor and workflow_id.
func TestTraceAndLogsOfOneRequest(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	e2eTP.RegisterSpanProcessor(rec)
	t.Cleanup(func() { e2eTP.UnregisterSpanProcessor(rec) })
	// Another test may have run `pyxis token` in-process, which sets the default logger.
	prev := slog.Default()
	slog.SetDefault(e2eLogger)
	t.Cleanup(func() { slog.SetDefault(prev) })
	e2eLogs.start()
	t.Cleanup(func() { e2eLogs.stop() })

	c := newAPI(t, testConfig())
	cab := c.hl7Cabinet(cabsim.FormatRDS, 200*time.Millisecond, 5)
	nurse := c.token("nurse-trace", pyxis.RoleNurse)
	status, hdr, body := c.doHeaders("POST", "/v1/requests", nurse, map[string]any{
		"cabinet_id": cab.cabinetID, "priority": "stat",
		"patient": map[string]any{"mrn": phiMRN, "bed": "7C", "name": map[string]any{"family": phiFamily, "given": phiGiven}},
		"items":   []map[string]any{{"medication_id": cab.meds[0], "quantity": 1}},
	})
	require.Equal(t, http.StatusCreated, status, body)
	id := body["id"].(string)
	traceID := hdr.Get(api.TraceIDHeader)
	require.Len(t, traceID, 32, "the answer names its trace")
	httpRequestID := hdr.Get("X-Request-ID")
	require.NotEmpty(t, httpRequestID)
	c.waitStatus(id, nurse, "awaiting_approval")
	c.approveOnce(id)
	state := c.waitStatus(id, nurse, "dispensed")
	assert.NotEmpty(t, state.Patient.Mrn, "the request does hold the MRN: it must go nowhere but its owners")

	// The workflow's span ends when the workflow does.
	var spans []sdktrace.ReadOnlySpan
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		spans = spansOf(rec.Ended(), traceID)
		assert.NotNil(ct, findSpan(spans, "RunWorkflow:MedicationRequest"))
	}, 30*time.Second, 100*time.Millisecond, "the workflow's span ends in the request's trace")
	var server sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.InstrumentationScope().Name == otelgin.ScopeName && s.SpanKind() == trace.SpanKindServer && !s.Parent().IsValid() {
			server = s
		}
	}
	require.NotNil(t, server, "the API's server span is the root; have %v", names(spans))
	assert.Equal(t, "POST /v1/requests", server.Name())
	assert.Contains(t, attrs(server), "pyxis.request_id="+httpRequestID)
	assert.Contains(t, attrs(server), "pyxis.actor=nurse-trace")
	assert.Contains(t, attrs(server), "pyxis.workflow_id="+id)
	for _, name := range []string{"StartWorkflow:MedicationRequest", "RunWorkflow:MedicationRequest",
		"RunActivity:DispenseOrder", "cabinet authorize"} {
		assert.NotNil(t, findSpan(spans, name), "span %s in the trace; have %v", name, names(spans))
	}
	if cmd := findSpan(spans, "cabinet authorize"); assert.NotNil(t, cmd) {
		parent := byID(spans, cmd.Parent().SpanID())
		if assert.NotNil(t, parent) {
			assert.Equal(t, "RunActivity:DispenseOrder", parent.Name())
		}
		assert.Contains(t, attrs(cmd), "pyxis.cabinet="+cab.cabinetCode)
		assert.Contains(t, attrs(cmd), "hl7.ack=AA")
	}
	queries := 0
	for _, s := range spans {
		if s.InstrumentationScope().Name == "github.com/exaring/otelpgx" && strings.HasPrefix(s.Name(), "query ") {
			queries++
			assert.Regexp(t, `^query [A-Za-z]+$`, s.Name(), "named after the sqlc query, not the whole statement")
			p := byID(spans, s.Parent().SpanID())
			require.NotNil(t, p, "query span %s has its parent in the trace", s.Name())
			assert.NotContains(t, attrs(s), "pgx.query.parameters", "no argument values")
		}
	}
	assert.Positive(t, queries, "Postgres queries in the trace; have %v", names(spans))
	// The cabinet's report is a trace of its own, started at the listener.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var report sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.Name() == "cabinet report" && strings.Contains(attrs(s), "pyxis.workflow_id="+id) {
				report = s
			}
		}
		assert.NotNil(ct, report, "the vend report's span")
	}, 10*time.Second, 100*time.Millisecond)

	for _, s := range rec.Ended() {
		text := s.Name() + " " + attrs(s) + " " + s.Status().Description
		for _, e := range s.Events() {
			text += " " + e.Name
			for _, a := range e.Attributes {
				text += " " + string(a.Key) + "=" + a.Value.Emit()
			}
		}
		assert.Empty(t, containsPHI(text), "span %s holds patient data: %s", s.Name(), text)
	}

	logs := e2eLogs.stop()
	require.Empty(t, containsPHI(logs), "patient data in the logs:\n%s", logs)
	var lines []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "a JSON line: %s", l)
		lines = append(lines, m)
	}
	find := func(pred func(m map[string]any) bool) map[string]any {
		for _, m := range lines {
			if pred(m) {
				return m
			}
		}
		return nil
	}
	create := find(func(m map[string]any) bool {
		return m["msg"] == "http request" && m["method"] == "POST" && m["path"] == "/v1/requests" && m["request_id"] == httpRequestID
	})
	require.NotNil(t, create, "the access line of the create request:\n%s", logs)
	assert.Equal(t, traceID, create["trace_id"])
	assert.Equal(t, "nurse-trace", create["actor"])
	assert.Equal(t, id, create["workflow_id"])
	activityLine := find(func(m map[string]any) bool {
		return m["msg"] == "Cabinet command" && m["Command"] == "authorize" && m["workflow_id"] == id
	})
	require.NotNil(t, activityLine, "the activity's line:\n%s", logs)
	assert.Equal(t, traceID, activityLine["trace_id"], "the activity's line is in the request's trace")
	assert.NotNil(t, find(func(m map[string]any) bool { return m["msg"] == "Request finished" && m["workflow_id"] == id }),
		"the workflow's line carries workflow_id")
	seen := 0
	for _, m := range lines {
		raw, _ := json.Marshal(m)
		if !strings.Contains(string(raw), id) {
			continue
		}
		seen++
		assert.Equal(t, id, m["workflow_id"], "a line about the request carries workflow_id: %s", raw)
		assert.NotEmpty(t, m["trace_id"], "a line about the request carries trace_id: %s", raw)
		if m["msg"] == "http request" {
			assert.NotEmpty(t, m["request_id"], "%s", raw)
			assert.NotEmpty(t, m["actor"], "%s", raw)
		}
	}
	assert.Greater(t, seen, 5, "the request's lines were captured")
}

func spansOf(all []sdktrace.ReadOnlySpan, traceID string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range all {
		if s.SpanContext().TraceID().String() == traceID {
			out = append(out, s)
		}
	}
	return out
}

// findSpan returns the first span named name.
func findSpan(spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

func byID(spans []sdktrace.ReadOnlySpan, id trace.SpanID) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.SpanContext().SpanID() == id {
			return s
		}
	}
	return nil
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

// attrs renders a span's attributes as "key=value" words.
func attrs(s sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, a := range s.Attributes() {
		b.WriteString(string(a.Key) + "=" + a.Value.Emit() + " ")
	}
	return b.String()
}
