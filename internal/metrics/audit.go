package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medreq/pyxis/db"
)

// FullAuditEvery is how many verifications run between two full ones: the others read only
// the entries written since the last (db.Store.VerifyAuditSince).
const FullAuditEvery = 12

// AuditChecker verifies the audit chain (a *db.Store).
type AuditChecker interface {
	VerifyAuditSince(ctx context.Context, from db.AuditCheckpoint) (db.AuditVerification, error)
}

// auditState is pyxis_audit_chain_ok: absent until the first verification ends.
type auditState struct {
	ok prometheus.Gauge
}

// VerifyAudit verifies the audit hash chain at once and then every interval until ctx ends,
// and exports the outcome as pyxis_audit_chain_ok. The api runs it, in the background.
// Most rounds are incremental, from where the last one ended; every FullAuditEvery-th walks
// the whole chain, which is what catches an old entry altered. A round that could not run
// (the database did not answer) keeps the last outcome; a broken chain is logged at error,
// with the entry and the reason. Only one VerifyAudit per registry exports.
func (r *Registry) VerifyAudit(ctx context.Context, c AuditChecker, interval time.Duration) {
	if r == nil {
		return
	}
	var st *auditState
	created := false
	group(r, &r.audit, func() (*auditState, []prometheus.Collector) {
		st, created = &auditState{ok: prometheus.NewGauge(prometheus.GaugeOpts{Name: AuditChainOK.Name, Help: AuditChainOK.Help})}, true
		must(AuditChainOK, Gauge)
		// Registered after the first verification: until then the gauge is absent, not 0.
		return st, nil
	})
	if !created {
		return
	}
	var (
		from   db.AuditCheckpoint
		rounds int
		shown  bool
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if rounds%FullAuditEvery == 0 {
			from = db.AuditCheckpoint{}
		}
		rounds++
		start := time.Now()
		v, err := c.VerifyAuditSince(ctx, from)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				slog.Warn("audit chain verification could not run; the last outcome stands", "error", err)
			}
		case v.OK:
			st.ok.Set(1)
			from = v.Checkpoint
			slog.Debug("audit chain verified", "entries", v.Entries, "head_seq", v.HeadSeq, "duration", time.Since(start))
		default:
			st.ok.Set(0)
			// Start over from the beginning next time: the chain is broken somewhere.
			from = db.AuditCheckpoint{}
			slog.Error("audit chain broken", "first_broken_id", v.FirstBrokenID, "reason", v.Reason,
				"head_seq", v.HeadSeq, "head_hash", v.HeadHash)
		}
		if err == nil && !shown {
			r.prom.MustRegister(st.ok)
			shown = true
		}
		timer.Reset(interval)
	}
}
