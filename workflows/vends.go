package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis"
)

// Withdrawals are accounted per line: what each report says was dispensed is consumed, line
// by line, and what differs from the order opens a discrepancy.

// takeVend applies a withdrawal report to the state: the lines it names are withdrawn (with
// what the cabinet counted, which the workflow's next step consumes and compares with the
// order), and the request is dispensed once every ordered line was named by some report. A
// report without lines withdraws every line not yet withdrawn, as ordered.
func (r *request) takeVend(ctx workflow.Context, in WithdrawnInput) {
	lines := in.Lines
	if len(lines) == 0 {
		lines = r.owed()
	}
	if r.named == nil {
		r.named = map[int64]bool{}
	}
	for _, l := range lines {
		r.named[l.MedicationID] = true
		r.state.Vended = addLine(r.state.Vended, l)
	}
	// The ledger knows two doors: the API, and the cabinet (real or simulated).
	source := "cabinet"
	if in.Source == "api" {
		source = "api"
	}
	r.pendingVends = append(r.pendingVends, pyxis.Vend{
		CabinetID: r.in.CabinetID, Lines: lines, ReportID: in.ReportID, Actor: in.Actor, Source: source, At: workflow.Now(ctx),
	})
	if len(r.owed()) == 0 {
		r.move(ctx, StatusDispensed, "withdrawn", in.Actor, noReason)
	} else {
		r.move(ctx, StatusReadyAtCabinet, "partially_withdrawn", in.Actor,
			note(fmt.Sprintf("%d of %d lines withdrawn", len(r.in.Lines)-len(r.owed()), len(r.in.Lines))))
	}
	if r.vendedAt == nil {
		r.vendedAt = map[int32]vendRecord{}
	}
	r.vendedAt[int32(len(r.state.Transitions))] = vendRecord{lines: lines, reportID: in.ReportID}
}

// vendRecord is what a withdrawal transition records: the lines and the report.
type vendRecord struct {
	lines    []pyxis.Line
	reportID string
}

// owed returns the ordered lines no report has named yet, as ordered.
func (r *request) owed() []pyxis.Line {
	var out []pyxis.Line
	for _, l := range r.in.Lines {
		if !r.named[l.MedicationID] {
			out = append(out, l)
		}
	}
	return out
}

// addLine adds l to lines, summing a medication already there; the order stays stable.
func addLine(lines []pyxis.Line, l pyxis.Line) []pyxis.Line {
	i := slices.IndexFunc(lines, func(x pyxis.Line) bool { return x.MedicationID == l.MedicationID })
	if i < 0 {
		return append(lines, l)
	}
	out := slices.Clone(lines)
	out[i].Quantity += l.Quantity
	return out
}

// awaitWithdrawal waits at the cabinet until the withdrawal deadline: each report is
// recorded, and its stock consumed, as it comes; the request ends dispensed once every line
// was withdrawn (what short lines left is released, and they open discrepancies), cancelled,
// or expired (what was not withdrawn is released, and the authorization withdrawn).
func (r *request) awaitWithdrawal(ctx workflow.Context) (*State, error) {
	deadline := *r.state.WithdrawalDeadline
	for {
		if _, err := workflow.AwaitWithTimeout(ctx, deadline.Sub(workflow.Now(ctx)), func() bool {
			return r.state.Status != StatusReadyAtCabinet || len(r.pendingVends) > 0
		}); err != nil {
			return nil, err
		}
		switch {
		case r.state.Status == StatusDispensed:
			if err := r.dispense(ctx); err != nil {
				return nil, err
			}
			return r.finish(ctx, false)
		case r.state.Status == StatusCancelled:
			if r.durable {
				// The revoke may wait out an outage: the cancellation shows at once.
				if err := r.flush(ctx); err != nil {
					return nil, err
				}
			}
			r.revoke(ctx)
			return r.finish(ctx, true)
		case len(r.pendingVends) > 0:
			res, err := r.commit(ctx, pyxis.StockNone)
			if err != nil {
				return nil, err
			}
			r.restockAfterConsume(ctx, res.Levels)
		default:
			r.move(ctx, StatusExpired, "withdrawal_window_passed", pyxis.System,
				because(ReasonWithdrawalExpired, "not withdrawn within "+r.in.Policy.WithdrawalTimeout.String()))
			r.revoke(ctx)
			return r.finish(ctx, true)
		}
	}
}
