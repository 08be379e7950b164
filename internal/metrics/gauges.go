package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Gauge reading settings.
const (
	// GaugeTTL is how long a reading of the store's gauges serves scrapes: several
	// Prometheus servers, or a scrape every second, cost one query per TTL.
	GaugeTTL = 10 * time.Second
	// GaugeTimeout bounds the query; a scrape waits at most this long for it.
	GaugeTimeout = 2 * time.Second
	// DeadlineGrace is how far past its deadline a waiting request must be to count: the
	// workflow's timer moves it within seconds, so one still waiting a minute later is stuck.
	DeadlineGrace = time.Minute
)

// Gauges are the counts operations watch, as one reading of the store gives them.
type Gauges struct {
	OpenRestockTasks, OpenDiscrepancies, OpenOverrideReviews int64
	// AwaitingApprovalPastDeadline and ReadyAtCabinetPastDeadline count the requests still in
	// that status whose deadline passed before the time asked about.
	AwaitingApprovalPastDeadline, ReadyAtCabinetPastDeadline int64
	// AuditHeadSeq is the chain position of the newest audit entry.
	AuditHeadSeq int64
	// CabinetDeliveriesWaiting counts the cabinet commands not yet acknowledged, and
	// OldestCabinetDeliverySeconds is how long the oldest has waited (0: none).
	CabinetDeliveriesWaiting     int64
	OldestCabinetDeliverySeconds float64
}

// GaugeSource is what the gauges are read from (the database, through an adapter where the
// api is wired): requests count as past their deadline when it passed before pastDeadline.
type GaugeSource interface {
	Gauges(ctx context.Context, pastDeadline time.Time) (Gauges, error)
}

// storeGauges is a collector that reads the gauges from Postgres at scrape time, with a
// timeout and a short cache. A reading that fails leaves the gauges out of that scrape (the
// series go stale rather than show a wrong number) and is logged.
type storeGauges struct {
	src GaugeSource
	now func() time.Time

	mu     sync.Mutex
	at     time.Time
	last   Gauges
	failed bool

	restock, discrepancies, overrides, headSeq, pastDeadline *prometheus.Desc
	deliveries, oldestDelivery                               *prometheus.Desc
}

// WatchStore exports the gauges read from src at scrape time: open restock tasks,
// discrepancies and override reviews, requests past deadline by status, the audit chain
// head, and the cabinet commands waiting for an acknowledgment. The api exports them (one reading per scrape of one process is enough; the worker's
// /metrics stays free of database reads). Only the first call registers.
func (r *Registry) WatchStore(src GaugeSource) {
	if r == nil {
		return
	}
	group(r, &r.store, func() (*storeGauges, []prometheus.Collector) {
		g := &storeGauges{
			src: src, now: time.Now,
			restock: desc(OpenRestockTasks), discrepancies: desc(OpenDiscrepancies), overrides: desc(OpenOverrideReviews),
			headSeq: desc(AuditHeadSeq), pastDeadline: desc(RequestsPastDeadline),
			deliveries: desc(CabinetDeliveriesWaiting), oldestDelivery: desc(CabinetDeliveryOldest),
		}
		return g, []prometheus.Collector{g}
	})
}

func (g *storeGauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{g.restock, g.discrepancies, g.overrides, g.headSeq, g.pastDeadline, g.deliveries, g.oldestDelivery} {
		ch <- d
	}
}

func (g *storeGauges) Collect(ch chan<- prometheus.Metric) {
	v, ok := g.read()
	if !ok {
		return
	}
	gauge := func(d *prometheus.Desc, n int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n), labels...)
	}
	gauge(g.restock, v.OpenRestockTasks)
	gauge(g.discrepancies, v.OpenDiscrepancies)
	gauge(g.overrides, v.OpenOverrideReviews)
	gauge(g.headSeq, v.AuditHeadSeq)
	gauge(g.pastDeadline, v.AwaitingApprovalPastDeadline, statusAwaiting)
	gauge(g.pastDeadline, v.ReadyAtCabinetPastDeadline, "ready_at_cabinet")
	gauge(g.deliveries, v.CabinetDeliveriesWaiting)
	ch <- prometheus.MustNewConstMetric(g.oldestDelivery, prometheus.GaugeValue, v.OldestCabinetDeliverySeconds)
}

// read returns the cached reading, or a new one when it is older than GaugeTTL. Concurrent
// scrapes wait for one query.
func (g *storeGauges) read() (Gauges, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if !g.at.IsZero() && now.Sub(g.at) < GaugeTTL {
		return g.last, !g.failed
	}
	ctx, cancel := context.WithTimeout(context.Background(), GaugeTimeout)
	defer cancel()
	v, err := g.src.Gauges(ctx, now.Add(-DeadlineGrace))
	g.at, g.last, g.failed = now, v, err != nil
	if err != nil {
		slog.Warn("metrics: the gauges read from Postgres are left out of this scrape", "error", err)
	}
	return v, err == nil
}
