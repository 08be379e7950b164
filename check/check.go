// Package check verifies the invariants the system promises, reading Postgres and Temporal:
// every request has a workflow and every workflow a request, with the same status once they
// settle; every pocket's reserved is the sum of its held reservations and its on_hand the sum
// of its ledger, within 0 <= reserved <= on_hand; every dispensed request took from the stock
// what its cabinet reported; no authorization was applied twice; the audit chain verifies; no
// request is stuck (an activity retrying, a step not recorded, a deadline long passed); no
// cabinet report was given up on or left waiting; no audit entry waits for its seal longer
// than 5 seconds. `pyxis check` runs it; the fault tests call
// it after each scenario.
package check

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/medreq/pyxis/db"
)

// Kinds of violation.
const (
	NoWorkflow      = "no_workflow"       // a request of the projection without a workflow
	NoProjection    = "no_projection"     // a workflow without its request in the projection
	StatusDiffers   = "status_differs"    // projection and workflow disagree, settled
	PocketLedger    = "pocket_ledger"     // reserved, held, on_hand and ledger disagree
	StockNotSettled = "stock_not_settled" // a request ended but still holds stock
	VendMismatch    = "vend_mismatch"     // a dispensed request took other than what was vended
	DoubleAuthorize = "double_authorization"
	AuditBroken     = "audit_broken"
	// AuditUnsealed is an audit entry not chained longer than Options.UnsealedAfter after it
	// was written: the sealer is not running or is behind, or the entry was taken off its
	// queue. Until sealed, an entry's content is not covered by the chain.
	AuditUnsealed = "audit_unsealed"
	Stuck         = "stuck"
	ReportFailed  = "report_failed"
	// Unverified is a running request whose workflow could not be described: whether an
	// activity of it is stuck retrying is not known.
	Unverified = "unverified"
)

// Kinds are every kind of violation the checker reports.
func Kinds() []string {
	return []string{NoWorkflow, NoProjection, StatusDiffers, PocketLedger, StockNotSettled, VendMismatch,
		DoubleAuthorize, AuditBroken, AuditUnsealed, Stuck, ReportFailed, Unverified}
}

// Classes of violation: what a violation means for the requests, as the report's counts and
// the fault scenarios' verdict line say it.
const (
	ClassLost       = "lost"
	ClassDuplicated = "duplicated"
	ClassStuck      = "stuck"
	ClassLedger     = "ledger"
	ClassAudit      = "audit"
)

// Class is the class of a kind of violation; "" for a kind the checker does not report.
// A status that differs between projection and workflow, settled, is a transition one of
// them lost.
func Class(kind string) string {
	switch kind {
	case NoWorkflow, NoProjection, StatusDiffers, StockNotSettled, ReportFailed:
		return ClassLost
	case DoubleAuthorize, VendMismatch:
		return ClassDuplicated
	case Stuck, Unverified:
		return ClassStuck
	case PocketLedger:
		return ClassLedger
	case AuditBroken, AuditUnsealed:
		return ClassAudit
	}
	return ""
}

// Violation is one broken promise: what kind, about what (a request id, a pocket, a report),
// and how.
type Violation struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	Detail  string `json:"detail"`
}

// Report is what a check found.
type Report struct {
	// Requests, Workflows and Pockets are how many were checked.
	Requests   int         `json:"requests"`
	Workflows  int         `json:"workflows"`
	Violations []Violation `json:"violations"`
	// Counts are the violations by kind; Lost, Duplicated and StuckCount sum them up as the
	// fault scenarios print them.
	Counts     map[string]int `json:"counts"`
	Lost       int            `json:"lost"`
	Duplicated int            `json:"duplicated"`
	StuckCount int            `json:"stuck"`
	LedgerOK   bool           `json:"ledger_ok"`
	AuditOK    bool           `json:"audit_ok"`
	CheckedAt  time.Time      `json:"checked_at"`
}

// OK reports whether every invariant holds.
func (r Report) OK() bool { return len(r.Violations) == 0 }

// Options tune a check.
type Options struct {
	// Namespace is the Temporal namespace of the workflows.
	Namespace string
	// Scope limits the check to some cabinets (and the workflows of their codes).
	Scope        db.CheckScope
	CabinetCodes []string
	// StuckAfter is how long an activity may keep retrying, a step stay unrecorded, or a
	// deadline stay passed, before the request counts as stuck (default 2 minutes).
	StuckAfter time.Duration
	// Settle is how long to wait for projection and workflows to agree before a difference
	// counts (default 30 seconds); they are compared again every second meanwhile.
	Settle time.Duration
	// UnsealedAfter is how long an audit entry may wait for its seal, by the database's
	// clock (default db.UnsealedAfter, 5 seconds).
	UnsealedAfter time.Duration
	// Authorizations, when set, returns how many times each request's authorization was
	// applied at its cabinet (a simulator's count, or a cabinet's log).
	Authorizations func(ctx context.Context) (map[string]int, error)
	// Failures reads the failures Temporal reports (an activity's last failure), whose
	// message is sealed when payloads are encrypted ("Encoded failure"): the Temporal client's
	// failure converter. Nil shows the message as Temporal holds it.
	Failures converter.FailureConverter
	// Now is the clock (time.Now).
	Now func() time.Time
	// retention is how long Temporal keeps closed workflows (read from the namespace): a
	// request that ended before it has no workflow any more, rightly.
	retention time.Duration
}

func (o Options) withDefaults() Options {
	if o.StuckAfter <= 0 {
		o.StuckAfter = 2 * time.Minute
	}
	if o.Settle <= 0 {
		o.Settle = 30 * time.Second
	}
	if o.UnsealedAfter <= 0 {
		o.UnsealedAfter = db.UnsealedAfter
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	return o
}

// Store is what the checker reads of the database: of db.RequestStore, StockStore, AuditStore
// and CabinetStore (a *db.Store has them all).
type Store interface {
	RequestStocks(ctx context.Context, scope db.CheckScope) ([]db.RequestStock, error)
	PocketProblems(ctx context.Context, scope db.CheckScope) ([]db.PocketProblem, error)
	VerifyAudit(ctx context.Context) (db.AuditVerification, error)
	UnsealedAudit(ctx context.Context, olderThan time.Duration) (db.UnsealedEntries, error)
	InboxProblems(ctx context.Context, scope db.CheckScope, pendingBefore time.Time) (failed, overdue int64, err error)
}

// Run checks every invariant and reports what it found. An error means the check could not
// be made (a database or Temporal that does not answer), not that an invariant failed.
func Run(ctx context.Context, store Store, tc Temporal, o Options) (Report, error) {
	o = o.withDefaults()
	rep := Report{CheckedAt: o.Now().UTC(), Counts: map[string]int{}, LedgerOK: true, AuditOK: true}
	ns, err := tc.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: o.Namespace})
	if err != nil {
		return rep, fmt.Errorf("describe namespace %s: %w", o.Namespace, err)
	}
	o.retention = ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration()

	// Projection and workflows: compare until they settle or the time is up.
	var found []Violation
	deadline := time.Now().Add(o.Settle)
	for {
		reqs, err := store.RequestStocks(ctx, o.Scope)
		if err != nil {
			return rep, err
		}
		wfs, err := listWorkflows(ctx, tc, o)
		if err != nil {
			return rep, err
		}
		rep.Requests, rep.Workflows = len(reqs), len(wfs)
		found = compare(reqs, wfs, o)
		if !unsettled(found) || time.Now().After(deadline) {
			found = append(found, stuckActivities(ctx, tc, wfs, o)...)
			break
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	rep.Violations = append(rep.Violations, found...)

	pockets, err := store.PocketProblems(ctx, o.Scope)
	if err != nil {
		return rep, err
	}
	for _, p := range pockets {
		rep.Violations = append(rep.Violations, Violation{PocketLedger, fmt.Sprintf("pocket %d/%d", p.CabinetID, p.MedicationID),
			fmt.Sprintf("on_hand %d, ledger %d, reserved %d, held reservations %d", p.OnHand, p.Balance, p.Reserved, p.Held)})
	}

	if o.Authorizations != nil {
		counts, err := o.Authorizations(ctx)
		if err != nil {
			return rep, fmt.Errorf("authorizations: %w", err)
		}
		ids := make([]string, 0, len(counts))
		for id := range counts {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if counts[id] > 1 {
				rep.Violations = append(rep.Violations, Violation{DoubleAuthorize, id, fmt.Sprintf("applied %d times at its cabinet", counts[id])})
			}
		}
	}

	audit, err := store.VerifyAudit(ctx)
	if err != nil {
		return rep, err
	}
	if !audit.OK {
		rep.Violations = append(rep.Violations, Violation{AuditBroken, fmt.Sprintf("audit entry %d", audit.FirstBrokenID), audit.Reason})
	}
	unsealed, err := store.UnsealedAudit(ctx, o.UnsealedAfter)
	if err != nil {
		return rep, err
	}
	if unsealed.Count > 0 {
		rep.Violations = append(rep.Violations, Violation{AuditUnsealed, fmt.Sprintf("audit entry %d", unsealed.FirstID),
			fmt.Sprintf("%d audit entries not sealed more than %s after they were written (the oldest for %s): is a sealer running?",
				unsealed.Count, o.UnsealedAfter, unsealed.Oldest)})
	}

	failed, overdue, err := store.InboxProblems(ctx, o.Scope, o.Now().Add(-o.StuckAfter))
	if err != nil {
		return rep, err
	}
	if failed > 0 {
		rep.Violations = append(rep.Violations, Violation{ReportFailed, "cabinet inbox", fmt.Sprintf("%d reports given up on (audited report_failed)", failed)})
	}
	if overdue > 0 {
		rep.Violations = append(rep.Violations, Violation{Stuck, "cabinet inbox", fmt.Sprintf("%d reports pending for more than %s", overdue, o.StuckAfter)})
	}

	rep.count()
	return rep, nil
}

// count sums the violations up by kind and by class.
func (r *Report) count() {
	for _, v := range r.Violations {
		r.Counts[v.Kind]++
		switch Class(v.Kind) {
		case ClassLost:
			r.Lost++
		case ClassDuplicated:
			r.Duplicated++
		case ClassStuck:
			r.StuckCount++
		case ClassLedger:
			r.LedgerOK = false
		case ClassAudit:
			r.AuditOK = false
		}
	}
}

// Summary is the one line the fault scenarios print, and a human summary of the violations.
func (r Report) Summary() string {
	ledger, audit := "ok", "ok"
	if !r.LedgerOK {
		ledger = "broken"
	}
	if !r.AuditOK {
		audit = "broken"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "requests=%d workflows=%d lost=%d duplicated=%d stuck=%d ledger=%s audit=%s",
		r.Requests, r.Workflows, r.Lost, r.Duplicated, r.StuckCount, ledger, audit)
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "\n  %s %s: %s", v.Kind, v.Subject, v.Detail)
	}
	return b.String()
}
