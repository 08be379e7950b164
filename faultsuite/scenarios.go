package faultsuite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/faultsuite/verdict"
	"github.com/medreq/pyxis/workflows"
)

// scenario is one fault: the timings of the system it runs on, and how it is injected and
// healed.
type scenario struct {
	name    string
	what    string
	timings timings
	// mayFail is the reason a request may end failed with in this scenario (the cabinet gone
	// for longer than its budget); any other end than dispensed is a lost request.
	mayFail workflows.ReasonCode
	// mayExpire: a request may also end expired withdrawal_window_passed (its order reached
	// the cabinet too late in its window to be withdrawn).
	mayExpire bool
	// wantDuplicates: the fault must make the cabinet see orders again (else it tested
	// nothing). mustCatch names the moment an injection must catch at least once (else it
	// tested nothing).
	wantDuplicates bool
	mustCatch      string
	// reference: the scenario injects nothing on purpose.
	reference bool
	inject    func(ctx context.Context, fs *stack, load *Load, o *observed) error
}

// defaultTimings: a cabinet command is retried from 1s until the withdrawal window (the
// default, 2h) closes, an ACK takes at most 2s, and the simulated nurse withdraws 3s after
// the authorization.
func defaultTimings() timings {
	return timings{RetryInterval: time.Second, AckTimeout: 2 * time.Second, WithdrawAfter: 3 * time.Second}
}

// scenarios are the scenarios of `pyxis-dev loadtest --fault NAME`, in the order --help
// lists them.
func scenarios() []scenario {
	return []scenario{
		{
			name: "worker-kill", what: "pyxis worker (a process of its own) killed with SIGKILL twice mid-load; a new worker starts each time",
			timings: defaultTimings(), inject: injectWorkerKill,
		},
		{
			name: "postgres-restart", what: "the private Postgres cluster stopped with pg_ctl -m fast, down 5s, started; then the same with -m immediate (a crash: WAL recovery); /readyz must say not ready meanwhile",
			timings: defaultTimings(), inject: injectPostgresRestart,
		},
		{
			name: "temporal-restart", what: "the Temporal server (in process, on its SQLite file) stopped, down 3s, started again on the same store and address",
			timings: defaultTimings(), inject: injectTemporalRestart,
		},
		{
			name: "cabinet-offline-long", what: "the cabinet refuses connections for 15s, longer than a request's withdrawal window (12s): requests whose window closes meanwhile fail cabinet_unreachable, stock released, no authorization left at the cabinet",
			timings: timings{Window: 12 * time.Second, RetryInterval: time.Second, AckTimeout: 2 * time.Second, WithdrawAfter: 3 * time.Second},
			mayFail: workflows.ReasonCabinetUnreachable, mayExpire: true, inject: injectCabinetOffline(15 * time.Second),
		},
		{
			name: "cabinet-offline-short", what: "the cabinet refuses connections for 4s, well within the withdrawal window: every request completes",
			timings: defaultTimings(), inject: injectCabinetOffline(4 * time.Second),
		},
		{
			name: "api-kill", what: "pyxis api killed with SIGKILL twice while POSTs are on the way (accepted, not answered); the clients retry with the same Idempotency-Key",
			timings: defaultTimings(), mustCatch: "a POST in flight", inject: injectAPIKill,
		},
		{
			name: "mllp-kill", what: "the MLLP listener (in pyxis api) killed with SIGKILL while acknowledged reports wait in its inbox; after the restart each is applied once",
			timings: defaultTimings(), mustCatch: "reports pending in the inbox", inject: injectMLLPKill,
		},
		{
			name: "partition", what: "a TCP proxy on both cabinet links (4 connections to the cabinet): 6s in which orders arrive and their ACKs are lost and reports are lost, then 8s in which everything arrives 3s late (past the 2s ACK timeout), then healed",
			timings:        timings{RetryInterval: time.Second, AckTimeout: 2 * time.Second, WithdrawAfter: 3 * time.Second, PoolSize: 4},
			wantDuplicates: true, inject: injectPartition,
		},
		{
			name: "replica-kill", what: "two pyxis api (behind a balancer) and two pyxis worker processes; the first api (the inbox's applier, with reads waiting on it) and the first worker killed with SIGKILL mid-load: the other api applies the inbox within 5s and answers the cut reads when their clients retry",
			timings:   timings{RetryInterval: time.Second, AckTimeout: 2 * time.Second, WithdrawAfter: 3 * time.Second, Replicas: true},
			mustCatch: "reads waiting on the killed api", inject: injectReplicaKill,
		},
		{
			// The reference: what the load alone costs on the machine (settle time).
			name: "no-fault", what: "the same load with no fault: the reference for the settle times",
			timings: defaultTimings(), reference: true,
			inject: func(context.Context, *stack, *Load, *observed) error { return nil },
		},
	}
}

// Names are the scenarios' names, in the order --help lists them.
func Names() []string {
	var names []string
	for _, s := range scenarios() {
		names = append(names, s.name)
	}
	return names
}

// CheckName refuses a name that is no scenario's.
func CheckName(name string) error {
	_, err := findScenario(name)
	return err
}

func findScenario(name string) (scenario, error) {
	for _, s := range scenarios() {
		if s.name == name {
			return s, nil
		}
	}
	return scenario{}, fmt.Errorf("no fault scenario %q (have %s)", name, strings.Join(Names(), ", "))
}

// Run starts a system, puts the load on it, injects the scenario's fault, heals
// it, waits for every request to end and checks every invariant. The error is for a
// scenario that could not be run; a run that found losses returns its Result with them.
func Run(ctx context.Context, fc Config) (verdict.Result, error) {
	sc, err := findScenario(fc.Scenario)
	if err != nil {
		return verdict.Result{}, err
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
	fs, err := startStack(ctx, fc, sc.timings)
	if err != nil {
		return verdict.Result{}, fmt.Errorf("start the system: %w", err)
	}
	keep := true
	defer func() { fs.stop(keep) }()
	fs.logf("%s: %s", sc.name, sc.what)
	fs.logf("%s: system up in %s (data in %s); load of %d requests at %.0f/s", sc.name, time.Since(start).Round(time.Millisecond), fs.dir, fc.Requests, fc.Rate)

	load, err := StartLoad(ctx, LoadConfig{
		API: "http://" + fs.front, Secret: []byte(fs.secret), Requests: fc.Requests, Rate: fc.Rate,
		ApproveWithin: 3 * time.Second, HeldShare: 0.2, Cabinets: fs.cabinetIDs, Medications: fs.plainIDs,
		Statuses: fs.statuses, Seed: fc.Seed,
	})
	if err != nil {
		return verdict.Result{}, err
	}
	defer load.Close()

	var o observed
	// The fault comes once the load is under way and every status has requests in it.
	spreadOK := func(sp map[string]int) bool {
		return sp["reserving"] > 0 && sp[string(workflows.StatusAwaitingApproval)] > 0 && sp["commanding"]+sp["awaiting_withdrawal"] > 0
	}
	// A small load may be all started before it spreads: then it goes as it is.
	if err := waitFor(ctx, 60*time.Second, func() (bool, error) {
		return load.Started() >= fc.Requests*2/5 && (spreadOK(load.Spread()) || load.Started() == fc.Requests), nil
	}, "the load to spread"); err != nil {
		o.notef("the fault came before every status had requests: %v", err)
	}
	fs.logf("%s: injecting the fault; requests by status: %s", sc.name, verdict.Spread(load.Spread()))
	if err := sc.inject(ctx, fs, load, &o); err != nil {
		return verdict.Result{}, fmt.Errorf("%s: %w", sc.name, err)
	}
	healed := time.Now()
	fs.logf("%s: %d faults injected and healed; requests by status: %s", sc.name, o.faults, verdict.Spread(load.Spread()))

	load.Wait()
	out := load.Outcome()
	settleCtx, cancel := context.WithTimeout(ctx, fc.SettleWithin)
	open := load.Settle(settleCtx, out.IDs)
	cancel()
	settle := time.Since(healed)
	fs.logf("%s: settled %s after the heal (%d not ended); checking", sc.name, settle.Round(time.Millisecond), len(open))

	if fc.BeforeVerdict != nil {
		if err := fc.BeforeVerdict(ctx, fs.dbURL); err != nil {
			return verdict.Result{}, fmt.Errorf("before the verdict: %w", err)
		}
	}
	e, err := fs.evidence(ctx, sc, o, out, open)
	if err != nil {
		return verdict.Result{}, err
	}
	e.Requests = fc.Requests
	res := verdict.Judge(e)
	res.Settle, res.Took = settle, time.Since(start)
	keep = !res.OK() && !fc.DiscardData
	if keep {
		res.Notes = append(res.Notes, "data folder kept for a look: "+fs.dir)
	}
	return res, nil
}

// statuses reads every request's status from the projection.
func (fs *stack) statuses(ctx context.Context) (map[string]string, error) {
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
