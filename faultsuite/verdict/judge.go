package verdict

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/check"
	"github.com/medreq/pyxis/workflows"
)

// Evidence is what a scenario saw, gathered once every request ended or the settle bound
// passed.
type Evidence struct {
	Scenario string
	// Requests is the load's size.
	Requests int
	// Reference says the scenario injects nothing on purpose (no-fault).
	Reference bool
	// Faults is how many faults were injected, as the injection observed them.
	Faults int
	// MustCatch names the moment the fault is for ("a POST in flight"); Caught counts the
	// injections that caught it. A fault that never caught it tested nothing.
	MustCatch string
	Caught    int
	// MayFail is the reason a request may end failed with (the cabinet gone for longer
	// than its budget); any other end than dispensed is a lost request.
	MayFail workflows.ReasonCode
	// MayExpire says a request may end expired withdrawal_window_passed: the fault took most of
	// the window its order had to be withdrawn in (the cabinet got the order, and took it too
	// late to be withdrawn before the window closed).
	MayExpire bool
	// WantDuplicates says the fault must make the cabinet see orders again.
	WantDuplicates bool

	// Check is what the invariant checker found.
	Check check.Report
	// Open are the acknowledged requests that had not ended within the settle bound.
	Open []string
	// Client is what the nurses' client saw.
	Client Outcome
	// Ends is how every request of the projection stands.
	Ends map[string]End
	// Orders and Cabinet are what the simulated cabinet holds and counted.
	Orders  []cabsim.OrderCount
	Cabinet cabsim.Stats
	// Inbox counts the cabinet reports by state/outcome.
	Inbox map[string]int64
	// Problems and Notes are what the injection found on its way.
	Problems, Notes []string
}

// End is where a request stands: its status and, when it failed, why.
type End struct {
	Status string
	Reason string
}

// Outcome is what the client saw of the load.
type Outcome struct {
	// Keys is how many requests the nurses meant to make; Created how many were
	// acknowledged with an id.
	Keys, Created int
	// IDs are the acknowledged requests' ids.
	IDs []string
	// Unacknowledged are the keys never acknowledged; Split the keys whose answers named
	// more than one request id (a duplicate).
	Unacknowledged, Split []string
	// GaveUp says, per key, what call was given up on and why.
	GaveUp map[string]string
	// Resumed counts the POSTs the API had accepted when a fault cut their answer off, and
	// answered as a replay when the client tried again with the same Idempotency-Key.
	Resumed int
	// Answers counts the API's answers by status; Errors the calls that got no answer.
	Answers map[int]int
	Errors  int
}

// Judge counts what the scenario lost, duplicated and left stuck, from every side it was
// seen: the invariant checker's (every violation it reports, each in its class), the
// client's (every key acknowledged with one id), the projection's (every request ended as it
// should) and the cabinet's (no authorization held for a request not waiting at it, no report
// refused or left waiting). A fault that was not injected, or never caught the moment it is
// for, tested nothing: that is a problem, and the run fails.
func Judge(e Evidence) Result {
	res := Result{Scenario: e.Scenario, Requests: e.Requests, Faults: e.Faults, LedgerOK: true, AuditOK: true,
		Problems: append([]string(nil), e.Problems...), Notes: append([]string(nil), e.Notes...)}
	res.tested(e)
	res.checked(e.Check)
	res.Stuck += len(e.Open)
	for _, id := range e.Open {
		res.note("not ended: " + id)
	}
	res.client(e.Client, e.Check.Requests)
	res.ended(e)
	res.cabinet(e)
	res.note("cabinet inbox: " + Spread(e.Inbox))
	return res
}

// tested fails a run whose fault was not injected, or did not catch its moment.
func (res *Result) tested(e Evidence) {
	if !e.Reference && e.Faults == 0 {
		res.problem("no fault was injected: the scenario tested nothing")
	}
	if e.MustCatch != "" && e.Caught == 0 {
		res.problem(fmt.Sprintf("no injection caught %s: the scenario tested nothing", e.MustCatch))
	}
}

// checked counts every violation the checker reported, in its class.
func (res *Result) checked(rep check.Report) {
	for _, v := range rep.Violations {
		res.note(fmt.Sprintf("check: %s %s: %s", v.Kind, v.Subject, v.Detail))
		switch check.Class(v.Kind) {
		case check.ClassLost:
			res.Lost++
		case check.ClassDuplicated:
			res.Duplicated++
		case check.ClassStuck:
			res.Stuck++
		case check.ClassLedger:
			res.LedgerOK = false
		case check.ClassAudit:
			res.AuditOK = false
		default:
			res.problem(fmt.Sprintf("the checker reported a violation of a kind the verdict does not know: %s", v.Kind))
		}
	}
}

// client counts the keys never acknowledged, answered with two ids, or beyond the load.
func (res *Result) client(out Outcome, inProjection int) {
	res.Lost += len(out.Unacknowledged)
	for _, k := range out.Unacknowledged {
		res.note(fmt.Sprintf("never acknowledged: %s (%s)", k, out.GaveUp[k]))
	}
	res.Duplicated += len(out.Split)
	for _, k := range out.Split {
		res.note("answered with two request ids: " + k)
	}
	if extra := inProjection - out.Keys; extra > 0 {
		res.Duplicated += extra
		res.note(fmt.Sprintf("%d requests in the projection beyond the %d the nurses made", extra, out.Keys))
	}
	answers := map[string]int64{"no-answer": int64(out.Errors)}
	for code, n := range out.Answers {
		answers[strconv.Itoa(code)] = int64(n)
	}
	res.note("API answers: " + Spread(answers))
	if out.Resumed > 0 {
		res.note(fmt.Sprintf("%d POSTs cut off after the API accepted them were answered as replays on retry (same Idempotency-Key, same request)", out.Resumed))
	}
	if n := out.Answers[http.StatusInternalServerError]; n > 0 {
		res.problem(fmt.Sprintf("%d answers 500 internal (a dependency down must answer 503 with Retry-After)", n))
	}
}

// ended counts the acknowledged requests missing from the projection or ended other than
// dispensed (or failed as the scenario allows).
func (res *Result) ended(e Evidence) {
	byEnd := map[string]int64{}
	for _, id := range e.Client.IDs {
		end, ok := e.Ends[id]
		switch {
		case !ok:
			res.Lost++
			res.note("acknowledged but not in the projection: " + id)
			continue
		case end.Status == string(workflows.StatusDispensed):
		case end.Status == string(workflows.StatusFailed) && e.MayFail != "" && end.Reason == string(e.MayFail):
		case end.Status == string(workflows.StatusExpired) && e.MayExpire && end.Reason == string(workflows.ReasonWithdrawalExpired):
		case workflows.Status(end.Status).Terminal():
			res.Lost++
			res.note(fmt.Sprintf("ended %s (%s) where the fault must only delay it: %s", end.Status, end.Reason, id))
		}
		key := end.Status
		if end.Reason != "" {
			key += "/" + end.Reason
		}
		byEnd[key]++
	}
	res.note("ends: " + Spread(byEnd))
	if e.MayFail != "" && byEnd[string(workflows.StatusFailed)+"/"+string(e.MayFail)] == 0 {
		res.problem(fmt.Sprintf("no request ended failed %s: the fault did not outlast the cabinet's budget", e.MayFail))
	}
}

// cabinet counts the authorizations the cabinet holds for requests not waiting at it, the
// reports it could not deliver, and requires the orders seen twice a partition must cause.
func (res *Result) cabinet(e Evidence) {
	for _, o := range e.Orders {
		if o.Status == "held" && e.Ends[o.RequestID].Status != string(workflows.StatusReadyAtCabinet) {
			res.Duplicated++
			res.note(fmt.Sprintf("the cabinet still holds an authorization for %s, which ended %s", o.RequestID, e.Ends[o.RequestID].Status))
		}
	}
	st := e.Cabinet
	res.note(fmt.Sprintf("cabinet: orders accepted=%d duplicates recognised=%d cancelled=%d refused=%d; reports taken=%d refused=%d waiting=%d",
		st.OrdersAccepted, st.DuplicatesRecognised, st.OrdersCancelled, st.OrdersRefused, st.ReportsSent, st.ReportsFailed, st.Outbox))
	res.Lost += st.ReportsFailed
	for _, f := range st.Failures {
		res.note(fmt.Sprintf("report refused by the system: %+v", f))
	}
	res.Stuck += st.Outbox
	if e.WantDuplicates && st.DuplicatesRecognised == 0 {
		res.problem("the cabinet saw no order twice: the partition tested nothing")
	}
}

func (res *Result) note(n string)    { res.Notes = append(res.Notes, n) }
func (res *Result) problem(p string) { res.Problems = append(res.Problems, p) }

// Spread writes counts as key=n, keys in order, on one line.
func Spread[N int | int64](m map[string]N) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
