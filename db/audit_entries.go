package db

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// AppendAudit appends an audit entry not tied to a transition: an escalation, a stock count,
// a catalogue change. A zero At means now, an empty RequestID is stored as NULL, and a
// non-empty idemKey makes a repeated call write the entry once; "" means no key. The entry's
// ID is ignored.
func (s *AuditStore) AppendAudit(ctx context.Context, e pyxis.AuditEntry, idemKey string) error {
	return wrap("append audit", s.inTx(ctx, func(q *gen.Queries) error {
		return appendAudit(ctx, q, auditRecord{
			at: e.At, actor: e.Actor, action: e.Action, requestID: e.RequestID, idemKey: idemKey, details: e.Details,
		})
	}))
}

// ListAudit returns the audit entries of a request in the order they were written.
func (s *AuditStore) ListAudit(ctx context.Context, requestID string) ([]pyxis.AuditEntry, error) {
	rows, err := s.q.ListAudit(ctx, pgtype.Text{String: requestID, Valid: true})
	if err != nil {
		return nil, wrap("list audit", err)
	}
	out, err := auditEntries(rows)
	return out, wrap("list audit", err)
}

// ListAuditByAction returns the latest 500 audit entries of one action, newest first.
func (s *AuditStore) ListAuditByAction(ctx context.Context, action string) ([]pyxis.AuditEntry, error) {
	rows, err := s.q.ListAuditByAction(ctx, gen.ListAuditByActionParams{Action: action, MaxRows: 500})
	if err != nil {
		return nil, wrap("list audit by action", err)
	}
	out, err := auditEntries(rows)
	return out, wrap("list audit by action", err)
}

func auditEntries(rows []gen.AuditLog) ([]pyxis.AuditEntry, error) {
	out := make([]pyxis.AuditEntry, len(rows))
	for i, r := range rows {
		details := map[string]any{}
		if err := json.Unmarshal(r.Details, &details); err != nil {
			return nil, err
		}
		out[i] = pyxis.AuditEntry{
			ID:        r.ID,
			At:        r.At,
			Actor:     pyxis.Actor{ID: r.ActorID, Role: r.ActorRole},
			Action:    r.Action,
			RequestID: r.RequestID.String,
			Details:   details,
		}
	}
	return out, nil
}
