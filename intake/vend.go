package intake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/workflows"
)

// Vend is one withdrawal report: what a cabinet says it dispensed, and for which order.
type Vend struct {
	Cabinet pyxis.Cabinet
	// OrderRef is the order the report names: a request id, another system's order number,
	// or empty.
	OrderRef string
	// Lines are what was dispensed; none means the whole order, as ordered.
	Lines []pyxis.Line
	// ReportID identifies the report within its door (the cabinet's message control id; the
	// id the API generated, rest-<uuid>); a resent report with the same id is applied once.
	ReportID string
	// MessageControlID is the cabinet's MSH-10 when ReportID is one order's part of a vend
	// of several (MSH-10/n): what an override review shows. Empty: ReportID.
	MessageControlID string
	Actor            pyxis.Actor
	// Source is "cabinet" or "api".
	Source string
	At     time.Time
}

// VendResult is what applying a vend did.
type VendResult struct {
	// Outcome is applied (the request took it), duplicate (it had taken it before) or
	// unmatched (recorded without a request, with override reviews).
	Outcome string
	// State is the request after the report, when a request took it.
	State *workflows.State
	// Reviews are the override reviews an unmatched dispense opened.
	Reviews []int64
}

// ApplyVend applies a withdrawal report, whichever door it came through. A report for a
// request waiting at the cabinet goes to its workflow, which consumes what the report says
// per line and compares it with the order. With strict, anything else is an error (the API
// answers it 409: a person can look at the request); otherwise a report no request can take
// is recorded as an unmatched dispense, opening override reviews, and a report that came
// before its authorization was confirmed is ErrNotYet (to be applied shortly). Errors that
// may pass (the database, Temporal) are returned as they are, to be retried.
func (in *Intake) ApplyVend(ctx context.Context, v Vend, strict bool) (VendResult, error) {
	if !pyxis.ValidRequestID(v.OrderRef) {
		cause := db.UnmatchedUnknownOrder
		if v.OrderRef == "" {
			cause = db.UnmatchedNoOrder
		}
		if strict {
			return VendResult{}, fmt.Errorf("%w: %q is not a request", ErrRefused, v.OrderRef)
		}
		return in.unmatched(ctx, v, cause)
	}
	var st workflows.State
	updateID := vendUpdateID(v)
	err := in.update(ctx, v.OrderRef, workflows.WithdrawnUpdate, updateID, workflows.WithdrawnInput{
		Actor: v.Actor, CabinetID: v.Cabinet.ID, Lines: v.Lines, ReportID: v.ReportID, Source: v.Source,
	}, &st)
	switch {
	case err == nil:
		return VendResult{Outcome: outcomeApplied, State: &st}, nil
	case isNotFound(err):
		// No such workflow, or it has completed: the projection knows how it ended.
		return in.vendForEnded(ctx, v, strict)
	case isRejection(err, workflows.ErrNotYet):
		return VendResult{}, fmt.Errorf("%w: vend of request %s at cabinet %s", ErrNotYet, v.OrderRef, v.Cabinet.Code)
	case isRejection(err, workflows.ErrInvalidState), isRejection(err, workflows.ErrInvalidInput):
		return in.vendRefused(ctx, v, strict, err)
	}
	return VendResult{}, fmt.Errorf("vend of %s at cabinet %s: %w", v.OrderRef, v.Cabinet.Code, err)
}

// vendUpdateID names the workflow update a vend becomes, in one namespace per door, so no
// door can take the id another door's report will use: the API's reports carry an id the
// server generated (rest-<uuid>, whatever the caller's X-Request-ID), the cabinets' their
// own message control id within that cabinet (vend-<cabinet>-<MSH-10>, as it always was, so
// a report in flight across an upgrade keeps its id). None without a report id.
func vendUpdateID(v Vend) string {
	switch {
	case v.ReportID == "":
		return ""
	case v.Source == db.SourceAPI:
		return "api-vend-" + v.ReportID
	}
	return fmt.Sprintf("vend-%d-%s", v.Cabinet.ID, v.ReportID)
}

// vendForEnded answers a vend for a request whose workflow is not running: the report that
// dispensed it, resent after the end, is a duplicate; anything else is unmatched.
func (in *Intake) vendForEnded(ctx context.Context, v Vend, strict bool) (VendResult, error) {
	d, err := in.Store.GetRequestDetail(ctx, v.OrderRef)
	if errors.Is(err, pyxis.ErrNotFound) {
		if strict {
			return VendResult{}, fmt.Errorf("%w: no request %s", ErrRefused, v.OrderRef)
		}
		return in.unmatched(ctx, v, db.UnmatchedUnknownOrder)
	}
	if err != nil {
		return VendResult{}, fmt.Errorf("look up request %s: %w", v.OrderRef, err)
	}
	if taken, err := in.alreadyTaken(ctx, d, v); err != nil || taken {
		return VendResult{Outcome: outcomeDuplicate}, err
	}
	if strict {
		return VendResult{}, fmt.Errorf("%w: vend of request %s at cabinet %s: the request is %s", ErrRefused, v.OrderRef, v.Cabinet.Code, d.Status)
	}
	if late(d, v) {
		return in.lateVend(ctx, d, v)
	}
	return in.unmatched(ctx, v, db.UnmatchedRequestNotReady)
}

// vendRefused answers a vend the running workflow refused (one that came before its
// authorization was confirmed is not refused: ErrNotYet, above): a resend of a report it
// took is a duplicate; anything else (the request is not at this cabinet, awaiting
// approval, ended) is unmatched.
func (in *Intake) vendRefused(ctx context.Context, v Vend, strict bool, refusal error) (VendResult, error) {
	d, err := in.Store.GetRequestDetail(ctx, v.OrderRef)
	if err != nil && !errors.Is(err, pyxis.ErrNotFound) {
		return VendResult{}, fmt.Errorf("vend of %s refused (%w); request not read: %w", v.OrderRef, refusal, err)
	}
	if err == nil {
		if taken, err := in.alreadyTaken(ctx, d, v); err != nil || taken {
			return VendResult{Outcome: outcomeDuplicate}, err
		}
	}
	if strict {
		return VendResult{}, fmt.Errorf("%w: vend of %s at cabinet %s: %w", ErrRefused, v.OrderRef, v.Cabinet.Code, refusal)
	}
	if err == nil && late(d, v) {
		return in.lateVend(ctx, d, v)
	}
	return in.unmatched(ctx, v, db.UnmatchedRequestNotReady)
}

// alreadyTaken reports whether the request took this report before: the report is a resend.
// Reports without an id cannot be told apart; a dispensed request at this cabinet then counts
// as having taken it, as before vends were accounted per line.
func (in *Intake) alreadyTaken(ctx context.Context, d db.RequestDetail, v Vend) (bool, error) {
	if d.CabinetID != v.Cabinet.ID {
		return false, nil
	}
	if v.ReportID == "" {
		return d.Status == string(workflows.StatusDispensed), nil
	}
	for _, t := range d.Transitions {
		if t.ReportID == v.ReportID {
			return true, nil
		}
	}
	// Recorded before reports kept their id: a dispensed request took it.
	return d.Status == string(workflows.StatusDispensed) && !d.Complete, nil
}

// late reports whether v is a cabinet's vend for a request another report already dispensed
// at that cabinet: a nurse's REST report, say, that named every line before the cabinet's own
// report came in.
func late(d db.RequestDetail, v Vend) bool {
	return d.Status == string(workflows.StatusDispensed) && d.CabinetID == v.Cabinet.ID && v.ReportID != ""
}

// lateVend applies a late vend to its request's ledger by the rules of every vend: what the
// request no longer holds opens an over_vend (or wrong_medication) discrepancy, whichever
// report came first. A report without lines dispensed the order, as ordered.
func (in *Intake) lateVend(ctx context.Context, d db.RequestDetail, v Vend) (VendResult, error) {
	lines := v.Lines
	if len(lines) == 0 {
		lines = d.Lines
	}
	res, err := in.Store.RecordLateVend(ctx, d.ID, pyxis.Vend{
		CabinetID: v.Cabinet.ID, Lines: lines, ReportID: v.ReportID, Actor: v.Actor, Source: v.Source, At: v.At,
	})
	if err != nil {
		return VendResult{}, fmt.Errorf("record late vend of %s at cabinet %s: %w", d.ID, v.Cabinet.Code, err)
	}
	if res.Duplicate {
		return VendResult{Outcome: outcomeDuplicate}, nil
	}
	in.logger().WarnContext(ctx, "vend reported after the request was dispensed: applied to its ledger", "cabinet", v.Cabinet.Code,
		"request_id", d.ID, "report_id", v.ReportID, "discrepancies", res.Discrepancies)
	return VendResult{Outcome: outcomeLate}, nil
}

// unmatched records a vend no request could take: the stock leaves the ledger without a
// request, and each line opens an override review.
func (in *Intake) unmatched(ctx context.Context, v Vend, cause string) (VendResult, error) {
	if len(v.Lines) == 0 {
		// A report with neither lines nor a request says nothing that can be recorded.
		return VendResult{}, fmt.Errorf("%w: a vend without an order must say what it dispensed", ErrInvalidReport)
	}
	u := db.UnmatchedDispense{
		CabinetID: v.Cabinet.ID, OrderRef: v.OrderRef, Cause: cause, MessageControlID: cmp.Or(v.MessageControlID, v.ReportID),
		ClaimKey: v.ReportID,
		Lines:    v.Lines, Actor: v.Actor, Source: v.Source, At: v.At,
	}
	res, err := in.Store.RecordUnmatchedDispense(ctx, u)
	if err != nil {
		return VendResult{}, fmt.Errorf("record unmatched dispense at cabinet %s: %w", v.Cabinet.Code, err)
	}
	if res.Duplicate {
		return VendResult{Outcome: outcomeDuplicate}, nil
	}
	in.logger().WarnContext(ctx, "vend without a matching request recorded for review", "cabinet", v.Cabinet.Code,
		"order_ref", v.OrderRef, "cause", cause, "override_reviews", res.Reviews)
	return VendResult{Outcome: outcomeUnmatched, Reviews: res.Reviews}, nil
}
