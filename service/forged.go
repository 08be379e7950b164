package service

import (
	"context"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"go.temporal.io/sdk/converter"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/codec"
)

// ActionForgedPayload is the audit action of a payload the worker (or the api's client)
// refused because it was not sealed with the codec keys.
const ActionForgedPayload = "forged_payload"

// RefusalAuditor is what auditing a forged payload needs of the store.
type RefusalAuditor interface {
	AppendAudit(ctx context.Context, e pyxis.AuditEntry, idemKey string) error
}

// forgedAudits bounds the audit writes in flight: a flood of forged payloads costs at most
// this many connections; beyond it refusals are only logged.
const forgedAudits = 8

// PayloadConverters returns the data and failure converters of a Temporal client of the
// system: nil, nil when encryption is off (the SDK's defaults); otherwise the guarded ones
// (codec.GuardedConverters), whose refusals are logged and, with audit, audited as
// forged_payload.
func PayloadConverters(cd *codec.Codec, audit RefusalAuditor) (converter.DataConverter, converter.FailureConverter) {
	if cd == nil {
		return nil, nil
	}
	return codec.GuardedConverters(codec.NewGuard(cd, refusalAuditor(audit)))
}

// refusalAuditor audits each refusal in the background: the guard calls it inside the SDK's
// decoding, on a workflow's goroutine, which must not wait for Postgres. The same payload
// refused again (a replay of a history that holds a forged signal or start) is audited once:
// its idempotency key is the workflow and the payload's fingerprint.
func refusalAuditor(audit RefusalAuditor) func(codec.Refusal) {
	slots := make(chan struct{}, forgedAudits)
	return func(r codec.Refusal) {
		wf := cleanWorkflowID(r.WorkflowID)
		slog.Warn("refused a Temporal payload not sealed with the codec keys",
			"workflow_id", wf, "reason", r.Reason, "fingerprint", r.Fingerprint)
		if audit == nil {
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			slog.Warn("forged payload not audited: too many audits in flight", "workflow_id", wf)
			return
		}
		go func() {
			defer func() { <-slots }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			e := pyxis.AuditEntry{
				Actor: pyxis.System, Action: ActionForgedPayload,
				Details: map[string]any{"workflow_id": wf, "reason": r.Reason, "fingerprint": r.Fingerprint},
			}
			// The workflow id of a request is the request id.
			if strings.HasPrefix(wf, "medreq-") {
				e.RequestID = wf
			}
			if err := audit.AppendAudit(ctx, e, ActionForgedPayload+":"+wf+":"+r.Fingerprint); err != nil {
				slog.Error("forged payload not audited", "workflow_id", wf, "error", err)
			}
		}()
	}
}

// cleanWorkflowID keeps a workflow id fit for the log and the audit trail: whoever forged
// the payload chose it too.
func cleanWorkflowID(id string) string {
	id = strings.ToValidUTF8(id, "?")
	id = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, id)
	if len(id) > 200 {
		id = strings.ToValidUTF8(id[:200], "") + "…"
	}
	return id
}
