package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/internal/check"
	"github.com/medreq/pyxis/internal/faults"
	"github.com/medreq/pyxis/workflows"
)

// faultScenario is one fault: the timings of the system it runs on, and how it is injected
// and healed (inject returns how many faults it injected).
type faultScenario struct {
	name    string
	what    string
	timings faultTimings
	// mayFail is the reason a request may end failed with in this scenario (the cabinet gone
	// for longer than its budget); any other end than dispensed is a lost request.
	mayFail workflows.ReasonCode
	// wantDuplicates: the fault must make the cabinet see orders again (else it tested
	// nothing).
	wantDuplicates bool
	inject         func(ctx context.Context, fs *faultStack, load *faults.Load, res *faults.Result) (int, error)
}

// defaultFaultTimings: a cabinet command may take 8 attempts (about a minute of back-off),
// an ACK 2s, and the simulated nurse withdraws 3s after the authorization.
var defaultFaultTimings = faultTimings{CabinetAttempts: 8, RetryInterval: time.Second, AckTimeout: 2 * time.Second, WithdrawAfter: 3 * time.Second}

// faultScenarios are the scenarios of `pyxis loadtest --fault NAME`, in the order --help
// lists them.
var faultScenarios = []faultScenario{
	{
		name: "worker-kill", what: "pyxis worker (a process of its own) killed with SIGKILL twice mid-load; a new worker starts each time",
		timings: defaultFaultTimings, inject: injectWorkerKill,
	},
	{
		name: "postgres-restart", what: "the private Postgres cluster stopped with pg_ctl -m fast, down 5s, started; then the same with -m immediate (a crash: WAL recovery); /readyz must say not ready meanwhile",
		timings: defaultFaultTimings, inject: injectPostgresRestart,
	},
	{
		name: "temporal-restart", what: "the Temporal server (in process, on its SQLite file) stopped, down 3s, started again on the same store and address",
		timings: defaultFaultTimings, inject: injectTemporalRestart,
	},
	{
		name: "cabinet-offline-long", what: "the cabinet refuses connections for 15s, longer than a command's budget (3 attempts): requests commanded meanwhile fail cabinet_unreachable, stock released, no authorization left at the cabinet",
		timings: faultTimings{CabinetAttempts: 3, RetryInterval: time.Second, AckTimeout: 2 * time.Second, WithdrawAfter: 3 * time.Second},
		mayFail: workflows.ReasonCabinetUnreachable, inject: injectCabinetOffline(15 * time.Second),
	},
	{
		name: "cabinet-offline-short", what: "the cabinet refuses connections for 4s, within a command's budget: every request completes",
		timings: defaultFaultTimings, inject: injectCabinetOffline(4 * time.Second),
	},
	{
		name: "api-kill", what: "pyxis api killed with SIGKILL twice while POSTs are on the way (accepted, not answered); the clients retry with the same Idempotency-Key",
		timings: defaultFaultTimings, inject: injectAPIKill,
	},
	{
		name: "mllp-kill", what: "the MLLP listener (in pyxis api) killed with SIGKILL while acknowledged reports wait in its inbox; after the restart each is applied once",
		timings: defaultFaultTimings, inject: injectMLLPKill,
	},
	{
		name: "partition", what: "a TCP proxy on both cabinet links (4 connections to the cabinet): 6s in which orders arrive and their ACKs are lost and reports are lost, then 8s in which everything arrives 3s late (past the 2s ACK timeout), then healed",
		timings:        faultTimings{CabinetAttempts: 8, RetryInterval: time.Second, AckTimeout: 2 * time.Second, WithdrawAfter: 3 * time.Second, PoolSize: 4},
		wantDuplicates: true, inject: injectPartition,
	},
	{
		// The reference: what the load alone costs on the machine (settle time).
		name: "no-fault", what: "the same load with no fault: the reference for the settle times",
		timings: defaultFaultTimings,
		inject: func(context.Context, *faultStack, *faults.Load, *faults.Result) (int, error) {
			return 0, nil
		},
	},
}

// faultScenarioNames lists the scenarios for --help and errors.
func faultScenarioNames() string {
	names := make([]string, len(faultScenarios))
	for i, s := range faultScenarios {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

func findFaultScenario(name string) (faultScenario, error) {
	for _, s := range faultScenarios {
		if s.name == name {
			return s, nil
		}
	}
	return faultScenario{}, fmt.Errorf("no fault scenario %q (have %s)", name, faultScenarioNames())
}

// runFaultScenario starts a system, puts the load on it, injects the scenario's fault, heals
// it, waits for every request to end and checks every invariant. The error is for a
// scenario that could not be run; a run that found losses returns its Result with them.
func runFaultScenario(ctx context.Context, fc faultConfig) (faults.Result, error) {
	sc, err := findFaultScenario(fc.Scenario)
	if err != nil {
		return faults.Result{}, err
	}
	if fc.Requests <= 0 {
		fc.Requests = 200
	}
	if fc.Rate <= 0 {
		fc.Rate = 20
	}
	if fc.SettleWithin <= 0 {
		fc.SettleWithin = 4 * time.Minute
	}
	if fc.Seed == 0 {
		fc.Seed = uint64(time.Now().UnixNano())
	}
	start := time.Now()
	res := faults.Result{Scenario: sc.name, Requests: fc.Requests}
	fs, err := startFaultStack(ctx, fc, sc.timings)
	if err != nil {
		return res, fmt.Errorf("start the system: %w", err)
	}
	keep := true
	defer func() { fs.stop(keep) }()
	fs.logf("%s: %s", sc.name, sc.what)
	fs.logf("%s: system up in %s (data in %s); load of %d requests at %.0f/s", sc.name, time.Since(start).Round(time.Millisecond), fs.dir, fc.Requests, fc.Rate)

	load, err := faults.StartLoad(ctx, faults.LoadConfig{
		API: "http://" + fs.apiAddr, Secret: []byte(fs.secret), Requests: fc.Requests, Rate: fc.Rate,
		ApproveWithin: 3 * time.Second, HeldShare: 0.2, Cabinets: fs.cabinetIDs, Medications: fs.plainIDs,
		Statuses: fs.statuses, Seed: fc.Seed,
	})
	if err != nil {
		return res, err
	}
	defer load.Close()

	// The fault comes once the load is under way and every status has requests in it.
	spreadOK := func(sp map[string]int) bool {
		return sp["reserving"] > 0 && sp[string(workflows.StatusAwaitingApproval)] > 0 && sp["commanding"]+sp["awaiting_withdrawal"] > 0
	}
	// A small load may be all started before it spreads: then it goes as it is.
	if err := waitFor(ctx, 60*time.Second, func() (bool, error) {
		return load.Started() >= fc.Requests*2/5 && (spreadOK(load.Spread()) || load.Started() == fc.Requests), nil
	}, "the load to spread"); err != nil {
		res.Notes = append(res.Notes, "the fault came before every status had requests: "+err.Error())
	}
	fs.logf("%s: injecting the fault; requests by status: %s", sc.name, spreadString(load.Spread()))
	n, err := sc.inject(ctx, fs, load, &res)
	if err != nil {
		return res, fmt.Errorf("%s: %w", sc.name, err)
	}
	res.Faults = n
	healed := time.Now()
	fs.logf("%s: %d faults injected and healed; requests by status: %s", sc.name, n, spreadString(load.Spread()))

	load.Wait()
	out := load.Outcome()
	settleCtx, cancel := context.WithTimeout(ctx, fc.SettleWithin)
	open := load.Settle(settleCtx, out.IDs)
	cancel()
	res.Settle = time.Since(healed)
	fs.logf("%s: settled %s after the heal (%d not ended); checking", sc.name, res.Settle.Round(time.Millisecond), len(open))

	if fc.sabotage != nil {
		if err := fc.sabotage(ctx, fs); err != nil {
			return res, fmt.Errorf("sabotage: %w", err)
		}
	}
	if err := fs.verdict(ctx, sc, out, open, &res); err != nil {
		return res, err
	}
	res.Took = time.Since(start)
	keep = !res.OK() && !fc.DiscardData
	if keep {
		res.Notes = append(res.Notes, "data folder kept for a look: "+fs.dir)
	}
	return res, nil
}

// statuses reads every request's status from the projection.
func (fs *faultStack) statuses(ctx context.Context) (map[string]string, error) {
	rs, err := fs.store.RequestStocks(ctx, db.CheckScope{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rs))
	for _, r := range rs {
		out[r.ID] = r.Status
	}
	return out, nil
}

// verdict counts what the scenario lost, duplicated and left stuck: the client's view (every
// key acknowledged with one id), the projection's (every request ended as it should), the
// cabinet's (no authorization applied twice, none held for a request that did not get it)
// and the invariant checker's.
func (fs *faultStack) verdict(ctx context.Context, sc faultScenario, out faults.Outcome, open []string, res *faults.Result) error {
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
func (fs *faultStack) ends(ctx context.Context) (map[string]requestEnd, error) {
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
func (fs *faultStack) inboxOutcomes(ctx context.Context) (map[string]int, error) {
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

func spreadString(m map[string]int) string {
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

func injectWorkerKill(ctx context.Context, fs *faultStack, load *faults.Load, _ *faults.Result) (int, error) {
	for i := range 2 {
		if i > 0 {
			time.Sleep(4 * time.Second)
		}
		fs.logf("worker-kill: SIGKILL pyxis worker (pid %d)", fs.worker.cmd.Process.Pid)
		fs.worker.kill()
		time.Sleep(2 * time.Second)
		if err := fs.startWorker(ctx); err != nil {
			return i + 1, err
		}
		fs.logf("worker-kill: a new worker polls (pid %d)", fs.worker.cmd.Process.Pid)
	}
	return 2, nil
}

func injectPostgresRestart(ctx context.Context, fs *faultStack, _ *faults.Load, res *faults.Result) (int, error) {
	for _, mode := range []string{"fast", "immediate"} {
		fs.logf("postgres-restart: pg_ctl stop -m %s", mode)
		if err := fs.pg.Halt(ctx, mode); err != nil {
			return 0, err
		}
		// /readyz must say not ready while the database is down.
		notReady := 0
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			if ok, _ := httpOK(ctx, "http://"+fs.apiAddr+"/readyz"); !ok {
				notReady++
			}
		}
		if notReady == 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("/readyz answered 200 throughout the outage (-m %s)", mode))
		}
		if err := fs.pg.Resume(ctx); err != nil {
			return 0, err
		}
		fs.logf("postgres-restart: started again (/readyz not ready %d times meanwhile)", notReady)
		time.Sleep(3 * time.Second)
	}
	return 2, nil
}

func injectTemporalRestart(_ context.Context, fs *faultStack, _ *faults.Load, _ *faults.Result) (int, error) {
	fs.logf("temporal-restart: stopping the Temporal server")
	if err := fs.restartTemporal(3 * time.Second); err != nil {
		return 0, err
	}
	fs.logf("temporal-restart: the Temporal server is back")
	return 1, nil
}

func injectCabinetOffline(down time.Duration) func(context.Context, *faultStack, *faults.Load, *faults.Result) (int, error) {
	return func(_ context.Context, fs *faultStack, _ *faults.Load, _ *faults.Result) (int, error) {
		fs.logf("cabinet offline for %s", down)
		if err := fs.sim.SetFaults(cabsim.Faults{Offline: true}); err != nil {
			return 0, err
		}
		time.Sleep(down)
		if err := fs.sim.SetFaults(cabsim.Faults{}); err != nil {
			return 0, err
		}
		fs.logf("cabinet back online")
		return 1, nil
	}
}

func injectAPIKill(ctx context.Context, fs *faultStack, load *faults.Load, res *faults.Result) (int, error) {
	for i := range 2 {
		if i > 0 {
			time.Sleep(3 * time.Second)
		}
		// Between accepting a POST and answering it: kill while POSTs are on the way.
		_ = waitFor(ctx, 20*time.Second, func() (bool, error) { return load.InFlightPosts() >= 2, nil }, "POSTs in flight")
		inflight := load.InFlightPosts()
		fs.logf("api-kill: SIGKILL pyxis api with %d POSTs on the way", inflight)
		fs.api.kill()
		if inflight == 0 {
			res.Notes = append(res.Notes, "api-kill: no POST was on the way at the kill")
		}
		time.Sleep(time.Second)
		if err := fs.startAPI(ctx); err != nil {
			return i + 1, err
		}
	}
	return 2, nil
}

func injectMLLPKill(ctx context.Context, fs *faultStack, _ *faults.Load, res *faults.Result) (int, error) {
	kills := 0
	for i := range 2 {
		if i > 0 {
			time.Sleep(3 * time.Second)
		}
		// Kill when the listener has acknowledged reports its applier has not applied yet.
		var pending atomic.Int64
		_ = waitFor(ctx, 30*time.Second, func() (bool, error) {
			n, _, err := fs.store.InboxBacklog(ctx)
			pending.Store(n)
			return err == nil && n > 0, nil
		}, "reports in the inbox")
		fs.logf("mllp-kill: SIGKILL pyxis api (MLLP listener and applier) with %d reports pending in the inbox", pending.Load())
		fs.api.kill()
		kills++
		res.Notes = append(res.Notes, fmt.Sprintf("mllp-kill: %d reports pending in the inbox at kill %d", pending.Load(), kills))
		time.Sleep(2 * time.Second)
		if err := fs.startAPI(ctx); err != nil {
			return kills, err
		}
	}
	return kills, nil
}

func injectPartition(_ context.Context, fs *faultStack, _ *faults.Load, res *faults.Result) (int, error) {
	fs.logf("partition: orders arrive, their ACKs are lost; reports are lost (6s)")
	fs.orders.Set(faults.DropReplies, 0)
	fs.reports.Set(faults.Blackhole, 0)
	time.Sleep(6 * time.Second)
	fs.orders.Set(faults.Pass, 0)
	fs.reports.Set(faults.Pass, 0)
	fs.orders.Cut()
	fs.reports.Cut()
	time.Sleep(2 * time.Second)
	fs.logf("partition: everything 3s late, past the 2s ACK timeout (8s)")
	fs.orders.Set(faults.Delay, 3*time.Second)
	fs.reports.Set(faults.Delay, 3*time.Second)
	time.Sleep(8 * time.Second)
	fs.orders.Set(faults.Pass, 0)
	fs.reports.Set(faults.Pass, 0)
	fs.logf("partition: healed (%d chunks dropped, %d delayed)", fs.orders.Dropped()+fs.reports.Dropped(), fs.orders.Delayed()+fs.reports.Delayed())
	res.Notes = append(res.Notes, fmt.Sprintf("partition: %d chunks dropped, %d delayed", fs.orders.Dropped()+fs.reports.Dropped(), fs.orders.Delayed()+fs.reports.Delayed()))
	return 2, nil
}
