package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
)

// families gathers the registry into name -> family.
func families(t *testing.T, r *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := r.Gatherer().Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value reads a counter or gauge.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	require.NoError(t, m.Write(&out))
	if out.Counter != nil {
		return out.GetCounter().GetValue()
	}
	return out.GetGauge().GetValue()
}

// labels returns a metric's labels as a map.
func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// find returns the metric of a family whose labels include want.
func find(mf *dto.MetricFamily, want map[string]string) *dto.Metric {
	for _, m := range mf.GetMetric() {
		got := labels(m)
		match := true
		for k, v := range want {
			match = match && got[k] == v
		}
		if match {
			return m
		}
	}
	return nil
}

func TestHTTPMiddlewareLabelsByRouteTemplate(t *testing.T) {
	gin.SetMode(gin.TestMode)
	reg := New()
	r := gin.New()
	r.Use(reg.HTTP().Middleware(), gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, _ any) { c.AbortWithStatus(http.StatusInternalServerError) }))
	r.HandleMethodNotAllowed = true
	r.GET("/v1/requests/:id", func(c *gin.Context) { c.Status(http.StatusOK) })
	r.POST("/v1/requests/:id/approve", func(c *gin.Context) { c.Status(http.StatusAccepted) })
	r.GET("/boom", func(*gin.Context) { panic("boom") })
	r.NoRoute(func(c *gin.Context) { c.Status(http.StatusNotFound) })

	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/requests/medreq-01HZX"}, {"GET", "/v1/requests/medreq-01HZY"},
		{"POST", "/v1/requests/medreq-01HZX/approve"},
		{"GET", "/v1/patients/MRN-778899"}, {"GET", "/nothing/here"},
		{"PUT", "/v1/requests/medreq-01HZX"}, // 405
		{"BREW", "/v1/requests/x"},           // a method nobody defines
		{"GET", "/boom"},
	} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}

	mf := families(t, reg)[HTTPRequests.Name]
	require.NotNil(t, mf)
	count := func(want map[string]string) float64 {
		m := find(mf, want)
		if m == nil {
			return 0
		}
		return m.GetCounter().GetValue()
	}
	assert.Equal(t, 2.0, count(map[string]string{"route": "/v1/requests/:id", "method": "GET", "status": "200"}))
	assert.Equal(t, 1.0, count(map[string]string{"route": "/v1/requests/:id/approve", "method": "POST", "status": "202"}))
	assert.Equal(t, 2.0, count(map[string]string{"route": UnmatchedRoute, "method": "GET", "status": "404"}))
	assert.Equal(t, 1.0, count(map[string]string{"route": UnmatchedRoute, "method": "PUT", "status": "405"}))
	assert.Equal(t, 1.0, count(map[string]string{"route": UnmatchedRoute, "method": "other"}))
	assert.Equal(t, 1.0, count(map[string]string{"route": "/boom", "method": "GET", "status": "500"}), "a recovered panic counts as the 500 it was answered")
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			assert.NotContains(t, l.GetValue(), "medreq-", "no raw path in a label")
			assert.NotContains(t, l.GetValue(), "MRN", "no raw path in a label")
			assert.NotContains(t, l.GetValue(), "BREW")
		}
	}
	hist := families(t, reg)[HTTPDuration.Name]
	require.NotNil(t, hist)
	assert.Equal(t, uint64(2), find(hist, map[string]string{"route": "/v1/requests/:id", "method": "GET"}).GetHistogram().GetSampleCount())
}

func TestRegistryGroupsRegisterOnce(t *testing.T) {
	reg := New()
	assert.Same(t, reg.HTTP(), reg.HTTP())
	assert.Same(t, reg.Requests(), reg.Requests())
	assert.NotPanics(t, func() { reg.WatchStore(fakeGauges{}); reg.WatchStore(fakeGauges{}) })

	var none *Registry
	assert.Nil(t, none.HTTP())
	assert.Nil(t, none.Temporal(), "no registry: the SDK gets no handler")
	// Every group is a no-op when nil.
	none.Requests().Observe(Transition{Status: "submitted"})
	none.Cabinets().Observe(CabinetCommand{})
	none.Reports().Observe("V", ReportAccepted)
}

func TestRequestsCountTransitions(t *testing.T) {
	reg := New()
	m := reg.Requests()
	created := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	awaiting := created.Add(2 * time.Second)
	tr := func(from, to, code string, at time.Duration) Transition {
		return Transition{RequestID: "medreq-1", From: from, Status: to, ReasonCode: code, At: created.Add(at),
			Priority: "stat", Created: created, AwaitingSince: awaiting}
	}
	m.Observe(tr("", "submitted", "", 0))
	m.Observe(tr("submitted", "awaiting_approval", "", 2*time.Second))
	m.Observe(tr("awaiting_approval", "approved", "", 92*time.Second))
	m.Observe(tr("approved", "ready_at_cabinet", "", 93*time.Second))
	m.Observe(tr("ready_at_cabinet", "dispensed", "", 400*time.Second))
	m.Observe(tr("submitted", "failed", "insufficient_stock", time.Second))
	m.Observe(tr("awaiting_approval", "rejected", "", time.Minute))

	assert.Equal(t, 1.0, value(t, m.started.WithLabelValues("stat")))
	assert.Equal(t, 1.0, value(t, m.ended.WithLabelValues("dispensed", "stat")))
	assert.Equal(t, 1.0, value(t, m.ended.WithLabelValues("failed", "stat")))
	assert.Equal(t, 1.0, value(t, m.ended.WithLabelValues("rejected", "stat")))
	assert.Equal(t, 1.0, value(t, m.refused.WithLabelValues()))
	fams := families(t, reg)
	approval := find(fams[ApprovalWait.Name], map[string]string{"priority": "stat"}).GetHistogram()
	assert.Equal(t, uint64(1), approval.GetSampleCount())
	assert.InDelta(t, 90, approval.GetSampleSum(), 1e-9, "from admission to approval")
	life := fams[RequestLifecycle.Name].GetMetric()[0].GetHistogram()
	assert.Equal(t, uint64(1), life.GetSampleCount())
	assert.InDelta(t, 400, life.GetSampleSum(), 1e-9, "from submission to dispensing")
}

func TestCabinetsByAckAndReachability(t *testing.T) {
	reg := New()
	m := reg.Cabinets()
	m.Observe(CabinetCommand{Cabinet: "PYX-1", Command: CommandAuthorize, Ack: "AA", Outcome: OutcomeAccepted, Duration: 20 * time.Millisecond})
	m.Observe(CabinetCommand{Cabinet: "PYX-2", Command: CommandAuthorize, Ack: "AR", Outcome: OutcomeNotNow})
	m.Observe(CabinetCommand{Cabinet: "PYX-3", Command: CommandRevoke, Outcome: OutcomeUnreachable, Transport: true})
	// Refused before it was sent: no acknowledgment, and nothing said of reachability.
	m.Observe(CabinetCommand{Cabinet: "PYX-4", Command: CommandItemUpdate, Outcome: OutcomeRefused})

	assert.Equal(t, 1.0, value(t, m.commands.WithLabelValues(CommandAuthorize, "AA")))
	assert.Equal(t, 1.0, value(t, m.commands.WithLabelValues(CommandAuthorize, "AR")))
	assert.Equal(t, 1.0, value(t, m.commands.WithLabelValues(CommandRevoke, NoAck)))
	assert.Equal(t, 1.0, value(t, m.reachable.WithLabelValues("PYX-1")))
	assert.Equal(t, 1.0, value(t, m.reachable.WithLabelValues("PYX-2")), "a cabinet that answers not now is reachable")
	assert.Equal(t, 0.0, value(t, m.reachable.WithLabelValues("PYX-3")))
	assert.Nil(t, find(families(t, reg)[CabinetReachable.Name], map[string]string{"cabinet": "PYX-4"}))
}

func TestReportsBoundTheTypeLabel(t *testing.T) {
	reg := New()
	m := reg.Reports()
	m.Observe("V", ReportAccepted)
	m.Observe("<script>", ReportRefused)
	assert.Equal(t, 1.0, value(t, m.reports.WithLabelValues("vend", ReportAccepted)))
	assert.Equal(t, 1.0, value(t, m.reports.WithLabelValues("other", ReportRefused)))
}

func TestTemporalHandlerNames(t *testing.T) {
	reg := New()
	var h client.MetricsHandler = reg.Temporal()
	root := h.WithTags(map[string]string{"namespace": "default", "client_name": "temporal_go", "task_queue": "none"})
	w := root.WithTags(map[string]string{"task_queue": "medication-requests", "worker_type": "WorkflowWorker"})
	w.Timer("temporal_workflow_task_schedule_to_start_latency").Record(30 * time.Millisecond)
	w.Timer("temporal_workflow_task_schedule_to_start_latency").Record(70 * time.Millisecond)
	w.WithTags(map[string]string{"poller_type": "workflow_task"}).Gauge("temporal_num_pollers").Update(2)
	w.Counter("temporal_activity_execution_failed").Inc(1)
	root.WithTags(map[string]string{"operation": "StartWorkflowExecution", "status_code": "UNAVAILABLE"}).Counter("temporal_request_failure").Inc(3)
	unused := w.Gauge("temporal_worker_task_slots_available")
	_ = unused

	fams := families(t, reg)
	lat := fams[TemporalWorkflowTaskScheduleToStart.Name]
	require.NotNil(t, lat, "timers are histograms in seconds")
	assert.Equal(t, dto.MetricType_HISTOGRAM, lat.GetType())
	m := find(lat, map[string]string{"task_queue": "medication-requests", "worker_type": "WorkflowWorker", "namespace": "default"})
	require.NotNil(t, m, "WithTags overrides a tag and keeps the others")
	assert.Equal(t, uint64(2), m.GetHistogram().GetSampleCount())
	assert.InDelta(t, 0.1, m.GetHistogram().GetSampleSum(), 1e-9)
	assert.Equal(t, 2.0, find(fams[TemporalPollers.Name], map[string]string{"poller_type": "workflow_task"}).GetGauge().GetValue())
	assert.Equal(t, dto.MetricType_COUNTER, fams[TemporalActivityFailed.Name].GetType())
	assert.Equal(t, 3.0, find(fams[TemporalRequestFailures.Name], map[string]string{"status_code": "UNAVAILABLE"}).GetCounter().GetValue())
	assert.NotContains(t, fams, TemporalSlotsAvailable.Name, "a gauge appears once the SDK sets it, never as a made-up 0")
	for _, d := range Contract {
		if strings.HasPrefix(d.Name, "temporal_") && fams[d.Name] != nil {
			for _, m := range fams[d.Name].GetMetric() {
				for name := range labels(m) {
					assert.True(t, validLabel(name))
				}
			}
		}
	}
}

type fakeGauges struct {
	calls *atomic.Int32
	err   error
}

func (f fakeGauges) Gauges(ctx context.Context, pastDeadline time.Time) (Gauges, error) {
	if f.calls != nil {
		f.calls.Add(1)
	}
	if _, ok := ctx.Deadline(); !ok {
		return Gauges{}, errors.New("no timeout on the query")
	}
	if time.Until(pastDeadline) > -DeadlineGrace+time.Second {
		return Gauges{}, errors.New("the grace is not applied")
	}
	return Gauges{OpenRestockTasks: 3, OpenDiscrepancies: 1, OpenOverrideReviews: 2,
		AwaitingApprovalPastDeadline: 4, ReadyAtCabinetPastDeadline: 5, AuditHeadSeq: 42}, f.err
}

func TestStoreGaugesReadAtScrapeWithCache(t *testing.T) {
	var calls atomic.Int32
	reg := New()
	reg.WatchStore(fakeGauges{calls: &calls})
	g := reg.store
	now := time.Now()
	g.now = func() time.Time { return now }

	fams := families(t, reg)
	assert.Equal(t, 3.0, fams[OpenRestockTasks.Name].GetMetric()[0].GetGauge().GetValue())
	assert.Equal(t, 1.0, fams[OpenDiscrepancies.Name].GetMetric()[0].GetGauge().GetValue())
	assert.Equal(t, 2.0, fams[OpenOverrideReviews.Name].GetMetric()[0].GetGauge().GetValue())
	assert.Equal(t, 42.0, fams[AuditHeadSeq.Name].GetMetric()[0].GetGauge().GetValue())
	assert.Equal(t, 4.0, find(fams[RequestsPastDeadline.Name], map[string]string{"status": "awaiting_approval"}).GetGauge().GetValue())
	assert.Equal(t, 5.0, find(fams[RequestsPastDeadline.Name], map[string]string{"status": "ready_at_cabinet"}).GetGauge().GetValue())
	families(t, reg)
	assert.Equal(t, int32(1), calls.Load(), "a second scrape within the TTL reads the cache")
	now = now.Add(GaugeTTL)
	families(t, reg)
	assert.Equal(t, int32(2), calls.Load(), "after the TTL the store is read again")
}

func TestStoreGaugesLeftOutWhenTheStoreFails(t *testing.T) {
	reg := New()
	reg.WatchStore(fakeGauges{err: errors.New("connection refused")})
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	assert.Equal(t, http.StatusOK, rec.Code, "the rest is still served")
	assert.NotContains(t, rec.Body.String(), OpenRestockTasks.Name)
	assert.Contains(t, rec.Body.String(), "go_goroutines")
}

type fakeAudit struct {
	results chan AuditResult
	froms   chan AuditCheckpoint
}

func (f fakeAudit) VerifyAuditSince(ctx context.Context, from AuditCheckpoint) (AuditResult, error) {
	select {
	case f.froms <- from:
	case <-ctx.Done():
		return AuditResult{}, ctx.Err()
	}
	select {
	case v := <-f.results:
		return v, nil
	case <-ctx.Done():
		return AuditResult{}, ctx.Err()
	}
}

func TestVerifyAuditExportsTheOutcome(t *testing.T) {
	reg := New()
	f := fakeAudit{results: make(chan AuditResult), froms: make(chan AuditCheckpoint)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go reg.VerifyAudit(ctx, f, time.Millisecond)

	assert.Equal(t, AuditCheckpoint{}, <-f.froms, "the first round is a full verification")
	assert.NotContains(t, families(t, reg), AuditChainOK.Name, "absent until a verification ends")
	cp := AuditCheckpoint{ID: 7, Seq: 7, Hash: []byte{1}}
	f.results <- AuditResult{OK: true, Checkpoint: cp}
	assert.Equal(t, cp, <-f.froms, "the next round starts where the last ended")
	assert.Equal(t, 1.0, families(t, reg)[AuditChainOK.Name].GetMetric()[0].GetGauge().GetValue())
	f.results <- AuditResult{OK: false, FirstBrokenID: 3, Reason: "entry 3 was altered"}
	assert.Equal(t, AuditCheckpoint{}, <-f.froms, "after a break, from the beginning")
	assert.Equal(t, 0.0, families(t, reg)[AuditChainOK.Name].GetMetric()[0].GetGauge().GetValue())
}

func TestContractNamesAreUniqueAndKnown(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Contract {
		assert.False(t, seen[d.Name], "%s twice", d.Name)
		seen[d.Name] = true
		assert.NotEmpty(t, d.By, d.Name)
		if strings.HasPrefix(d.Name, "pyxis_") {
			assert.NotEmpty(t, d.Help, d.Name)
			assert.Equal(t, d.Kind == Counter, strings.HasSuffix(d.Name, "_total"), "%s: counters, and only they, end in _total", d.Name)
		}
		got, ok := Lookup(d.Name)
		assert.True(t, ok)
		assert.Equal(t, d.Name, got.Name)
	}
	_, ok := Lookup("pyxis_nothing")
	assert.False(t, ok)
}

// With metrics off (PYXIS_METRICS_ADDR=off) the worker has no registry; its health server
// still serves /metrics, as a 404, instead of a nil dereference at start.
func TestNilRegistryHandlerIsNotFound(t *testing.T) {
	var reg *Registry
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}
