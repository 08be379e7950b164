package metrics

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TimerBuckets are the buckets (seconds) of the SDK's timers: schedule-to-start and
// execution latencies, request latencies, and long polls of up to a minute.
var TimerBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// Temporal returns the handler to give the Temporal client (client.Options.MetricsHandler):
// the SDK's metrics land in this registry. Names follow the OpenMetrics conventions, as the
// SDK's own Prometheus naming scope does: counters get _total, timers become histograms in
// seconds with _seconds; gauges keep their names. Each series carries exactly the tags the
// SDK recorded it with (TemporalTags and a few others such as status_code). A nil registry
// returns nil, which the SDK reads as no metrics.
func (r *Registry) Temporal() client.MetricsHandler {
	if r == nil {
		return nil
	}
	c := group(r, &r.temporal, func() (*sdkCollector, []prometheus.Collector) {
		c := &sdkCollector{series: map[string]prometheus.Collector{}}
		return c, []prometheus.Collector{c}
	})
	return sdkHandler{c: c}
}

// sdkCollector holds the SDK's series, made on first use. It is an unchecked collector
// (Describe sends nothing): the SDK decides its names and tags at run time.
type sdkCollector struct {
	mu     sync.Mutex
	series map[string]prometheus.Collector
}

func (c *sdkCollector) Describe(chan<- *prometheus.Desc) {}

func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	all := slices.Collect(maps.Values(c.series))
	c.mu.Unlock()
	for _, s := range all {
		s.Collect(ch)
	}
}

// get returns the series of a name and tags, made by build the first time.
func (c *sdkCollector) get(name string, tags map[string]string, build func(prometheus.Labels) prometheus.Collector) prometheus.Collector {
	keys := slices.Sorted(maps.Keys(tags))
	var b strings.Builder
	b.WriteString(name)
	for _, k := range keys {
		b.WriteString("\xff" + k + "=" + tags[k])
	}
	key := b.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.series[key]
	if !ok {
		s = build(prometheus.Labels(maps.Clone(tags)))
		c.series[key] = s
	}
	return s
}

// sdkHandler is a client.MetricsHandler over an sdkCollector, with the tags it carries.
type sdkHandler struct {
	c    *sdkCollector
	tags map[string]string
}

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	if merged == nil {
		merged = make(map[string]string, len(tags))
	}
	for k, v := range tags {
		// Prometheus label names are [a-zA-Z_][a-zA-Z0-9_]*; the SDK's tags are.
		if validLabel(k) {
			merged[k] = v
		}
	}
	return sdkHandler{c: h.c, tags: merged}
}

func (h sdkHandler) Counter(name string) client.MetricsCounter {
	if !strings.HasSuffix(name, "_total") {
		name += "_total"
	}
	s := lazy[prometheus.Counter](h, name, func(l prometheus.Labels) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: sdkHelp, ConstLabels: l})
	})
	return counterFunc(func(d int64) {
		if d > 0 {
			s().Add(float64(d))
		}
	})
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	s := lazy[prometheus.Gauge](h, name, func(l prometheus.Labels) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: sdkHelp, ConstLabels: l})
	})
	return gaugeFunc(func(v float64) { s().Set(v) })
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	if !strings.HasSuffix(name, "_seconds") {
		name += "_seconds"
	}
	s := lazy[prometheus.Histogram](h, name, func(l prometheus.Labels) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: sdkHelp, ConstLabels: l, Buckets: TimerBuckets})
	})
	return timerFunc(func(d time.Duration) { s().Observe(d.Seconds()) })
}

// sdkHelp is the HELP of every SDK metric (one per name, as Prometheus wants).
const sdkHelp = "Temporal Go SDK metric (see the SDK's documentation of its metrics)."

// lazy returns a function giving the series of name on h's tags, made when first recorded:
// a series appears only once the SDK records it, so an unused gauge does not read 0.
func lazy[T prometheus.Collector](h sdkHandler, name string, build func(prometheus.Labels) T) func() T {
	var s atomic.Pointer[T]
	return func() T {
		if p := s.Load(); p != nil {
			return *p
		}
		m, ok := h.c.get(name, h.tags, func(l prometheus.Labels) prometheus.Collector { return build(l) }).(T)
		if !ok {
			// The name is a series of another kind already: record into one nobody
			// collects rather than fail inside the SDK.
			m = build(prometheus.Labels(h.tags))
		}
		s.Store(&m)
		return m
	}
}

type (
	counterFunc func(int64)
	gaugeFunc   func(float64)
	timerFunc   func(time.Duration)
)

func (f counterFunc) Inc(d int64)          { f(d) }
func (f gaugeFunc) Update(v float64)       { f(v) }
func (f timerFunc) Record(d time.Duration) { f(d) }

func validLabel(k string) bool {
	if k == "" || strings.HasPrefix(k, "__") {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
