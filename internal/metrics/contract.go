// Package metrics is what pyxis exports to Prometheus: one registry per process, served at
// /metrics (the api on its HTTP port, the worker on PYXIS_METRICS_ADDR), holding the HTTP
// metrics, the Temporal SDK's metrics (through a client.MetricsHandler of its own), the
// domain metrics and the gauges read from Postgres at scrape time.
//
// Contract lists every metric once, with its kind, labels and exporting process; the code
// builds each metric from its entry, and the dashboard and alert checks in deploy/ read the
// same list, so neither can name a metric the code does not export.
//
// Which process exports what, and why:
//   - api: HTTP metrics (it serves the REST API), HL7 reports (its MLLP listener receives them
//     and its inbox applier applies them), the gauges read from Postgres (open restock tasks,
//     discrepancies, override reviews, requests past deadline, the audit chain head) and the
//     audit chain verification (a background check on the api: the worker has no HTTP
//     clients to answer and should spend its slots on workflows).
//   - worker: request lifecycle metrics (the worker's activities make each transition durable
//     in Postgres, and count it when it first commits) and cabinet commands (the worker sends
//     them).
//   - both: the Temporal SDK's client metrics (temporal_request...); the worker's (pollers,
//     slots, schedule-to-start latencies, activity failures) come from the worker only.
//
// Dev mode runs everything in one process with one registry: its /metrics has all of them.
package metrics

import "slices"

// Kind is how a metric is exposed.
type Kind int

// Kinds of metric.
const (
	Counter Kind = iota
	Gauge
	// Histogram is exposed as _bucket (with le), _sum and _count.
	Histogram
)

// Process names the process that exports a metric.
type Process string

// Processes.
const (
	API    Process = "api"
	Worker Process = "worker"
	// Both: the api and the worker each export their own series.
	Both Process = "api, worker"
)

// Def is one metric of the contract.
type Def struct {
	Name   string
	Kind   Kind
	Labels []string
	// Help is the HELP line of the pyxis metrics; the SDK's have a generic one.
	Help string
	// By is the process that exports it.
	By Process
}

// TemporalTags are the tags the Temporal Go SDK puts on its metrics (RootTags and the
// per-metric ones); a series carries those it was recorded with.
var TemporalTags = []string{"namespace", "task_queue", "worker_type", "poller_type", "activity_type", "workflow_type", "operation", "client_name"}

// The pyxis metrics. Each is built from its Def, so its name, kind and labels are these.
var (
	HTTPRequests = Def{"pyxis_http_requests_total", Counter, []string{"route", "method", "status"},
		"HTTP requests answered, by route template (unmatched for no route), method and status code.", API}
	HTTPDuration = Def{"pyxis_http_request_duration_seconds", Histogram, []string{"route", "method"},
		"Time to answer an HTTP request, by route template and method.", API}
	RequestsStarted = Def{"pyxis_requests_started_total", Counter, []string{"priority"},
		"Medication requests submitted (recorded in the projection for the first time), by priority.", Worker}
	RequestsEnded = Def{"pyxis_requests_ended_total", Counter, []string{"status", "priority"},
		"Medication requests that reached a terminal status (dispensed, rejected, cancelled, expired, failed), by status and priority.", Worker}
	ApprovalWait = Def{"pyxis_approval_wait_seconds", Histogram, []string{"priority"},
		"Time from a request's admission (awaiting_approval) to its approval, by priority.", Worker}
	RequestLifecycle = Def{"pyxis_request_lifecycle_seconds", Histogram, nil,
		"Time from a request's submission to its dispensing.", Worker}
	ReservationsRefused = Def{"pyxis_stock_reservations_refused_total", Counter, nil,
		"Requests that failed at admission for lack of stock.", Worker}
	CabinetCommandDuration = Def{"pyxis_cabinet_command_duration_seconds", Histogram, []string{"command", "outcome"},
		"Time of one cabinet command (send and acknowledgment), by command (authorize, revoke, item_update) and outcome (accepted, refused, not_now, unreachable).", Worker}
	CabinetCommands = Def{"pyxis_cabinet_commands_total", Counter, []string{"command", "ack"},
		"Cabinet commands sent, each attempt once, by command and the cabinet's acknowledgment code (AA, AE, AR, CA, CE, CR; none when no acknowledgment came).", Worker}
	CabinetReachable = Def{"pyxis_cabinet_reachable", Gauge, []string{"cabinet"},
		"1 when this worker's last command to the cabinet was acknowledged, 0 when it failed in transport (no connection or no acknowledgment).", Worker}
	HL7Reports = Def{"pyxis_hl7_reports_total", Counter, []string{"type", "outcome"},
		"Cabinet reports over HL7, by transaction type (vend, count, load, return, waste, unload); each counts once when received (accepted, resent, refused, error) and once when applied (applied, duplicate, unmatched, review, failed).", API}
	OpenRestockTasks = Def{"pyxis_open_restock_tasks", Gauge, nil,
		"Refill tasks open (read from Postgres at scrape time).", API}
	OpenDiscrepancies = Def{"pyxis_open_discrepancies", Gauge, nil,
		"Stock discrepancies open (read from Postgres at scrape time).", API}
	OpenOverrideReviews = Def{"pyxis_open_override_reviews", Gauge, nil,
		"Override withdrawals and reports kept as written (an unknown medication, a fractional amount, another patient or other units) waiting for a pharmacist's review (read from Postgres at scrape time).", API}
	AuditHeadSeq = Def{"pyxis_audit_chain_head_seq", Gauge, nil,
		"Chain position of the newest audit entry (read from Postgres at scrape time).", API}
	AuditChainOK = Def{"pyxis_audit_chain_ok", Gauge, nil,
		"1 when the last verification of the audit hash chain found every link intact, 0 when it found a broken one; absent before the first verification.", API}
	RequestsPastDeadline = Def{"pyxis_requests_past_deadline", Gauge, []string{"status"},
		"Requests still awaiting_approval or ready_at_cabinet more than a minute past their deadline (read from Postgres at scrape time).", API}
	CabinetDeliveriesWaiting = Def{"pyxis_cabinet_deliveries_waiting", Gauge, nil,
		"Cabinet commands (an order or its cancel) retried because the cabinet has not acknowledged them, until it does or the withdrawal window closes (read from Postgres at scrape time).", API}
	CabinetDeliveryOldest = Def{"pyxis_cabinet_delivery_oldest_seconds", Gauge, nil,
		"How long the oldest cabinet command not yet acknowledged has been retried; 0 when none waits (read from Postgres at scrape time).", API}
)

// The Temporal SDK metrics the dashboard and alerts use, as the SDK handler names them:
// counters end in _total, timers are histograms in seconds.
var (
	TemporalWorkflowTaskScheduleToStart = Def{Name: "temporal_workflow_task_schedule_to_start_latency_seconds", Kind: Histogram, Labels: TemporalTags, By: Worker}
	TemporalActivityScheduleToStart     = Def{Name: "temporal_activity_schedule_to_start_latency_seconds", Kind: Histogram, Labels: TemporalTags, By: Worker}
	TemporalSlotsAvailable              = Def{Name: "temporal_worker_task_slots_available", Kind: Gauge, Labels: TemporalTags, By: Worker}
	TemporalPollers                     = Def{Name: "temporal_num_pollers", Kind: Gauge, Labels: TemporalTags, By: Worker}
	TemporalActivityFailed              = Def{Name: "temporal_activity_execution_failed_total", Kind: Counter, Labels: TemporalTags, By: Worker}
	TemporalRequestFailures             = Def{Name: "temporal_request_failure_total", Kind: Counter, Labels: TemporalTags, By: Both}
)

// Contract is every metric the dashboard and the alerts may use.
var Contract = []Def{
	HTTPRequests, HTTPDuration,
	RequestsStarted, RequestsEnded, ApprovalWait, RequestLifecycle, ReservationsRefused,
	CabinetCommandDuration, CabinetCommands, CabinetReachable, HL7Reports,
	OpenRestockTasks, OpenDiscrepancies, OpenOverrideReviews, AuditHeadSeq, AuditChainOK, RequestsPastDeadline,
	CabinetDeliveriesWaiting, CabinetDeliveryOldest,
	TemporalWorkflowTaskScheduleToStart, TemporalActivityScheduleToStart, TemporalSlotsAvailable,
	TemporalPollers, TemporalActivityFailed, TemporalRequestFailures,
}

// Lookup returns the contract's entry of a metric name.
func Lookup(name string) (Def, bool) {
	i := slices.IndexFunc(Contract, func(d Def) bool { return d.Name == name })
	if i < 0 {
		return Def{}, false
	}
	return Contract[i], true
}
