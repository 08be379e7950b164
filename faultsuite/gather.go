package faultsuite

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/medreq/pyxis/check"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/faultsuite/verdict"
)

// evidence gathers what the scenario saw, for the verdict: what the injection observed, what
// the client saw, the invariant checker's report (with the cabinet's count of each
// authorization), how every request stands, and the cabinet's and the inbox's counts.
func (fs *stack) evidence(ctx context.Context, sc scenario, o observed, out verdict.Outcome, open []string) (verdict.Evidence, error) {
	e := verdict.Evidence{
		Scenario: sc.name, Reference: sc.reference, Faults: o.faults, MustCatch: sc.mustCatch, Caught: o.caught,
		MayFail: sc.mayFail, MayExpire: sc.mayExpire, WantDuplicates: sc.wantDuplicates, Problems: o.problems, Notes: o.notes,
		Client: out, Open: open,
	}
	var err error
	e.Check, err = check.Run(ctx, fs.store, fs.tc, check.Options{
		Namespace: "default", Settle: cmp.Or(fs.fc.CheckSettle, 30*time.Second), StuckAfter: 2 * time.Minute,
		Authorizations: func(context.Context) (map[string]int, error) {
			m := map[string]int{}
			for _, o := range fs.sim.Orders() {
				m[o.RequestID] = o.Applied
			}
			return m, nil
		},
	})
	if err != nil {
		return e, fmt.Errorf("check: %w", err)
	}
	if e.Ends, err = fs.ends(ctx); err != nil {
		return e, err
	}
	e.Orders, e.Cabinet = fs.sim.Orders(), fs.sim.Stats()
	if e.Inbox, err = fs.store.InboxOutcomes(ctx); err != nil {
		return e, err
	}
	return e, nil
}

// ends reads how every request stands: status and reason code.
func (fs *stack) ends(ctx context.Context) (map[string]verdict.End, error) {
	out := map[string]verdict.End{}
	f := db.RequestFilter{Limit: 200}
	for {
		page, next, err := fs.store.ListRequests(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, r := range page {
			out[r.ID] = verdict.End{Status: r.Status, Reason: r.ReasonCode}
		}
		if next == "" {
			return out, nil
		}
		f.Cursor = next
	}
}
