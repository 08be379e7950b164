package api

import (
	"context"
	"time"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/internal/metrics"
)

// storeMetrics gives the metrics what they read from the database, in their own types: the
// gauges at scrape time and the audit chain's verification. Metrics sit below the database
// layer and do not import it; this is where the two meet.
type storeMetrics struct{ store metricsStore }

// metricsStore is what the metrics read of the database (db.RequestStore, db.AuditStore).
type metricsStore interface {
	OperationalGauges(ctx context.Context, pastDeadline time.Time) (db.OperationalGauges, error)
	VerifyAuditSince(ctx context.Context, from db.AuditCheckpoint) (db.AuditVerification, error)
}

// Gauges reads the operational gauges.
func (m storeMetrics) Gauges(ctx context.Context, pastDeadline time.Time) (metrics.Gauges, error) {
	g, err := m.store.OperationalGauges(ctx, pastDeadline)
	return metrics.Gauges(g), err
}

// VerifyAuditSince verifies the audit chain from a checkpoint.
func (m storeMetrics) VerifyAuditSince(ctx context.Context, from metrics.AuditCheckpoint) (metrics.AuditResult, error) {
	v, err := m.store.VerifyAuditSince(ctx, db.AuditCheckpoint(from))
	return metrics.AuditResult{
		Entries: v.Entries, OK: v.OK, FirstBrokenID: v.FirstBrokenID, Reason: v.Reason,
		HeadSeq: v.HeadSeq, HeadHash: v.HeadHash, Checkpoint: metrics.AuditCheckpoint(v.Checkpoint),
	}, err
}
