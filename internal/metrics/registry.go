package metrics

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry is one process's metrics. Each group (HTTP, Requests, Cabinets, Reports, the
// store's gauges) is registered the first time the process asks for it, so a process exports
// only the metrics of the parts it runs. A nil *Registry is valid: it records nothing.
type Registry struct {
	prom *prometheus.Registry

	mu       sync.Mutex
	http     *HTTP
	requests *Requests
	cabinets *Cabinets
	reports  *Reports
	temporal *sdkCollector
	store    *storeGauges
	audit    *auditState
}

// New returns a registry with the Go runtime and process collectors.
func New() *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Registry{prom: reg}
}

// Handler serves the registry in the Prometheus text format (or OpenMetrics when asked);
// without a registry (metrics off), 404.
func (r *Registry) Handler() http.Handler {
	if r == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(r.prom, promhttp.HandlerOpts{
		// A collector that fails (the database did not answer) leaves its series out; the
		// rest is still served.
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// Gatherer returns the registry to read directly (tests).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.prom }

// group returns *slot, a field of r, creating and registering it with build the first time.
func group[T any](r *Registry, slot **T, build func() (*T, []prometheus.Collector)) *T {
	r.mu.Lock()
	defer r.mu.Unlock()
	if *slot == nil {
		g, cs := build()
		r.prom.MustRegister(cs...)
		*slot = g
	}
	return *slot
}

// The vectors of the contract's metrics. One without labels is exported (at 0) from the
// start, as a plain metric would be, so that rate() and absent() see it before its first
// event.

func counterVec(d Def) *prometheus.CounterVec {
	must(d, Counter)
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: d.Name, Help: d.Help}, d.Labels)
	if len(d.Labels) == 0 {
		v.WithLabelValues()
	}
	return v
}

func gaugeVec(d Def) *prometheus.GaugeVec {
	must(d, Gauge)
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: d.Name, Help: d.Help}, d.Labels)
}

func histogramVec(d Def, buckets []float64) *prometheus.HistogramVec {
	must(d, Histogram)
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: d.Name, Help: d.Help, Buckets: buckets}, d.Labels)
	if len(d.Labels) == 0 {
		v.WithLabelValues()
	}
	return v
}

// must refuses to build a metric of another kind than its contract entry says.
func must(d Def, k Kind) {
	if d.Kind != k {
		panic(fmt.Sprintf("metrics: %s is kind %d in the contract, built as %d", d.Name, d.Kind, k))
	}
}

// desc is the descriptor of a metric read at scrape time.
func desc(d Def) *prometheus.Desc {
	return prometheus.NewDesc(d.Name, d.Help, d.Labels, nil)
}
