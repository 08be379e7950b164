package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FullAuditEvery is how many verifications run between two full ones: the others read only
// the entries written since the last.
const FullAuditEvery = 12

// AuditCheckpoint is an audit entry a verification found intact, where the next one may
// start; the zero value asks for the whole chain.
type AuditCheckpoint struct {
	ID, Seq int64
	Hash    []byte
}

// AuditResult is what one verification of the audit chain found.
type AuditResult struct {
	// Entries is how many entries were checked; OK whether every link holds.
	Entries int
	OK      bool
	// FirstBrokenID and Reason say which entry is broken and how (when not OK).
	FirstBrokenID int64
	Reason        string
	// HeadSeq and HeadHash are the chain head.
	HeadSeq  int64
	HeadHash string
	// Checkpoint is where the next verification may start.
	Checkpoint AuditCheckpoint
}

// AuditChecker verifies the audit chain from a checkpoint (the database, through an adapter
// where the api is wired).
type AuditChecker interface {
	VerifyAuditSince(ctx context.Context, from AuditCheckpoint) (AuditResult, error)
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
		from   AuditCheckpoint
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
			from = AuditCheckpoint{}
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
			from = AuditCheckpoint{}
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
