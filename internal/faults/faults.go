// Package faults is the machinery of the fault scenarios (`pyxis loadtest --fault NAME` and
// the tests in cmd/pyxis): a load whose client retries as a careful one does (the same
// Idempotency-Key on every try of a POST), a TCP proxy that loses or delays what it carries,
// and the verdict line every scenario prints. It starts no server: cmd/pyxis builds the
// system, injects the faults and calls the invariant checker (internal/check).
package faults

import (
	"fmt"
	"time"
)

// Result is a scenario's verdict, printed as one line.
type Result struct {
	Scenario string
	// Requests is how many requests the load meant to make; Faults how many faults were
	// injected.
	Requests, Faults int
	// Lost, Duplicated and Stuck count the requests the system lost (acknowledged and gone,
	// never acknowledged, ended failed where the fault must only delay them, stock or a
	// report not settled), made or dispensed twice, and left unfinished.
	Lost, Duplicated, Stuck int
	LedgerOK, AuditOK       bool
	// Settle is how long the requests took to settle after the last fault was healed;
	// Took the whole scenario.
	Settle, Took time.Duration
	// Problems are failures the counts do not show (an answer 500 during an outage, a
	// /readyz that said ready with its database down); any makes the run fail.
	Problems []string
	// Notes say what was found beyond the counts (one line each).
	Notes []string
}

// OK reports whether every count is zero and every check holds.
func (r Result) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Stuck == 0 && r.LedgerOK && r.AuditOK && len(r.Problems) == 0
}

// Line is the scenario's verdict as the issue fixes it:
// scenario=<name> requests=<n> faults=<k> lost=0 duplicated=0 stuck=0 ledger=ok audit=ok
func (r Result) Line() string {
	return fmt.Sprintf("scenario=%s requests=%d faults=%d lost=%d duplicated=%d stuck=%d ledger=%s audit=%s",
		r.Scenario, r.Requests, r.Faults, r.Lost, r.Duplicated, r.Stuck, okWord(r.LedgerOK), okWord(r.AuditOK))
}

func okWord(ok bool) string {
	if ok {
		return "ok"
	}
	return "broken"
}
