package intake

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/internal/metrics"
)

var _ cabinet.EventHandler = (*Intake)(nil)

// HandleEvent takes one report from the HL7 listener, store and forward: it checks what the
// sender must fix (AE: an unknown cabinet, a missing amount or one beyond any pocket, a report
// id reused for other content; an unknown medication, a fractional amount, another patient or
// other units are kept, and parked for review when applied) and who may send it (AR: a peer the cabinet's report_sources do not
// allow, or a TLS client certificate naming another cabinet), keeps the report in the inbox
// in one short transaction, and returns; the applier applies it afterwards (Run). So the
// cabinet is acknowledged within a second however busy the workflows are, and a crash between
// the acknowledgment and the application loses nothing. A resent report (same id, same
// content) is acknowledged again and applied once. Anything that may pass (the database
// does not answer) is AR: the cabinet resends later.
func (in *Intake) HandleEvent(ctx context.Context, e cabinet.Event) error {
	outcome, err := in.accept(ctx, e)
	in.Metrics.Observe(string(e.Kind), outcome)
	return err
}

// accept is HandleEvent; it also says how the report went, for the metrics.
func (in *Intake) accept(ctx context.Context, e cabinet.Event) (string, error) {
	if e.MessageControlID == "" {
		return metrics.ReportRefused, cabinet.Rejected(cabinet.ConditionRequiredField, "a report needs its message control id (MSH-10)", nil)
	}
	cab, err := in.Store.GetCabinetByCode(ctx, e.CabinetCode)
	if errors.Is(err, pyxis.ErrNotFound) {
		return metrics.ReportRefused, cabinet.Rejected(cabinet.ConditionUnknownKey, fmt.Sprintf("unknown cabinet %q", e.CabinetCode), err)
	}
	if err != nil {
		return metrics.ReportError, cabinet.NotNow("report not accepted; resend later", err)
	}
	peer, _ := mllp.PeerFromContext(ctx)
	if why := refusedPeer(cab, peer); why != "" {
		in.refuse(ctx, cab, e, peer, why)
		return metrics.ReportRefused, cabinet.NotNow("this peer may not report for cabinet "+cab.Code, errors.New(why))
	}
	if err := in.checkContent(ctx, cab, e); err != nil {
		var re *cabinet.ReportError
		if errors.As(err, &re) && re.Ack == cabinet.AckError {
			return metrics.ReportRefused, err
		}
		return metrics.ReportError, err
	}
	report, err := json.Marshal(e)
	if err != nil {
		return metrics.ReportError, fmt.Errorf("encode report: %w", err)
	}
	sum := sha256.Sum256(report)
	out, err := in.Store.AcceptReport(ctx, db.InboxReport{
		CabinetID: cab.ID, MessageControlID: e.MessageControlID, ContentHash: sum[:], Kind: string(e.Kind),
		Report: report, Raw: string(cabinet.RawFromContext(ctx)), Peer: peerString(peer), Retention: in.idRetention(),
	})
	if err != nil {
		return metrics.ReportError, cabinet.NotNow("report not accepted; resend later", err)
	}
	switch out {
	case db.Conflict:
		in.audit(ctx, cab, e, "sequence_conflict", map[string]any{
			"peer": peerString(peer), "reason": "a different report was received before under this message control id",
		})
		return metrics.ReportRefused, cabinet.Rejected(cabinet.ConditionDuplicateKey,
			fmt.Sprintf("message control id %s was used before for a different report", e.MessageControlID), nil)
	case db.Accepted:
		in.Notify()
		return metrics.ReportAccepted, nil
	}
	return metrics.ReportResent, nil
}

// refusedPeer says why a peer may not report for a cabinet, or "" when it may. With a
// verified client certificate, its common name must be the cabinet's code; without one, the
// peer's address must be in one of the cabinet's report_sources.
func refusedPeer(cab pyxis.Cabinet, p mllp.Peer) string {
	if p.CommonName != "" {
		if p.CommonName == cab.Code {
			return ""
		}
		return fmt.Sprintf("client certificate %q is not cabinet %s's", p.CommonName, cab.Code)
	}
	addr := p.Addr.Addr().Unmap()
	if !addr.IsValid() {
		return "the peer's address is unknown"
	}
	if slices.ContainsFunc(cab.ReportSources, func(n netip.Prefix) bool { return n.Contains(addr) }) {
		return ""
	}
	return fmt.Sprintf("%s is not in cabinet %s's report sources", addr, cab.Code)
}

// MayConnect reports whether a peer may report for any of cabs: its verified certificate
// names one of them, or its address is in one's report_sources. The listener asks it when the
// connection is accepted, before reading anything; refusedPeer then checks each report
// against the cabinet it names.
func MayConnect(cabs []pyxis.Cabinet, p mllp.Peer) bool {
	for _, c := range cabs {
		if refusedPeer(c, p) == "" {
			return true
		}
	}
	return false
}

// checkContent refuses what cannot have happened in a pocket: a vend that names nothing, an
// amount beyond any pocket, a transaction that does not exist. What did happen but cannot be
// applied as written (a medication the catalogue does not know, an amount that is not a whole
// number, another patient or other units than the order's) is kept, and the applier parks it
// for a pharmacist's review: refusing it would send it to the engine's error queue, and a
// controlled drug would never reach the register.
func (in *Intake) checkContent(ctx context.Context, cab pyxis.Cabinet, e cabinet.Event) error {
	if e.Kind == cabinet.EventVend {
		if len(e.Lines) == 0 {
			return cabinet.Rejected(cabinet.ConditionRequiredField, "a vend names what it dispensed", nil)
		}
		for i, l := range e.Lines {
			if _, flagged := lineFlag(e, i+1, cabinet.CauseFractional); flagged {
				continue
			}
			if n, ok := l.Amount.Get(); !ok || n <= 0 {
				return cabinet.Rejected(cabinet.ConditionRequiredField, fmt.Sprintf("vend of %s needs a positive amount", l.MedicationCode), nil)
			} else if n > db.MaxOnHand {
				return cabinet.Rejected(cabinet.ConditionDataType, fmt.Sprintf("vend of %s: %d is beyond any pocket (at most %d)", l.MedicationCode, n, db.MaxOnHand), nil)
			}
		}
		return nil
	}
	if _, flagged := lineFlag(e, 0, cabinet.CauseFractional); flagged {
		switch e.Kind {
		case cabinet.EventCount, cabinet.EventReturn, cabinet.EventWaste, cabinet.EventUnload, cabinet.EventLoad:
			return nil
		}
	}
	switch e.Kind {
	case cabinet.EventCount:
		if n, ok := e.Actual.Get(); !ok || n < 0 {
			return cabinet.Rejected(cabinet.ConditionRequiredField, "a count needs the quantity counted", nil)
		} else if n > db.MaxOnHand {
			return cabinet.Rejected(cabinet.ConditionDataType, fmt.Sprintf("a count of %d is beyond any pocket (at most %d)", n, db.MaxOnHand), nil)
		}
	case cabinet.EventReturn, cabinet.EventWaste, cabinet.EventUnload, cabinet.EventLoad:
		if n, ok := e.Amount.Get(); !ok || n <= 0 {
			return cabinet.Rejected(cabinet.ConditionRequiredField, fmt.Sprintf("%s of %s needs a positive amount", e.Kind, e.MedicationCode), nil)
		} else if n > db.MaxOnHand {
			return cabinet.Rejected(cabinet.ConditionDataType, fmt.Sprintf("%s of %d %s is beyond any pocket (at most %d)", e.Kind, n, e.MedicationCode, db.MaxOnHand), nil)
		}
	default:
		return cabinet.Rejected(cabinet.ConditionTableValue, fmt.Sprintf("unknown transaction %q", e.Kind), nil)
	}
	if e.Kind == cabinet.EventLoad || e.Kind == cabinet.EventReturn {
		return in.checkBound(ctx, cab, e)
	}
	return nil
}

// checkBound refuses a load or return that would fill a pocket beyond what any pocket holds
// (db.MaxOnHand): resending it could never help.
func (in *Intake) checkBound(ctx context.Context, cab pyxis.Cabinet, e cabinet.Event) error {
	rows, err := in.Store.ListStock(ctx, cab.ID)
	if err != nil {
		return cabinet.NotNow("report not accepted; resend later", err)
	}
	for _, r := range rows {
		if r.MedicationCode == e.MedicationCode && int64(r.OnHand)+int64(e.Amount.Or(0)) > db.MaxOnHand {
			return cabinet.Rejected(cabinet.ConditionDataType,
				fmt.Sprintf("%s of %d %s would leave more than %d in the pocket", e.Kind, e.Amount.Or(0), e.MedicationCode, db.MaxOnHand), nil)
		}
	}
	return nil
}

// refuse audits a report from a peer that may not send it (report_refused); it changes
// nothing else.
// A peer refused again and again costs one log line and one audit entry a minute, with the
// count of refusals since the last.
func (in *Intake) refuse(ctx context.Context, cab pyxis.Cabinet, e cabinet.Event, p mllp.Peer, why string) {
	report, count := in.refusals.Add(p.Addr.Addr().Unmap(), time.Now())
	if !report {
		return
	}
	in.logger().WarnContext(ctx, "cabinet report refused", "cabinet", cab.Code, "peer", peerString(p), "reason", why, "refusals", count)
	in.audit(ctx, cab, e, "report_refused", map[string]any{"peer": peerString(p), "reason": why, "refusals": count})
}

// audit records something about a report that is not a change of stock.
func (in *Intake) audit(ctx context.Context, cab pyxis.Cabinet, e cabinet.Event, action string, details map[string]any) {
	details["cabinet_id"] = cab.ID
	details["message_control_id"] = e.MessageControlID
	details["transaction"] = string(e.Kind)
	err := in.Store.AppendAudit(ctx, pyxis.AuditEntry{
		Actor: pyxis.Actor{ID: "cabinet:" + cab.Code, Role: "cabinet"}, Action: action, Details: details,
	}, "")
	if err != nil {
		in.logger().ErrorContext(ctx, "audit of a cabinet report", "action", action, "error", err)
	}
}

func peerString(p mllp.Peer) string {
	if !p.Addr.IsValid() {
		return ""
	}
	if p.CommonName != "" {
		return p.Addr.String() + " (" + p.CommonName + ")"
	}
	return p.Addr.String()
}
