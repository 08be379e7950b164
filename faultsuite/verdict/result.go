// Package verdict is what a fault scenario (faultsuite) concludes from what it saw: the
// counts of requests lost, duplicated and stuck, the ledger and the audit chain, and the
// problems no count shows, printed as one line. It starts nothing and reads nothing, so its
// rules are unit-tested with made-up evidence, without a Temporal server.
package verdict

import (
	"fmt"
	"io"
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

// Write prints the verdict line, the time the run took, the problems and the notes; it
// returns an error when the run lost, duplicated or left something.
func (res Result) Write(w io.Writer) error {
	fmt.Fprintln(w, res.Line())
	fmt.Fprintf(w, "  settle=%s took=%s\n", res.Settle.Round(100*time.Millisecond), res.Took.Round(100*time.Millisecond))
	for _, p := range res.Problems {
		fmt.Fprintln(w, "  PROBLEM: "+p)
	}
	for _, n := range res.Notes {
		fmt.Fprintln(w, "  "+n)
	}
	if !res.OK() {
		return fmt.Errorf("scenario %s: lost=%d duplicated=%d stuck=%d, %d problems", res.Scenario, res.Lost, res.Duplicated, res.Stuck, len(res.Problems))
	}
	return nil
}
