package loadtest

import "fmt"

// The targets ("Hold the morning medication pass"). They are judged in the report,
// never asserted by tests: figures depend on the machine.
const (
	// TargetBaselineRatio: requests dispensed a second at least this share of the bare
	// workflows Temporal completes a second.
	TargetBaselineRatio = 0.7
	// TargetRate is the sustained arrival rate the latency targets are set at.
	TargetRate        = 30
	TargetCreateP99Ms = 50
	TargetApproveP99  = 100
	TargetGetP99Ms    = 20
	TargetQueueP99Ms  = 30
	// TargetGetsPerRequest: a nurse who waits for changes reads her request at most this many
	// times per request (it changes about four times; several changes may come in one read).
	TargetGetsPerRequest = 3
	// TargetBacklog is the queue length the queue target is set at.
	TargetBacklog = 10_000
)

// judge holds what rep measured against each target its scenario measures.
func judge(cfg Config, rep *Report) []Target {
	var ts []Target
	add := func(name, desc, cmp string, threshold, value float64, unit string) {
		met := false
		switch cmp {
		case "<=":
			met = value <= threshold
		case ">=":
			met = value >= threshold
		case "==":
			met = value == threshold
		}
		ts = append(ts, Target{Name: name, Description: desc, Comparison: cmp, Threshold: threshold, Value: value, Unit: unit, Met: met})
	}
	var n5xx, n429 int64
	for _, e := range rep.Endpoints {
		n5xx += e.FailuresByClass[Class5xx]
		n429 += e.FailuresByClass[Class429]
	}
	add("no_5xx", "no call answered 5xx", "==", 0, float64(n5xx), "calls")
	add("no_429", "no call answered 429 (every simulated user has a token of her own, paced below the per-user limit)", "==", 0, float64(n429), "calls")
	p99 := func(name string) float64 {
		if e := rep.Endpoint(name); e != nil {
			return e.Latency.P99
		}
		return 0
	}

	switch cfg.Scenario {
	case ScenarioLifecycle:
		lc := rep.Lifecycle
		if lc == nil {
			break
		}
		add("all_terminal", fmt.Sprintf("every request created reached a terminal status within the settle wait (%s)", cfg.Settle), "==", 0, float64(lc.NonTerminal), "requests")
		if cfg.Follow == FollowWait {
			add("gets_per_request", "nurses' reads of their requests per request created, following with ?wait", "<=", TargetGetsPerRequest, lc.GetsPerRequest, "reads")
		}
		if rep.BaselineRatio != nil && cfg.Closed() {
			add("baseline_ratio", "requests dispensed/s at least 0.7 × the bare workflows completed/s of the same run", ">=", TargetBaselineRatio, *rep.BaselineRatio, "ratio")
		}
		if !cfg.Closed() && cfg.Rate >= TargetRate {
			at := fmt.Sprintf(" at %g requests/s", cfg.Rate)
			add("create_p99", "POST /v1/requests p99"+at, "<=", TargetCreateP99Ms, p99(EndpointCreate), "ms")
			add("approve_p99", "POST /v1/requests/{id}/approve p99"+at, "<=", TargetApproveP99, p99(EndpointApprove), "ms")
			add("get_p99", "GET /v1/requests/{id} p99"+at, "<=", TargetGetP99Ms, p99(EndpointGet), "ms")
		}
	case ScenarioBacklog:
		waiting := 0
		if rep.Backlog != nil {
			waiting = rep.Backlog.AwaitingApproval
		}
		at := fmt.Sprintf(" with %d requests awaiting approval (target set at %d), at %g requests/s", waiting, TargetBacklog, cfg.Rate)
		add("queue_p99", "pharmacist queue (GET /v1/requests?status=awaiting_approval&limit=50) p99"+at, "<=", TargetQueueP99Ms, p99(EndpointQueue), "ms")
		add("get_p99", "GET /v1/requests/{id} p99"+at, "<=", TargetGetP99Ms, p99(EndpointGet), "ms")
		if rep.Memory != nil && cfg.MaxRSS > 0 {
			add("rss_bounded", fmt.Sprintf("peak resident memory of the dev process (VmHWM) with %d open requests", waiting), "<=", float64(cfg.MaxRSS), float64(rep.Memory.PeakRSSBytes), "bytes")
		}
	case ScenarioHotPocket:
		hp := rep.HotPocket
		if hp == nil {
			break
		}
		add("exact_reservations", fmt.Sprintf("exactly the pocket's stock (%d) of %d concurrent requests reach approval", hp.PocketStock, hp.Requests), "==", float64(hp.Expected), float64(hp.ReachedApproval), "requests")
		add("no_deadlock", fmt.Sprintf("every request settled (reserved or failed) within the settle wait (%s)", cfg.Settle), "==", 0, float64(hp.Unsettled), "requests")
		add("reserved_matches", "the pocket's reserved equals the requests awaiting approval", "==", float64(hp.ReachedApproval), float64(hp.PocketReserved), "units")
	}
	return ts
}
