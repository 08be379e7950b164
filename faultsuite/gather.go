package faultsuite

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/medreq/pyxis/check"
	"github.com/medreq/pyxis/faultsuite/verdict"
	"github.com/medreq/pyxis/workflows"
)

// verdict counts what the scenario lost, duplicated and left stuck: the client's view (every
// key acknowledged with one id), the projection's (every request ended as it should), the
// cabinet's (no authorization applied twice, none held for a request that did not get it)
// and the invariant checker's.
func (fs *stack) verdict(ctx context.Context, sc scenario, out Outcome, open []string, res *verdict.Result) error {
	rep, err := check.Run(ctx, fs.store, fs.tc, check.Options{
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
		return fmt.Errorf("check: %w", err)
	}
	res.Lost, res.Duplicated, res.Stuck = rep.Lost, rep.Duplicated, rep.StuckCount+len(open)
	res.LedgerOK, res.AuditOK = rep.LedgerOK, rep.AuditOK
	for _, v := range rep.Violations {
		res.Notes = append(res.Notes, fmt.Sprintf("check: %s %s: %s", v.Kind, v.Subject, v.Detail))
	}
	for _, id := range open {
		res.Notes = append(res.Notes, "not ended: "+id)
	}

	// The client: every key acknowledged, with one request id, and no request beyond them.
	res.Lost += len(out.Unacknowledged)
	for _, k := range out.Unacknowledged {
		res.Notes = append(res.Notes, fmt.Sprintf("never acknowledged: %s (%s)", k, out.GaveUp[k]))
	}
	res.Duplicated += len(out.Split)
	for _, k := range out.Split {
		res.Notes = append(res.Notes, "answered with two request ids: "+k)
	}
	if extra := rep.Requests - out.Keys; extra > 0 {
		res.Duplicated += extra
		res.Notes = append(res.Notes, fmt.Sprintf("%d requests in the projection beyond the %d the nurses made", extra, out.Keys))
	}
	answers := map[string]int{"no-answer": out.Errors}
	for code, n := range out.Answers {
		answers[strconv.Itoa(code)] = n
	}
	res.Notes = append(res.Notes, "API answers: "+spreadString(answers))
	if out.Resumed > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d POSTs cut off after the API accepted them were answered as replays on retry (same Idempotency-Key, same request)", out.Resumed))
	}
	if n := out.Answers[http.StatusInternalServerError]; n > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d answers 500 internal (a dependency down must answer 503 with Retry-After)", n))
	}

	// How each acknowledged request ended.
	ends, err := fs.ends(ctx)
	if err != nil {
		return err
	}
	byEnd := map[string]int{}
	for _, id := range out.IDs {
		e, ok := ends[id]
		switch {
		case !ok:
			res.Lost++
			res.Notes = append(res.Notes, "acknowledged but not in the projection: "+id)
			continue
		case e.status == string(workflows.StatusDispensed):
		case e.status == string(workflows.StatusFailed) && sc.mayFail != "" && e.reason == string(sc.mayFail):
		case workflows.Status(e.status).Terminal():
			res.Lost++
			res.Notes = append(res.Notes, fmt.Sprintf("ended %s (%s) where the fault must only delay it: %s", e.status, e.reason, id))
		}
		key := e.status
		if e.reason != "" {
			key += "/" + e.reason
		}
		byEnd[key]++
	}
	res.Notes = append(res.Notes, "ends: "+spreadString(byEnd))
	if sc.mayFail != "" && byEnd[string(workflows.StatusFailed)+"/"+string(sc.mayFail)] == 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("no request ended failed %s: the fault did not outlast the cabinet's budget", sc.mayFail))
	}

	// The cabinet holds no authorization for a request that is not waiting at it.
	for _, o := range fs.sim.Orders() {
		if o.Status == "held" && ends[o.RequestID].status != string(workflows.StatusReadyAtCabinet) {
			res.Duplicated++
			res.Notes = append(res.Notes, fmt.Sprintf("the cabinet still holds an authorization for %s, which ended %s", o.RequestID, ends[o.RequestID].status))
		}
	}
	// The cabinet: every report it sent taken, none waiting.
	st := fs.sim.Stats()
	res.Notes = append(res.Notes, fmt.Sprintf("cabinet: orders accepted=%d duplicates recognised=%d cancelled=%d refused=%d; reports taken=%d refused=%d waiting=%d",
		st.OrdersAccepted, st.DuplicatesRecognised, st.OrdersCancelled, st.OrdersRefused, st.ReportsSent, st.ReportsFailed, st.Outbox))
	if st.ReportsFailed > 0 {
		res.Lost += st.ReportsFailed
		for _, f := range st.Failures {
			res.Notes = append(res.Notes, fmt.Sprintf("report refused by the system: %+v", f))
		}
	}
	res.Stuck += st.Outbox
	if sc.wantDuplicates && st.DuplicatesRecognised == 0 {
		res.Problems = append(res.Problems, "the cabinet saw no order twice: the partition tested nothing")
	}
	inbox, err := fs.inboxOutcomes(ctx)
	if err != nil {
		return err
	}
	res.Notes = append(res.Notes, "cabinet inbox: "+spreadString(inbox))
	return nil
}

type requestEnd struct{ status, reason string }

// ends reads how every request stands: status and reason code.
func (fs *stack) ends(ctx context.Context) (map[string]requestEnd, error) {
	rows, err := fs.pool.Query(ctx, "SELECT id, status::text, reason_code FROM medication_requests")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]requestEnd{}
	for rows.Next() {
		var id string
		var e requestEnd
		if err := rows.Scan(&id, &e.status, &e.reason); err != nil {
			return nil, err
		}
		out[id] = e
	}
	return out, rows.Err()
}

// inboxOutcomes counts the cabinet reports by state and outcome.
func (fs *stack) inboxOutcomes(ctx context.Context) (map[string]int, error) {
	rows, err := fs.pool.Query(ctx, "SELECT state::text || '/' || outcome, count(*) FROM cabinet_inbox GROUP BY 1")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}
