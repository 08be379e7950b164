package loadtest

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Endpoints as the report names them.
const (
	EndpointCreate = "POST /v1/requests"
	EndpointGet    = "GET /v1/requests/{id}"
	// EndpointWait is a read that waits for the request to change (?wait=&version=): its
	// latency is mostly the wait, so it is kept apart from the immediate reads' p99.
	EndpointWait     = "GET /v1/requests/{id}?wait"
	EndpointQueue    = "GET /v1/requests?status=awaiting_approval"
	EndpointApprove  = "POST /v1/requests/{id}/approve"
	EndpointReject   = "POST /v1/requests/{id}/reject"
	EndpointCancel   = "POST /v1/requests/{id}/cancel"
	EndpointWithdraw = "POST /v1/cabinets/{id}/events"
	// EndpointFill is the backlog scenario's creates, kept apart from the measured ones.
	EndpointFill = "POST /v1/requests (backlog fill)"
)

// Failure classes.
const (
	Class5xx   = "5xx"
	Class429   = "429"
	ClassOther = "other"
)

// Latencies are recorded in microseconds, from 1µs to an hour, to three significant digits;
// the one-second windows of the time series keep two.
const (
	histMaxMicros    = int64(time.Hour / time.Microsecond)
	histSigFigs      = 3
	windowSigFigs    = 2
	seriesWindow     = time.Second
	maxErrorExamples = 20
)

// recorder collects every measured call of a run.
type recorder struct {
	start time.Time
	now   func() time.Time

	mu       sync.Mutex
	eps      map[string]*endpointStats
	examples []string
	seen     map[string]bool
}

type endpointStats struct {
	hist     *hdrhistogram.Histogram
	count    int64
	failures map[string]int64
	codes    map[string]int64
	expected int64
	first    time.Time
	last     time.Time
	// The current window of the time series, and the windows already closed.
	window    *hdrhistogram.Histogram
	windowIdx int
	points    []SeriesPoint
}

func newRecorder(start time.Time) *recorder {
	return &recorder{start: start, now: time.Now, eps: map[string]*endpointStats{}, seen: map[string]bool{}}
}

func newLatencyHistogram(sigFigs int) *hdrhistogram.Histogram {
	return hdrhistogram.New(1, histMaxMicros, sigFigs)
}

// lifecycleMaxMicros bounds a lifecycle: a routine request may wait hours for approval.
const lifecycleMaxMicros = int64(24 * time.Hour / time.Microsecond)

func newLifecycleHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, lifecycleMaxMicros, histSigFigs)
}

// outcome is what one call came to.
type outcome struct {
	status int    // HTTP status; 0 when no answer came
	code   string // the error body's code, if any
	err    error  // transport error, if any
	// expected marks an answer that is a normal outcome of the simulation (a 409 for an
	// approval another pharmacist made first), not a failure.
	expected bool
}

// class returns the failure class of o, or "" when it is no failure.
func (o outcome) class() string {
	switch {
	case o.expected:
		return ""
	case o.err != nil || o.status == 0:
		return ClassOther
	case o.status == http.StatusTooManyRequests:
		return Class429
	case o.status >= 500:
		return Class5xx
	case o.status >= 400:
		return ClassOther
	}
	return ""
}

// record adds one call of endpoint ep that took d and ended at end.
func (r *recorder) record(ep string, end time.Time, d time.Duration, o outcome) {
	us := min(max(d.Microseconds(), 1), histMaxMicros)
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.endpoint(ep)
	_ = s.hist.RecordValue(us)
	s.count++
	if s.first.IsZero() || end.Add(-d).Before(s.first) {
		s.first = end.Add(-d)
	}
	if end.After(s.last) {
		s.last = end
	}
	code := "error"
	if o.status != 0 {
		code = strconv.Itoa(o.status)
	}
	s.codes[code]++
	if o.expected {
		s.expected++
	}
	if cl := o.class(); cl != "" {
		s.failures[cl]++
		r.example(ep, o)
	}
	// Calls end in about the order they are recorded; one that comes late counts in the
	// current window.
	idx := max(int(end.Sub(r.start)/seriesWindow), s.windowIdx)
	if idx != s.windowIdx && s.window.TotalCount() > 0 {
		s.closeWindow()
	}
	s.windowIdx = idx
	_ = s.window.RecordValue(us)
}

// endpoint returns ep's stats, made on first use. r.mu is held.
func (r *recorder) endpoint(ep string) *endpointStats {
	s, ok := r.eps[ep]
	if !ok {
		s = &endpointStats{
			hist: newLatencyHistogram(histSigFigs), window: newLatencyHistogram(windowSigFigs),
			failures: map[string]int64{}, codes: map[string]int64{},
		}
		r.eps[ep] = s
	}
	return s
}

// example keeps the first few distinct failures, to say what went wrong. r.mu is held.
func (r *recorder) example(ep string, o outcome) {
	var what string
	switch {
	case o.err != nil:
		what = fmt.Sprintf("%s: %v", ep, o.err)
	case o.code != "":
		what = fmt.Sprintf("%s: %d %s", ep, o.status, o.code)
	default:
		what = fmt.Sprintf("%s: %d", ep, o.status)
	}
	if len(r.examples) < maxErrorExamples && !r.seen[what] {
		r.seen[what] = true
		r.examples = append(r.examples, what)
	}
}

func (s *endpointStats) closeWindow() {
	w := s.window
	s.points = append(s.points, SeriesPoint{
		T:     float64(s.windowIdx) * seriesWindow.Seconds(),
		Count: w.TotalCount(),
		P50Ms: micros(w.ValueAtQuantile(50)),
		P99Ms: micros(w.ValueAtQuantile(99)),
		MaxMs: micros(w.Max()),
	})
	w.Reset()
}

// snapshot returns the stats of the named endpoints (each listed even without calls), then
// of any other endpoint that was called, in name order; all of them together; and the failure
// examples.
func (r *recorder) snapshot(names []string, end time.Time) ([]EndpointReport, EndpointReport, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	order := slices.Clone(names)
	var others []string
	for n := range r.eps {
		if !slices.Contains(order, n) {
			others = append(others, n)
		}
	}
	slices.Sort(others)
	order = append(order, others...)
	out := make([]EndpointReport, 0, len(order))
	all := &endpointStats{hist: newLatencyHistogram(histSigFigs), failures: map[string]int64{}, codes: map[string]int64{}}
	for _, n := range order {
		s := r.endpoint(n)
		if s.window.TotalCount() > 0 {
			s.closeWindow()
		}
		out = append(out, s.report(n))
		all.hist.Merge(s.hist)
		all.count += s.count
		all.expected += s.expected
		for k, v := range s.failures {
			all.failures[k] += v
		}
		for k, v := range s.codes {
			all.codes[k] += v
		}
		if s.count > 0 && (all.first.IsZero() || s.first.Before(all.first)) {
			all.first = s.first
		}
		if s.last.After(all.last) {
			all.last = s.last
		}
	}
	agg := all.report("Aggregated")
	agg.Series, agg.Histogram = nil, nil
	return out, agg, slices.Clone(r.examples)
}

// report summarises the endpoint's calls; its rates are over the span from its first call to
// its last.
func (s *endpointStats) report(name string) EndpointReport {
	e := EndpointReport{
		Name: name, Count: s.count, Expected: s.expected,
		FailuresByClass: map[string]int64{Class5xx: s.failures[Class5xx], Class429: s.failures[Class429], ClassOther: s.failures[ClassOther]},
		StatusCodes:     copyCounts(s.codes),
		Latency:         latencyOf(s.hist, 1e-3),
		Series:          slices.Clone(s.points),
		Histogram:       bucketsOf(s.hist, 1e-3),
	}
	for _, n := range e.FailuresByClass {
		e.Failures += n
	}
	if secs := s.last.Sub(s.first).Seconds(); s.count > 1 && secs > 0 {
		e.RPS = round(float64(s.count)/secs, 3)
		e.FailuresPerSecond = round(float64(e.Failures)/secs, 3)
	}
	if s.count > 0 {
		e.FailureRatio = round(float64(e.Failures)/float64(s.count), 6)
	}
	return e
}

// latencyOf summarises h, whose values times scale are milliseconds.
func latencyOf(h *hdrhistogram.Histogram, scale float64) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	at := func(q float64) float64 { return round(float64(h.ValueAtQuantile(q))*scale, 3) }
	return Latency{
		Count: h.TotalCount(),
		Min:   round(float64(h.Min())*scale, 3), Max: at(100),
		Mean: round(h.Mean()*scale, 3), Median: at(50),
		P50: at(50), P90: at(90), P95: at(95), P99: at(99), P999: at(99.9),
	}
}

// histogramBounds are the upper bounds, in milliseconds, of the histogram chart's buckets:
// four per power of ten from 0.1 ms to an hour.
var histogramBounds = func() []float64 {
	var b []float64
	for e := -1.0; e <= 6.6; e += 0.25 {
		b = append(b, round(math.Pow(10, e), 3))
	}
	return b
}()

// bucketsOf counts h's values into the chart's buckets; values times scale are milliseconds.
// Empty buckets at either end are left out.
func bucketsOf(h *hdrhistogram.Histogram, scale float64) []Bucket {
	if h.TotalCount() == 0 {
		return nil
	}
	counts := make([]int64, len(histogramBounds))
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		v := float64(bar.To) * scale
		i, _ := slices.BinarySearch(histogramBounds, v)
		counts[min(i, len(counts)-1)] += bar.Count
	}
	lo, hi := 0, len(counts)-1
	for lo < hi && counts[lo] == 0 {
		lo++
	}
	for hi > lo && counts[hi] == 0 {
		hi--
	}
	out := make([]Bucket, 0, hi-lo+1)
	for i := lo; i <= hi; i++ {
		out = append(out, Bucket{LeMs: histogramBounds[i], Count: counts[i]})
	}
	return out
}

// live returns, for the progress line, how many calls and failures there were so far and the
// p99 of each named endpoint in milliseconds.
func (r *recorder) live(names []string) (calls, failures int64, p99 []float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.eps {
		calls += s.count
		for _, n := range s.failures {
			failures += n
		}
	}
	for _, n := range names {
		v := 0.0
		if s, ok := r.eps[n]; ok && s.count > 0 {
			v = micros(s.hist.ValueAtQuantile(99))
		}
		p99 = append(p99, v)
	}
	return calls, failures, p99
}

func micros(us int64) float64 { return round(float64(us)/1000, 3) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func copyCounts(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
