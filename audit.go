package pyxis

import "time"

// AuditEntry is one entry of the append-only audit trail: who did what, when, to which
// request (if any), with the details that matter.
type AuditEntry struct {
	ID        int64
	At        time.Time
	Actor     Actor
	Action    string
	RequestID string
	Details   map[string]any
}
