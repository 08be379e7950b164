package loadtest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testSecret = []byte("loadtest-secret-loadtest-secret-!")

// testConfig is a small, quick lifecycle run against url.
func testConfig(url string) Config {
	c := DefaultConfig()
	c.API = url
	c.Requests = 30
	c.Users = 4
	c.Pharmacists = 3
	c.PollInterval = 10 * time.Millisecond
	c.QueueInterval = 10 * time.Millisecond
	c.Settle = 10 * time.Second
	c.UserRate, c.UserBurst = 1000, 100
	c.RejectShare = 0.2
	c.ControlledShare = 0.5
	c.Seed = 42
	c.Normalize()
	return c
}

func TestLifecycleAgainstAFakeAPI(t *testing.T) {
	f := newFakeAPI(t, testSecret)
	cfg := testConfig(f.srv.URL)
	require.NoError(t, cfg.Validate())
	rep, err := Run(context.Background(), cfg, Env{Mode: "api", JWTSecret: testSecret})
	require.NoError(t, err)

	lc := rep.Lifecycle
	require.NotNil(t, lc)
	assert.EqualValues(t, 30, lc.Created)
	assert.Zero(t, lc.NonTerminal, "statuses: %v", lc.Statuses)
	assert.EqualValues(t, lc.Created, lc.Statuses["dispensed"]+lc.Statuses["rejected"])
	assert.Positive(t, lc.Statuses["rejected"], "a fifth are rejected")
	assert.Positive(t, lc.CompletedPerSecond)
	assert.EqualValues(t, lc.Statuses["dispensed"], lc.Latency.Count)

	for _, name := range lifecycleEndpoints {
		e := rep.Endpoint(name)
		require.NotNil(t, e, name)
		assert.Zero(t, e.Failures, "%s: %v", name, rep.ErrorExamples)
	}
	assert.EqualValues(t, 30, rep.Endpoint(EndpointCreate).Count)

	// Controlled requests were approved by two different pharmacists; no one approved twice.
	two := 0
	for id, who := range f.approvers() {
		if len(who) == 2 {
			two++
			assert.NotEqual(t, who[0], who[1], id)
		}
		assert.LessOrEqual(t, len(who), 2, id)
	}
	assert.Positive(t, two, "some requests needed and got two pharmacists")
	// Every nurse and pharmacist called with a token of her own.
	assert.True(t, f.subjects["lt-nurse-00000"] && f.subjects["lt-nurse-00003"] && f.subjects["lt-pharm-000"] && f.subjects["lt-pharm-002"], "%v", f.subjects)

	met := map[string]bool{}
	for _, tg := range rep.Targets {
		met[tg.Name] = tg.Met
	}
	// The fake answers every change at once (the API gathers a burst into one answer): what
	// is checked here is that the reads are counted and judged, not the API's figure.
	assert.Equal(t, map[string]bool{"no_5xx": true, "no_429": true, "all_terminal": true,
		"gets_per_request": lc.GetsPerRequest <= TargetGetsPerRequest}, met)
	assert.Positive(t, rep.Endpoint(EndpointWait).Count, "the nurses wait for changes")
	assert.Positive(t, lc.GetsPerRequest)
}

func TestHotPocketAgainstAFakeAPI(t *testing.T) {
	f := newFakeAPI(t, testSecret)
	cfg := testConfig(f.srv.URL)
	cfg.Scenario, cfg.Requests, cfg.PocketStock = ScenarioHotPocket, 40, 7
	require.NoError(t, cfg.Validate())
	rep, err := Run(context.Background(), cfg, Env{Mode: "api", JWTSecret: testSecret})
	require.NoError(t, err)
	hp := rep.HotPocket
	require.NotNil(t, hp)
	assert.Equal(t, 7, hp.ReachedApproval)
	assert.Equal(t, 33, hp.InsufficientStock)
	assert.Zero(t, hp.Unsettled)
	assert.Equal(t, 7, hp.PocketReserved)
	assert.Equal(t, 7, hp.CancelledAfter, "the reserved requests give their stock back")
	for _, tg := range rep.Targets {
		assert.True(t, tg.Met, "%+v", tg)
	}
}

func TestBacklogAgainstAFakeAPI(t *testing.T) {
	f := newFakeAPI(t, testSecret)
	cfg := testConfig(f.srv.URL)
	cfg.Scenario, cfg.Backlog, cfg.Users, cfg.Rate, cfg.Requests = ScenarioBacklog, 40, 0, 200, 50
	require.NoError(t, cfg.Validate())
	rep, err := Run(context.Background(), cfg, Env{Mode: "api", JWTSecret: testSecret})
	require.NoError(t, err)
	require.NotNil(t, rep.Backlog)
	assert.Equal(t, 40, rep.Backlog.Created)
	assert.Equal(t, 40, rep.Backlog.AwaitingApproval)
	assert.Equal(t, 50, rep.Backlog.Arrivals)
	assert.EqualValues(t, 50, rep.Endpoint(EndpointQueue).Count)
	assert.EqualValues(t, 50, rep.Endpoint(EndpointGet).Count)
	assert.EqualValues(t, 40, rep.Endpoint(EndpointFill).Count)
	assert.Equal(t, 40, rep.Backlog.CancelledAfter, "a system that is not thrown away is left as it was")
}

func TestReportJSONRoundTrip(t *testing.T) {
	f := newFakeAPI(t, testSecret)
	cfg := testConfig(f.srv.URL)
	cfg.Requests = 8
	rep, err := Run(context.Background(), cfg, Env{Mode: "api", JWTSecret: testSecret})
	require.NoError(t, err)
	ratio := 0.5
	rep.BaselineRatio = &ratio
	rep.Baseline = &BaselineReport{TaskQueue: BaselineTaskQueue, Workflows: 8, Completed: 8, CompletedPerSecond: 3.5, ErrorExamples: []string{}}
	rep.Memory = &MemoryReport{Source: procStatus, RSSBytes: 1 << 20, PeakRSSBytes: 2 << 20}
	rep.CPU = &CPUReport{Seconds: 1.5, PerRequestMs: 187.5, BaselineSeconds: 0.5, PerBaselineWorkflowMs: 62.5, MachineSeconds: 3, MachinePerRequestMs: 375}

	var buf bytes.Buffer
	require.NoError(t, rep.WriteJSON(&buf))
	back, err := ReadJSON(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, rep, back)

	// The documented keys are there, null where a section does not apply.
	for _, key := range []string{`"schema": "pyxis-loadtest/1"`, `"endpoints"`, `"aggregated"`, `"latency_ms"`, `"p99_9"`,
		`"failures_by_class"`, `"lifecycle"`, `"baseline_ratio": 0.5`, `"hot_pocket": null`, `"backlog": null`, `"per_request_ms": 187.5`, `"machine_per_request_ms": 375`, `"targets"`, `"series"`, `"histogram"`} {
		assert.Contains(t, buf.String(), key)
	}
	_, err = ReadJSON(strings.NewReader(`{"schema": "pyxis-loadtest/0"}`))
	assert.ErrorContains(t, err, "schema")
}

func TestPercentilesComeFromTheHDRHistogram(t *testing.T) {
	start := time.Now()
	rec := newRecorder(start)
	// 1 ms to 1000 ms, one call each, spread over ten seconds.
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Millisecond
		rec.record(EndpointGet, start.Add(time.Duration(i)*10*time.Millisecond), d, outcome{status: 200})
	}
	rec.record(EndpointApprove, start, time.Millisecond, outcome{status: 503})
	rec.record(EndpointApprove, start, time.Millisecond, outcome{status: 429})
	rec.record(EndpointApprove, start, time.Millisecond, outcome{status: 409, code: "duplicate_approval", expected: true})
	rec.record(EndpointApprove, start, time.Millisecond, outcome{status: 404})
	rec.record(EndpointApprove, start, time.Millisecond, outcome{err: errors.New("connection refused")})
	eps, agg, examples := rec.snapshot([]string{EndpointGet, EndpointApprove, EndpointReject}, start.Add(10*time.Second))

	get := eps[0]
	require.Equal(t, EndpointGet, get.Name)
	l := get.Latency
	assert.EqualValues(t, 1000, l.Count)
	// Three significant digits: within 0.1% of the exact percentile.
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", l.P50, 500}, {"median", l.Median, 500}, {"p90", l.P90, 900}, {"p95", l.P95, 950}, {"p99", l.P99, 990}, {"p99.9", l.P999, 999}, {"max", l.Max, 1000}, {"min", l.Min, 1}, {"mean", l.Mean, 500.5}} {
		assert.InEpsilon(t, c.want, c.got, 0.001, c.name)
	}
	assert.InDelta(t, 100, get.RPS, 1, "1000 calls over ten seconds")
	assert.GreaterOrEqual(t, len(get.Series), 10, "a point a second")
	var inSeries int64
	for _, p := range get.Series {
		inSeries += p.Count
	}
	assert.EqualValues(t, 1000, inSeries)
	var inBuckets int64
	for _, b := range get.Histogram {
		inBuckets += b.Count
	}
	assert.EqualValues(t, 1000, inBuckets)

	approve := eps[1]
	assert.EqualValues(t, 5, approve.Count)
	assert.EqualValues(t, 4, approve.Failures)
	assert.Equal(t, map[string]int64{Class5xx: 1, Class429: 1, ClassOther: 2}, approve.FailuresByClass)
	assert.EqualValues(t, 1, approve.Expected)
	assert.Equal(t, map[string]int64{"503": 1, "429": 1, "409": 1, "404": 1, "error": 1}, approve.StatusCodes)
	assert.Equal(t, EndpointReject, eps[2].Name, "a scenario's endpoints are listed even without calls")
	assert.Zero(t, eps[2].Count)
	assert.EqualValues(t, 1005, agg.Count)
	assert.EqualValues(t, 4, agg.Failures)
	assert.Len(t, examples, 4)
}

func TestHTMLDrawsItsChartsInline(t *testing.T) {
	f := newFakeAPI(t, testSecret)
	cfg := testConfig(f.srv.URL)
	cfg.Requests = 8
	rep, err := Run(context.Background(), cfg, Env{Mode: "api", JWTSecret: testSecret})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, rep.WriteHTML(&buf))
	page := buf.String()
	for _, kind := range []string{"latency-over-time", "calls-per-second", "histogram", "lifecycle-histogram"} {
		assert.Contains(t, page, `data-chart="`+kind+`"`)
	}
	assert.Regexp(t, `<polyline [^>]*points="[0-9.]+,[0-9.]+ `, page, "latency lines are drawn")
	assert.Regexp(t, `<rect class="bar" [^>]*height="[0-9.]+"`, page, "histogram bars are drawn")
	assert.Contains(t, page, EndpointCreate)
	// Self-contained: no script, no stylesheet or image from elsewhere.
	assert.NotContains(t, page, "<script")
	assert.NotRegexp(t, `(src|href)=`, page)
	urls := regexp.MustCompile(`https?://[^"\s<]+`).FindAllString(page, -1)
	for _, u := range urls {
		assert.True(t, u == "http://www.w3.org/2000/svg" || strings.HasPrefix(u, f.srv.URL), "unexpected URL %s", u)
	}
}

func TestCheckTargetRefusesWhatIsNotLoopback(t *testing.T) {
	for _, c := range []struct {
		url    string
		remote bool
		ok     bool
	}{
		{"http://localhost:8080", false, true},
		{"http://LOCALHOST:8080/", false, true},
		{"http://127.0.0.1:8080", false, true},
		{"http://127.8.9.10", false, true},
		{"https://[::1]:8443", false, true},
		{"http://10.0.0.5:8080", false, false},
		{"http://0.0.0.0:8080", false, false},
		{"http://api.example.com", false, false},
		{"http://localhost.example.com", false, false},
		{"http://[::ffff:10.0.0.1]:80", false, false},
		{"http://api.example.com", true, true},
		{"ftp://localhost", false, false},
		{"localhost:8080", false, false},
	} {
		err := CheckTarget(c.url, c.remote)
		if c.ok {
			assert.NoError(t, err, c.url)
		} else {
			assert.Error(t, err, c.url)
		}
	}
	assert.ErrorIs(t, CheckTarget("http://192.168.1.1", false), ErrNotLoopback)
}

func TestFlagsAreValidated(t *testing.T) {
	parse := func(args ...string) (Config, error) {
		c := DefaultConfig()
		fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
		c.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			return c, err
		}
		c.Normalize()
		return c, c.Validate()
	}
	c, err := parse("--requests", "200")
	require.NoError(t, err)
	assert.Equal(t, DefaultUsers, c.Users, "closed model by default")
	assert.True(t, c.Closed())
	c, err = parse("--rate", "30", "--duration", "60s")
	require.NoError(t, err)
	assert.False(t, c.Closed())
	assert.Zero(t, c.Users)
	c, err = parse("--scenario", "hot-pocket")
	require.NoError(t, err)
	assert.Equal(t, DefaultHotPocket, c.Requests)

	for _, bad := range []struct {
		args []string
		want string
	}{
		{nil, "a run needs a bound"},
		{[]string{"--requests", "100001"}, "at most 100000"},
		{[]string{"--duration", "61m"}, "at most 1h0m0s"},
		{[]string{"--rate", "30", "--users", "8", "--requests", "10"}, "exclude each other"},
		{[]string{"--rate", "5000", "--requests", "10"}, "--rate"},
		{[]string{"--requests", "10", "--pharmacists", "1"}, "two different pharmacists"},
		{[]string{"--requests", "10", "--pharmacists", "0"}, "--pharmacists"},
		{[]string{"--requests", "10", "--scenario", "stampede"}, "--scenario"},
		{[]string{"--requests", "10", "--api", "http://10.1.2.3:8080"}, "not a loopback address"},
		{[]string{"--requests", "10", "--withdraw-via", "pigeon"}, "--withdraw-via"},
		{[]string{"--requests", "10", "--poll-interval", "1ms"}, "--poll-interval"},
		{[]string{"--requests", "10", "--controlled-share", "1.5"}, "--controlled-share"},
		{[]string{"--scenario", "backlog", "--requests", "10"}, "give --rate"},
		{[]string{"--scenario", "baseline", "--rate", "5", "--requests", "10"}, "not --rate"},
		{[]string{"--scenario", "baseline", "--duration", "10s"}, "give --requests"},
		{[]string{"--scenario", "baseline", "--requests", "10", "--baseline-activities", "4"}, "want 0 to 3"},
		{[]string{"--requests", "10", "--baseline", "--baseline-activities", "3"}, "for --scenario baseline"},
	} {
		_, err := parse(bad.args...)
		if assert.Error(t, err, bad.args) {
			assert.Contains(t, err.Error(), bad.want, bad.args)
		}
	}
	_, err = parse("--requests", "10", "--api", "http://10.1.2.3:8080", "--allow-remote")
	assert.NoError(t, err)
}

func TestRunRefusesWithoutASecret(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1")
	_, err := Run(context.Background(), cfg, Env{Mode: "api"})
	assert.ErrorContains(t, err, "secret")
	cfg.Baseline = true
	_, err = Run(context.Background(), cfg, Env{Mode: "api", JWTSecret: testSecret})
	assert.ErrorContains(t, err, "TEMPORAL_ADDRESS")
	cfg.Baseline, cfg.Scenario = false, ScenarioBaseline
	_, err = Run(context.Background(), cfg, Env{Mode: "api", JWTSecret: testSecret})
	assert.ErrorContains(t, err, "TEMPORAL_ADDRESS", "the baseline scenario needs Temporal too")
}

func TestTargetsAreJudged(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Requests = 200
	cfg.Normalize()
	ratio := 0.69
	rep := &Report{
		Endpoints:     []EndpointReport{{Name: EndpointCreate, FailuresByClass: map[string]int64{Class5xx: 2}}, {Name: EndpointGet, FailuresByClass: map[string]int64{}}},
		Lifecycle:     &LifecycleReport{NonTerminal: 0, GetsPerRequest: 3.2},
		BaselineRatio: &ratio,
	}
	got := map[string]bool{}
	for _, tg := range judge(cfg, rep) {
		got[tg.Name] = tg.Met
	}
	assert.Equal(t, map[string]bool{"no_5xx": false, "no_429": true, "all_terminal": true, "baseline_ratio": false, "gets_per_request": false}, got)

	cfg.Users, cfg.Rate = 0, 30
	rep.Endpoints[0] = EndpointReport{Name: EndpointCreate, FailuresByClass: map[string]int64{}, Latency: Latency{P99: 49}}
	rep.Endpoints[1].Latency.P99 = 21
	rep.Lifecycle.GetsPerRequest = 2.9
	got = map[string]bool{}
	for _, tg := range judge(cfg, rep) {
		got[tg.Name] = tg.Met
	}
	assert.Equal(t, map[string]bool{"no_5xx": true, "no_429": true, "all_terminal": true, "create_p99": true, "approve_p99": true, "get_p99": false, "gets_per_request": true}, got,
		"open model at 30/s: latency targets, and no baseline ratio (arrivals, not Temporal, set the pace)")
}

func TestParseMemory(t *testing.T) {
	rss, hwm, ok := parseMemory([]byte("Name:\tpyxis\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t12\n"))
	require.True(t, ok)
	assert.EqualValues(t, 100<<20, rss)
	assert.EqualValues(t, 200<<20, hwm)
	_, _, ok = parseMemory([]byte("Name:\tpyxis\n"))
	assert.False(t, ok)
}

func TestTextReportLooksLikeLocust(t *testing.T) {
	f := newFakeAPI(t, testSecret)
	cfg := testConfig(f.srv.URL)
	cfg.Requests = 8
	rep, err := Run(context.Background(), cfg, Env{Mode: "api", JWTSecret: testSecret})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, rep.WriteText(&buf))
	out := buf.String()
	for _, want := range []string{"# reqs", "# fails", "Avg", "Med", "req/s", "Response time percentiles", "99.9%", "Aggregated",
		"POST  /v1/requests", "Failures by class", "Lifecycle", "created 8", "Targets", "[met   ] all_terminal"} {
		assert.Contains(t, out, want)
	}
	assert.Contains(t, out, fmt.Sprintf("load average %s", loadString(rep.Environment.LoadAverageStart)))
}

// baseline_ratio is requests dispensed a second over bare workflows completed a second: a
// system that rejects everything ends its lifecycles quickly and dispenses nothing, and its
// ratio is 0, not the 0.78 it was when every terminal request counted.
func TestBaselineRatioCountsOnlyDispensedRequests(t *testing.T) {
	ratio := baselineRatio(&LifecycleReport{CompletedPerSecond: 2, DispensedPerSecond: 1.5}, &BaselineReport{CompletedPerSecond: 2})
	require.NotNil(t, ratio)
	assert.Equal(t, 0.75, *ratio)
	assert.Nil(t, baselineRatio(&LifecycleReport{DispensedPerSecond: 1}, nil), "no baseline")
	assert.Nil(t, baselineRatio(&LifecycleReport{DispensedPerSecond: 1}, &BaselineReport{}), "a baseline that completed nothing")

	f := newFakeAPI(t, testSecret)
	cfg := testConfig(f.srv.URL)
	cfg.RejectShare = 1 // --reject-share 1
	require.NoError(t, cfg.Validate())
	rep, err := Run(context.Background(), cfg, Env{Mode: "api", JWTSecret: testSecret})
	require.NoError(t, err)
	lc := rep.Lifecycle
	require.NotNil(t, lc)
	assert.EqualValues(t, lc.Created, lc.Statuses["rejected"], "every request rejected")
	assert.Positive(t, lc.CompletedPerSecond, "they all ended, and quickly")
	ratio = baselineRatio(lc, &BaselineReport{CompletedPerSecond: lc.CompletedPerSecond})
	require.NotNil(t, ratio)
	assert.Zero(t, *ratio, "nothing dispensed: nothing near the target")
}

// The machine's busy time is every CPU state of /proc/stat's first line but idle and iowait.
func TestParseProcStat(t *testing.T) {
	busy, ok := parseProcStat("cpu  100 5 40 900 50 3 2 1 7 0\ncpu0 50 2 20 450 25 1 1 0 3 0\n")
	require.True(t, ok)
	assert.Equal(t, 1510*time.Millisecond, busy) // (100+5+40+3+2+1) ticks of 10 ms
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 3", "cpu  1 2 x 4 5 6 7 8 9 10"} {
		_, ok := parseProcStat(bad)
		assert.False(t, ok, bad)
	}
	_, ok = machineCPUTime()
	_, statErr := os.Stat("/proc/stat")
	assert.Equal(t, statErr == nil, ok, "the machine's CPU time is read wherever /proc/stat is")
}
