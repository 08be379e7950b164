package service

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/codec"
)

type auditSink struct {
	mu      sync.Mutex
	entries []pyxis.AuditEntry
	keys    []string
}

func (a *auditSink) AppendAudit(_ context.Context, e pyxis.AuditEntry, key string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries, a.keys = append(a.entries, e), append(a.keys, key)
	return nil
}

func (a *auditSink) snapshot() ([]pyxis.AuditEntry, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]pyxis.AuditEntry(nil), a.entries...), append([]string(nil), a.keys...)
}

// A refusal is audited as forged_payload against the request it was aimed at, keyed so a
// replay of the same payload is written once, with a workflow id cleaned of what an attacker
// may have put in it.
func TestRefusalsAreAudited(t *testing.T) {
	sink := &auditSink{}
	refused := refusalAuditor(sink)
	refused(codec.Refusal{WorkflowID: "medreq-01ABC", Reason: codec.RefusedNotEncrypted, Fingerprint: "f1"})
	refused(codec.Refusal{WorkflowID: "items-1-2\x00\n", Reason: codec.RefusedDoesNotOpen, Fingerprint: "f2"})
	require.Eventually(t, func() bool { e, _ := sink.snapshot(); return len(e) == 2 }, 5*time.Second, 10*time.Millisecond)
	entries, keys := sink.snapshot()
	byWorkflow := map[string]pyxis.AuditEntry{}
	for _, e := range entries {
		assert.Equal(t, ActionForgedPayload, e.Action)
		assert.Equal(t, pyxis.System, e.Actor)
		byWorkflow[e.Details["workflow_id"].(string)] = e
	}
	assert.Equal(t, "medreq-01ABC", byWorkflow["medreq-01ABC"].RequestID)
	assert.Equal(t, codec.RefusedNotEncrypted, byWorkflow["medreq-01ABC"].Details["reason"])
	other, ok := byWorkflow["items-1-2??"]
	require.True(t, ok, "control characters replaced: %v", entries)
	assert.Empty(t, other.RequestID, "not a request")
	assert.ElementsMatch(t, []string{"forged_payload:medreq-01ABC:f1", "forged_payload:items-1-2??:f2"}, keys)
}
