package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis/db"
)

// auditStore is what the routes of the audit trail and the access log use of the database
// (db.AuditStore).
type auditStore interface {
	VerifyAudit(ctx context.Context) (db.AuditVerification, error)
	LogAccess(ctx context.Context, e db.AccessEntry) error
	ListAccess(ctx context.Context, f db.AccessFilter) ([]db.AccessEntry, string, error)
}

// AuditVerificationView is the answer of GET /v1/audit/verify.
type AuditVerificationView struct {
	OK            bool   `json:"ok"`
	Entries       int    `json:"entries"`
	LegacyEntries int    `json:"legacy_entries"`
	FirstBrokenID int64  `json:"first_broken_id"`
	Reason        string `json:"reason"`
	HeadSeq       int64  `json:"head_seq"`
	HeadHash      string `json:"head_hash"`
}

// verifyAudit walks the audit chain. A broken chain is still a 200: the check worked, and its
// answer is "ok": false with the first broken entry.
func (s *Server) verifyAudit(c *gin.Context) {
	v, err := s.audit.VerifyAudit(c.Request.Context())
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusOK, AuditVerificationView{
		OK: v.OK, Entries: v.Entries, LegacyEntries: v.Legacy, FirstBrokenID: v.FirstBrokenID,
		Reason: v.Reason, HeadSeq: v.HeadSeq, HeadHash: v.HeadHash,
	})
}
