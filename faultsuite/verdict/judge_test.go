package verdict

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/check"
)

// clean is the evidence of a run in which nothing went wrong: two faults injected, the two
// requests acknowledged and dispensed, the cabinet holding nothing.
func clean() Evidence {
	return Evidence{
		Scenario: "api-kill", Requests: 2, Faults: 2, MustCatch: "a POST in flight", Caught: 1,
		Check:  check.Report{Requests: 2, Workflows: 2},
		Client: Outcome{Keys: 2, Created: 2, IDs: []string{"medreq-1", "medreq-2"}, Answers: map[int]int{http.StatusCreated: 2}},
		Ends:   map[string]End{"medreq-1": {Status: "dispensed"}, "medreq-2": {Status: "dispensed"}},
		Orders: []cabsim.OrderCount{{RequestID: "medreq-1", Applied: 1, Status: "withdrawn"}, {RequestID: "medreq-2", Applied: 1, Status: "withdrawn"}},
	}
}

func TestACleanRunPasses(t *testing.T) {
	res := Judge(clean())
	assert.True(t, res.OK(), "%s %v", res.Line(), res.Problems)
	assert.Equal(t, "scenario=api-kill requests=2 faults=2 lost=0 duplicated=0 stuck=0 ledger=ok audit=ok", res.Line())
}

// Every kind of violation the checker reports fails the verdict, in its class: none is left
// uncounted (status_differs was, once).
func TestEveryViolationOfTheCheckerCounts(t *testing.T) {
	want := map[string]func(Result) bool{
		check.ClassLost:       func(r Result) bool { return r.Lost == 1 },
		check.ClassDuplicated: func(r Result) bool { return r.Duplicated == 1 },
		check.ClassStuck:      func(r Result) bool { return r.Stuck == 1 },
		check.ClassLedger:     func(r Result) bool { return !r.LedgerOK },
		check.ClassAudit:      func(r Result) bool { return !r.AuditOK },
	}
	for _, kind := range check.Kinds() {
		t.Run(kind, func(t *testing.T) {
			e := clean()
			e.Check.Violations = []check.Violation{{Kind: kind, Subject: "medreq-1", Detail: "made up"}}
			res := Judge(e)
			assert.False(t, res.OK(), res.Line())
			counted, ok := want[check.Class(kind)]
			require.True(t, ok, "kind %s has no class", kind)
			assert.True(t, counted(res), "%s counted in %s: %s", kind, check.Class(kind), res.Line())
			assert.Contains(t, res.Notes, "check: "+kind+" medreq-1: made up")
		})
	}
	e := clean()
	e.Check.Violations = []check.Violation{{Kind: "something_new", Subject: "x"}}
	res := Judge(e)
	assert.False(t, res.OK(), "a kind the verdict does not know is not waved through")
	assert.Len(t, res.Problems, 1)
}

// The line says the faults the injection observed; a fault that was not injected, or never
// caught its moment, tested nothing.
func TestAFaultThatTestedNothingFails(t *testing.T) {
	e := clean()
	e.Faults, e.Caught = 0, 0
	res := Judge(e)
	assert.Contains(t, res.Line(), "faults=0")
	assert.False(t, res.OK())
	assert.Contains(t, res.Problems, "no fault was injected: the scenario tested nothing")
	assert.Contains(t, res.Problems, "no injection caught a POST in flight: the scenario tested nothing")

	e = clean()
	e.Faults, e.Caught = 2, 0
	res = Judge(e)
	assert.Equal(t, []string{"no injection caught a POST in flight: the scenario tested nothing"}, res.Problems)

	e = clean()
	e.Scenario, e.Reference, e.Faults, e.MustCatch, e.Caught = "no-fault", true, 0, "", 0
	assert.True(t, Judge(e).OK(), "the reference injects nothing on purpose")
}

func TestTheClientsViewCounts(t *testing.T) {
	e := clean()
	e.Client.Unacknowledged, e.Client.GaveUp = []string{"key-3"}, map[string]string{"key-3": "create: no answer"}
	e.Client.Split = []string{"key-1"}
	e.Check.Requests = 4 // one beyond the three keys
	e.Client.Keys = 3
	e.Client.Answers[http.StatusInternalServerError] = 1
	res := Judge(e)
	assert.Equal(t, 1, res.Lost, "never acknowledged")
	assert.Equal(t, 2, res.Duplicated, "two ids for one key, and one request beyond the keys")
	assert.Contains(t, res.Problems, "1 answers 500 internal (a dependency down must answer 503 with Retry-After)")
}

func TestHowRequestsEndedCounts(t *testing.T) {
	e := clean()
	e.Client.IDs = append(e.Client.IDs, "medreq-3", "medreq-4")
	e.Ends["medreq-2"] = End{Status: "rejected", Reason: "x"}
	e.Ends["medreq-4"] = End{Status: "ready_at_cabinet"}
	res := Judge(e)
	assert.Equal(t, 2, res.Lost, "medreq-3 missing from the projection, medreq-2 rejected where the fault must only delay it")
	assert.Zero(t, res.Stuck, "a request still open is the checker's and the settle wait's to count")

	e = clean()
	e.MayFail = "cabinet_unreachable"
	res = Judge(e)
	assert.Contains(t, res.Problems, "no request ended failed cabinet_unreachable: the fault did not outlast the cabinet's budget")
	e.Ends["medreq-2"] = End{Status: "failed", Reason: "cabinet_unreachable"}
	res = Judge(e)
	assert.True(t, res.OK(), "%s %v", res.Line(), res.Problems)
	e.Ends["medreq-2"] = End{Status: "failed", Reason: "cabinet_refused"}
	assert.Equal(t, 1, Judge(e).Lost, "failed for another reason")

	e.Ends["medreq-2"] = End{Status: "expired", Reason: "withdrawal_window_passed"}
	assert.Equal(t, 1, Judge(e).Lost, "expired, where the fault must only delay it")
	e.MayExpire = true
	assert.Zero(t, Judge(e).Lost, "expired when the fault took the window")
	e.Ends["medreq-2"] = End{Status: "expired", Reason: "approval_deadline_passed"}
	assert.Equal(t, 1, Judge(e).Lost, "the approval deadline is not the cabinet's")
}

func TestTheCabinetsViewCounts(t *testing.T) {
	e := clean()
	e.Orders[0].Status = "held" // medreq-1 was dispensed: nothing should be held for it
	e.Cabinet = cabsim.Stats{ReportsFailed: 1, Outbox: 2}
	e.Open = []string{"medreq-9"}
	res := Judge(e)
	assert.Equal(t, 1, res.Duplicated)
	assert.Equal(t, 1, res.Lost, "a report refused")
	assert.Equal(t, 3, res.Stuck, "two reports waiting, one request not ended")

	e = clean()
	e.WantDuplicates = true
	assert.Contains(t, Judge(e).Problems, "the cabinet saw no order twice: the partition tested nothing")
	e.Cabinet.DuplicatesRecognised = 3
	assert.True(t, Judge(e).OK())
}
