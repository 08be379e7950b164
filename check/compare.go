package check

import (
	"fmt"
	"sort"
	"time"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/workflows"
)

// compare checks the requests of the projection against their workflows and the stock.
func compare(reqs []db.RequestStock, wfs map[string]workflowInfo, o Options) []Violation {
	var out []Violation
	now := o.Now()
	seen := map[string]bool{}
	for _, r := range reqs {
		seen[r.ID] = true
		w, ok := wfs[r.ID]
		switch {
		case !ok && workflows.Status(r.Status).Terminal() && o.retention > 0 && now.Sub(r.UpdatedAt) > o.retention:
			// Ended before the namespace's retention: Temporal has let it go.
			continue
		case !ok:
			// A workflow's first step creates its row: a row without one never had it, or the
			// visibility store is behind (compared again until settled).
			out = append(out, Violation{NoWorkflow, r.ID, "the request is in the projection but Temporal has no workflow for it"})
			continue
		case w.status != "" && w.status != r.Status:
			out = append(out, Violation{StatusDiffers, r.ID, fmt.Sprintf("projection %s, workflow %s", r.Status, w.status)})
		}
		terminal := workflows.Status(r.Status).Terminal()
		if terminal && r.Held > 0 {
			out = append(out, Violation{StockNotSettled, r.ID, fmt.Sprintf("ended %s but still holds %d units", r.Status, r.Held)})
		}
		if r.Status == string(workflows.StatusDispensed) {
			want := r.Reserved
			if r.Vended >= 0 {
				want = r.Vended
			}
			if got := r.Dispensed + r.NotInLedger; got != want {
				out = append(out, Violation{VendMismatch, r.ID, fmt.Sprintf("took %d units (%d outside the ledger) where %d were vended", r.Dispensed, r.NotInLedger, want)})
			}
		}
		if v, ok := stuckRequest(r, w, now, o.StuckAfter); ok {
			out = append(out, v)
		}
	}
	ids := make([]string, 0, len(wfs))
	for id := range wfs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		w := wfs[id]
		// A workflow that just started has not recorded its first step yet.
		if !seen[id] && now.Sub(w.started) > o.StuckAfter {
			out = append(out, Violation{NoProjection, id, "Temporal has the workflow but the projection has no request"})
		}
	}
	return out
}

// stuckRequest finds a running request that did not move when it should have: a deadline
// passed long ago, or a step (submitted, approved) that never got recorded past it.
func stuckRequest(r db.RequestStock, w workflowInfo, now time.Time, after time.Duration) (Violation, bool) {
	if !w.running {
		return Violation{}, false
	}
	late := func(t *time.Time) bool { return t != nil && now.Sub(*t) > after }
	switch status := workflows.Status(r.Status); {
	case status == workflows.StatusAwaitingApproval:
		if late(r.ApprovalDeadline) {
			return Violation{Stuck, r.ID, "still awaiting approval, past its approval deadline"}, true
		}
	case status == workflows.StatusReadyAtCabinet:
		if late(r.WithdrawalDeadline) {
			return Violation{Stuck, r.ID, "still ready at the cabinet, past its withdrawal deadline"}, true
		}
	case status.Passing():
		if now.Sub(r.UpdatedAt) > after {
			return Violation{Stuck, r.ID, fmt.Sprintf("%s for %s", r.Status, now.Sub(r.UpdatedAt).Round(time.Second))}, true
		}
	}
	return Violation{}, false
}

// unsettled reports whether some difference may be the projection or the visibility store
// catching up, worth comparing again.
func unsettled(vs []Violation) bool {
	for _, v := range vs {
		switch v.Kind {
		case NoWorkflow, NoProjection, StatusDiffers, StockNotSettled, VendMismatch:
			return true
		}
	}
	return false
}
