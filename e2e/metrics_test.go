package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/internal/metrics"
	"github.com/medreq/pyxis/service"
	"github.com/medreq/pyxis/workflows"
)

// scrape is one read of a /metrics endpoint.
type scrape struct {
	text     string
	families map[string]*dto.MetricFamily
}

func scrapeMetrics(t assert.TestingT, url string) scrape {
	resp, err := http.Get(url + "/metrics")
	if !assert.NoError(t, err) {
		return scrape{}
	}
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	raw, err := io.ReadAll(resp.Body)
	assert.NoError(t, err)
	var parser expfmt.TextParser
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(raw)))
	assert.NoError(t, err, "the exposition parses")
	return scrape{text: string(raw), families: fams}
}

// value sums the series of name whose labels include want: a counter's or gauge's value, or
// for name_count and name_sum of a histogram its sample count or sum.
func (s scrape) value(name string, want map[string]string) float64 {
	fam, suffix := s.families[name], ""
	if fam == nil {
		for _, sfx := range []string{"_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, sfx); ok && s.families[base] != nil {
				fam, suffix = s.families[base], sfx
			}
		}
	}
	var sum float64
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case suffix == "_count":
			sum += float64(m.GetHistogram().GetSampleCount())
		case suffix == "_sum":
			sum += m.GetHistogram().GetSampleSum()
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
			return false
		}
	}
	return true
}

func labelNames(m *dto.Metric) []string {
	var out []string
	for _, l := range m.GetLabel() {
		out = append(out, l.GetName())
	}
	sort.Strings(out)
	return out
}

// One request's whole lifecycle over HL7 (create → approve → a cabinet that first answers
// "not now" → AA → the withdrawal report → dispensed), with the api's and the worker's
// /metrics scraped before and after: the domain counters, histograms and the SDK's metrics
// moved, in the process that owns them, under the contract's names and labels; and every
// metric of the contract (what the dashboard and alerts use) is exposed by some process.
func TestMetricsFollowARequestThroughItsLifecycle(t *testing.T) {
	cfg := testConfig()
	cfg.Metrics = e2e.apiMetrics
	cfg.AuditVerifyInterval = time.Hour // the first verification runs at once
	cfg.CabinetRetryInterval = 500 * time.Millisecond
	c := newAPI(t, cfg)
	cab := c.hl7Cabinet(cabsim.FormatRDS, 200*time.Millisecond, 6)
	nurse := c.token("nurse-metrics", pyxis.RoleNurse)
	apiURL, workerURL := c.url, e2e.workerMetricsURL

	apiBefore, workerBefore := scrapeMetrics(t, apiURL), scrapeMetrics(t, workerURL)
	delta := func(after, before scrape, name string, labels map[string]string) float64 {
		return after.value(name, labels) - before.value(name, labels)
	}

	id := c.create(cab.fixture, nurse, 2)
	c.waitStatus(id, nurse, "awaiting_approval")
	probeActivityScheduleToStart(t)
	// The cabinet answers the first authorization AR (not now); the workflow tries again.
	busy, err := cabsim.ParseFaults([]string{"busy"})
	require.NoError(t, err)
	cab.sim.SetFaults(busy)
	c.approveOnce(id)
	notNow := map[string]string{"command": metrics.CommandAuthorize, "ack": "AR"}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.GreaterOrEqual(ct, delta(scrapeMetrics(ct, workerURL), workerBefore, metrics.CabinetCommands.Name, notNow), 1.0)
	}, 15*time.Second, 50*time.Millisecond, "the worker counts the AR")
	cab.sim.SetFaults(cabsim.Faults{})
	c.waitStatus(id, nurse, "dispensed")
	// An approval of a request that does not exist: 404, after the api's Temporal client got
	// NOT_FOUND for the update (temporal_request_failure_total).
	status, body := c.do("POST", "/v1/requests/medreq-01ARZ3NDEKTSV4RRFFQ69G5FAV/approve", c.token("pharm-late", pyxis.RolePharmacist), nil)
	require.Equal(t, http.StatusNotFound, status, body)
	status, _ = c.malformed().do("GET", "/v1/no/such/route/"+id, nurse, nil)
	require.Equal(t, http.StatusNotFound, status)

	stat := map[string]string{"priority": "stat"}
	var apiAfter, workerAfter scrape
	defer func() {
		if t.Failed() {
			t.Logf("api:\n%s\nworker:\n%s", grepLines(apiAfter.text, "pyxis_", "temporal_request"), grepLines(workerAfter.text, "pyxis_", "temporal_activity", "temporal_workflow_task_sch"))
		}
	}()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		apiAfter, workerAfter = scrapeMetrics(ct, apiURL), scrapeMetrics(ct, workerURL)
		w := func(name string, labels map[string]string) float64 {
			return delta(workerAfter, workerBefore, name, labels)
		}
		a := func(name string, labels map[string]string) float64 { return delta(apiAfter, apiBefore, name, labels) }

		// The worker: the request's lifecycle, each transition counted once, and its commands.
		assert.GreaterOrEqual(ct, w(metrics.RequestsStarted.Name, stat), 1.0)
		assert.GreaterOrEqual(ct, w(metrics.RequestsEnded.Name, map[string]string{"status": "dispensed", "priority": "stat"}), 1.0)
		assert.GreaterOrEqual(ct, w(metrics.ApprovalWait.Name+"_count", stat), 1.0)
		assert.GreaterOrEqual(ct, w(metrics.RequestLifecycle.Name+"_count", nil), 1.0)
		assert.GreaterOrEqual(ct, w(metrics.CabinetCommands.Name, map[string]string{"command": metrics.CommandAuthorize, "ack": "AA"}), 1.0)
		assert.GreaterOrEqual(ct, w(metrics.CabinetCommandDuration.Name+"_count",
			map[string]string{"command": metrics.CommandAuthorize, "outcome": metrics.OutcomeNotNow}), 1.0)
		assert.GreaterOrEqual(ct, w(metrics.CabinetCommandDuration.Name+"_count",
			map[string]string{"command": metrics.CommandAuthorize, "outcome": metrics.OutcomeAccepted}), 1.0)
		assert.Equal(ct, 1.0, workerAfter.value(metrics.CabinetReachable.Name, map[string]string{"cabinet": cab.cabinetCode}))
		// The worker's SDK metrics: its workflow and activity tasks, and the AR's failed attempt.
		assert.GreaterOrEqual(ct, w(metrics.TemporalWorkflowTaskScheduleToStart.Name+"_count", map[string]string{"task_queue": workflows.TaskQueue}), 1.0)
		assert.GreaterOrEqual(ct, w(metrics.TemporalActivityScheduleToStart.Name+"_count", map[string]string{"activity_type": probeActivity}), 1.0)
		assert.GreaterOrEqual(ct, w(metrics.TemporalActivityFailed.Name, map[string]string{"activity_type": "DispenseOrder"}), 1.0)
		assert.Positive(ct, workerAfter.value(metrics.TemporalPollers.Name, map[string]string{"poller_type": "activity_task"}))

		// The api: its routes by template, the HL7 report received and applied, its client's
		// failed update.
		assert.GreaterOrEqual(ct, a(metrics.HTTPRequests.Name, map[string]string{"route": "/v1/requests", "method": "POST", "status": "201"}), 1.0)
		assert.GreaterOrEqual(ct, a(metrics.HTTPRequests.Name, map[string]string{"route": "/v1/requests/:id/approve", "method": "POST", "status": "202"}), 1.0)
		assert.GreaterOrEqual(ct, a(metrics.HTTPRequests.Name, map[string]string{"route": "/v1/requests/:id/approve", "method": "POST", "status": "404"}), 1.0)
		assert.GreaterOrEqual(ct, a(metrics.HTTPRequests.Name, map[string]string{"route": metrics.UnmatchedRoute, "method": "GET", "status": "404"}), 1.0)
		assert.GreaterOrEqual(ct, a(metrics.HTTPDuration.Name+"_count", map[string]string{"route": "/v1/requests/:id", "method": "GET"}), 1.0)
		assert.GreaterOrEqual(ct, a(metrics.HL7Reports.Name, map[string]string{"type": "vend", "outcome": metrics.ReportAccepted}), 1.0)
		assert.GreaterOrEqual(ct, a(metrics.HL7Reports.Name, map[string]string{"type": "vend", "outcome": metrics.ReportApplied}), 1.0)
		assert.GreaterOrEqual(ct, a(metrics.TemporalRequestFailures.Name, map[string]string{"status_code": "NOT_FOUND"}), 1.0)
		assert.Equal(ct, 1.0, apiAfter.value(metrics.AuditChainOK.Name, nil), "the background verification found the chain intact")
		assert.Positive(ct, apiAfter.value(metrics.AuditHeadSeq.Name, nil))
	}, 30*time.Second, 200*time.Millisecond)

	// No raw path, and so no request id, in any label.
	assert.NotContains(t, apiAfter.text, id)
	assert.NotContains(t, workerAfter.text, id)
	// Each process exports what it owns, and only that.
	for _, d := range metrics.Contract {
		_, inAPI := apiAfter.families[d.Name]
		_, inWorker := workerAfter.families[d.Name]
		switch d.By {
		case metrics.API:
			assert.True(t, inAPI, "the api exports %s", d.Name)
			assert.False(t, inWorker, "the worker does not export %s", d.Name)
		case metrics.Worker:
			assert.True(t, inWorker, "the worker exports %s", d.Name)
			if strings.HasPrefix(d.Name, "pyxis_") {
				assert.False(t, inAPI, "the api does not export %s", d.Name)
			}
		case metrics.Both:
			assert.True(t, inAPI || inWorker, "%s is exported", d.Name)
		}
		for _, s := range []scrape{apiAfter, workerAfter} {
			fam := s.families[d.Name]
			if fam == nil {
				continue
			}
			assert.Equal(t, map[metrics.Kind]dto.MetricType{metrics.Counter: dto.MetricType_COUNTER, metrics.Gauge: dto.MetricType_GAUGE,
				metrics.Histogram: dto.MetricType_HISTOGRAM}[d.Kind], fam.GetType(), "%s: kind", d.Name)
			for _, m := range fam.GetMetric() {
				if strings.HasPrefix(d.Name, "pyxis_") {
					want := slices.Clone(d.Labels)
					sort.Strings(want)
					assert.Equal(t, want, labelNames(m), "%s: the contract's labels", d.Name)
				} else {
					// The SDK's series carry the tags the dashboard groups by.
					for _, tag := range []string{"namespace", "task_queue", "client_name"} {
						assert.Contains(t, labelNames(m), tag, "%s carries %s", d.Name, tag)
					}
				}
			}
		}
	}
	t.Logf("api metrics:\n%s", grepLines(apiAfter.text, "pyxis_hl7", "pyxis_open", "pyxis_requests_past", "pyxis_audit", "temporal_request_failure"))
	t.Logf("worker metrics:\n%s", grepLines(workerAfter.text, "pyxis_requests", "pyxis_cabinet_commands", "temporal_num_pollers", "temporal_activity_execution_failed"))

	// The worker's health endpoints beside its metrics.
	for path, want := range map[string]string{"/healthz": `"status":"ok"`, "/readyz": `"worker":"polling"`} {
		resp, err := http.Get(workerURL + path)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, raw)
		assert.Contains(t, string(raw), want)
	}
}

const probeActivity = "MetricsProbeActivity"

// probeActivityScheduleToStart runs one activity that is polled from its task queue, through
// the worker's client. The SDK records schedule-to-start latency only for such activities:
// the pyxis worker takes its own eagerly, handed over with the workflow task that scheduled
// them, while it has free slots, as it always has in this run. The probe's activity runs on
// another task queue than its workflow, so it is polled, and the name the PyxisActivityBacklog
// alert uses shows up in the worker's registry as the SDK emits it through the handler.
func probeActivityScheduleToStart(t *testing.T) {
	t.Helper()
	const wq, aq = "metrics-probe-workflows", "metrics-probe-activities"
	ww := sdkworker.New(e2e.workerClient, wq, sdkworker.Options{})
	ww.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: aq, StartToCloseTimeout: 10 * time.Second})
		return workflow.ExecuteActivity(ctx, probeActivity).Get(ctx, nil)
	}, workflow.RegisterOptions{Name: "MetricsProbe"})
	aw := sdkworker.New(e2e.workerClient, aq, sdkworker.Options{})
	aw.RegisterActivityWithOptions(func(context.Context) error { return nil }, activity.RegisterOptions{Name: probeActivity})
	for _, w := range []sdkworker.Worker{ww, aw} {
		require.NoError(t, w.Start())
		defer w.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := e2e.workerClient.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: wq}, "MetricsProbe")
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
}

// grepLines returns the lines of an exposition that start with one of the prefixes.
func grepLines(text string, prefixes ...string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(line, p) }) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// `pyxis worker` binds PYXIS_METRICS_ADDR before it connects to anything: /healthz answers
// while Temporal does not, /readyz says why it is not ready, and the worker gives up with
// the connection's error when it cannot reach Temporal.
func TestWorkerHealthAnswersBeforeTemporal(t *testing.T) {
	// A "Temporal" that takes connections and never answers: the worker waits on it for the
	// SDK's dial timeout, and then gives up.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	addr := freeAddr(t)
	cfg, err := service.LoadConfig(func(name string) string {
		return map[string]string{
			"DATABASE_URL": e2e.dbURL, "TEMPORAL_ADDRESS": silent.Addr().String(), "PYXIS_CODEC_DISABLED": "true",
			// Other tests' HL7 cabinets share the database: the worker needs the zone.
			"PYXIS_METRICS_ADDR": addr, "PYXIS_HL7_TIMEZONE": "UTC",
		}[name]
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- service.RunWorker(ctx, cfg) }()

	base := "http://" + addr
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		ok, err := service.HTTPOK(ctx, base+"/healthz")
		assert.True(ct, ok, "healthz: %v", err)
	}, 10*time.Second, 50*time.Millisecond)
	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(raw))
	assert.Contains(t, string(raw), `"status":"not ready"`)
	assert.Equal(t, http.StatusOK, func() int {
		resp, err := http.Get(base + "/metrics")
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}())

	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Temporal")
	case <-time.After(45 * time.Second):
		t.Fatal("the worker kept waiting for an unreachable Temporal")
	}
	_, err = http.Get(base + "/healthz")
	assert.Error(t, err, "the server stops with the worker")
}
