package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// SchemaVersion names the JSON report's schema. A change that removes or renames a field, or
// changes its meaning, gets a new version; new fields may appear within one.
const SchemaVersion = "pyxis-loadtest/1"

// Report is what a run measured. Its JSON form is the documented, stable schema:
//
//   - schema: SchemaVersion.
//   - started_at, finished_at (RFC 3339), duration_seconds: the measured phase (arrivals and
//     settling; not setup, not the baseline).
//   - run: the settings (scenario, mode dev|api, model open|closed, rate, users, ...).
//   - environment: Go version, CPUs, load average (1, 5, 15 min) at start and end.
//   - endpoints: per endpoint, in a fixed order, every endpoint the scenario uses listed even
//     when it had no calls: count, failures (failures_by_class: 5xx, 429, other; a transport
//     error is "other"), expected_conflicts (409s that are normal outcomes, not failures),
//     status_codes, rps, latency_ms (min, max, mean, median, p50, p90, p95, p99, p99_9, from an
//     HDR histogram), histogram (buckets with upper bound le_ms) and series (per second: t,
//     count, p50_ms, p99_ms, max_ms). Rates are over the span from the endpoint's first call to
//     its last.
//   - aggregated: all endpoints together, as one (no histogram, no series).
//   - lifecycle: created, terminal, non_terminal, statuses (final or last seen status of each
//     created request), completed_per_second and dispensed_per_second (terminal and dispensed
//     requests over the server-side span from the first created_at to the last terminal
//     transition), latency_ms (created → dispensed,
//     server timestamps) and its histogram; null when the scenario has none.
//   - baseline: the bare-Temporal run (workflows, completed, completed_per_second, latency_ms,
//     activities: the lifecycle's steps its workflows took as no-op activities, 0 but in the
//     baseline scenario with --baseline-activities);
//     baseline_ratio: lifecycle dispensed_per_second / baseline completed_per_second (only a
//     dispensed request is a lifecycle done: a rejected one costs the system less). Both null
//     without --baseline.
//   - hot_pocket, backlog: the scenario's own figures; null for other scenarios.
//   - memory: the process's resident memory (rss_bytes at the end, peak_rss_bytes = VmHWM);
//     null when the system does not run in this process.
//   - cpu: CPU time (user + system) of this process in the measured phase and in the baseline,
//     in total and per request or bare workflow; null when the system does not run in this
//     process. Unlike throughput it hardly depends on what else the machine runs. Beside it,
//     machine_*: the busy time of all the machine's CPUs over the same spans (Linux
//     /proc/stat; 0 elsewhere), which counts the PostgreSQL server the process leaves out,
//     and anything else that ran.
//   - targets: each target the scenario measures: name, description, comparison, threshold,
//     value, unit, met.
//   - error_examples: the first distinct failures, for a start at finding their cause.
type Report struct {
	Schema          string           `json:"schema"`
	StartedAt       time.Time        `json:"started_at"`
	FinishedAt      time.Time        `json:"finished_at"`
	DurationSeconds float64          `json:"duration_seconds"`
	Run             RunInfo          `json:"run"`
	Environment     Environment      `json:"environment"`
	Endpoints       []EndpointReport `json:"endpoints"`
	Aggregated      EndpointReport   `json:"aggregated"`
	Lifecycle       *LifecycleReport `json:"lifecycle"`
	Baseline        *BaselineReport  `json:"baseline"`
	BaselineRatio   *float64         `json:"baseline_ratio"`
	HotPocket       *HotPocketReport `json:"hot_pocket"`
	Backlog         *BacklogReport   `json:"backlog"`
	Memory          *MemoryReport    `json:"memory"`
	CPU             *CPUReport       `json:"cpu"`
	Targets         []Target         `json:"targets"`
	ErrorExamples   []string         `json:"error_examples"`
}

// RunInfo is what was asked for.
type RunInfo struct {
	Scenario string `json:"scenario"`
	// Mode is "dev" (the system in this process) or "api" (a running API).
	Mode string `json:"mode"`
	API  string `json:"api"`
	// TemporalStore is dev mode's Temporal store (sqlite or postgres); "" for api runs.
	TemporalStore      string  `json:"temporal_store"`
	Model              string  `json:"model"`
	Rate               float64 `json:"rate"`
	Users              int     `json:"users"`
	Pharmacists        int     `json:"pharmacists"`
	Requests           int     `json:"requests"`
	DurationSeconds    float64 `json:"duration_seconds"`
	WithdrawAfterMs    float64 `json:"withdraw_after_ms"`
	WithdrawVia        string  `json:"withdraw_via"`
	PollIntervalMs     float64 `json:"poll_interval_ms"`
	Follow             string  `json:"follow"`
	ControlledShare    float64 `json:"controlled_share"`
	RejectShare        float64 `json:"reject_share"`
	Baseline           bool    `json:"baseline"`
	BaselineUsers      int     `json:"baseline_users"`
	BaselineActivities int     `json:"baseline_activities"`
	Backlog            int     `json:"backlog"`
	PocketStock        int     `json:"pocket_stock"`
	Seed               uint64  `json:"seed"`
}

// Environment is where the run ran.
type Environment struct {
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// LoadAverageStart and LoadAverageEnd are /proc/loadavg's 1, 5 and 15 minute figures;
	// empty where unknown.
	LoadAverageStart []float64 `json:"load_average_start"`
	LoadAverageEnd   []float64 `json:"load_average_end"`
}

// EndpointReport is one endpoint's calls.
type EndpointReport struct {
	Name              string           `json:"name"`
	Count             int64            `json:"count"`
	Failures          int64            `json:"failures"`
	FailuresByClass   map[string]int64 `json:"failures_by_class"`
	Expected          int64            `json:"expected_conflicts"`
	StatusCodes       map[string]int64 `json:"status_codes"`
	RPS               float64          `json:"rps"`
	FailuresPerSecond float64          `json:"failures_per_second"`
	FailureRatio      float64          `json:"failure_ratio"`
	Latency           Latency          `json:"latency_ms"`
	Histogram         []Bucket         `json:"histogram"`
	Series            []SeriesPoint    `json:"series"`
}

// Latency summarises a distribution, in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	P50    float64 `json:"p50"`
	P90    float64 `json:"p90"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	P999   float64 `json:"p99_9"`
}

// Bucket is one bar of a histogram: how many values were at most LeMs (and above the previous
// bucket's bound).
type Bucket struct {
	LeMs  float64 `json:"le_ms"`
	Count int64   `json:"count"`
}

// SeriesPoint is one second of an endpoint's calls: T seconds after the start.
type SeriesPoint struct {
	T     float64 `json:"t"`
	Count int64   `json:"count"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// LifecycleReport is what became of the requests created.
type LifecycleReport struct {
	Created        int64 `json:"created"`
	CreateFailures int64 `json:"create_failures"`
	Terminal       int64 `json:"terminal"`
	NonTerminal    int64 `json:"non_terminal"`
	// Statuses counts each created request's final status, or the last one seen for those
	// that did not finish.
	Statuses map[string]int64 `json:"statuses"`
	// SpanSeconds runs from the first request's created_at to the last terminal transition;
	// CompletedPerSecond and DispensedPerSecond are over it.
	SpanSeconds        float64 `json:"span_seconds"`
	CompletedPerSecond float64 `json:"completed_per_second"`
	DispensedPerSecond float64 `json:"dispensed_per_second"`
	// Latency is created → dispensed; TerminalLatency created → any terminal status.
	Latency         Latency  `json:"latency_ms"`
	TerminalLatency Latency  `json:"terminal_latency_ms"`
	Histogram       []Bucket `json:"histogram"`
	// SettleSeconds is how long after arrivals ended the last request became terminal (or
	// the settle wait gave up).
	SettleSeconds float64 `json:"settle_seconds"`
	// GetsPerRequest is the nurses' reads of their requests (GET /v1/requests/{id}, waiting
	// or not) per request created.
	GetsPerRequest float64 `json:"gets_per_request"`
}

// BaselineReport is the bare-Temporal run.
type BaselineReport struct {
	TaskQueue          string   `json:"task_queue"`
	Workflows          int      `json:"workflows"`
	Completed          int      `json:"completed"`
	Failed             int      `json:"failed"`
	Concurrency        int      `json:"concurrency"`
	Activities         int      `json:"activities"`
	WithdrawAfterMs    float64  `json:"withdraw_after_ms"`
	SpanSeconds        float64  `json:"span_seconds"`
	CompletedPerSecond float64  `json:"completed_per_second"`
	Latency            Latency  `json:"latency_ms"`
	ErrorExamples      []string `json:"error_examples"`
}

// HotPocketReport is the hot-pocket scenario: many concurrent requests on one small pocket.
type HotPocketReport struct {
	CabinetID      int64  `json:"cabinet_id"`
	MedicationID   int64  `json:"medication_id"`
	MedicationCode string `json:"medication_code"`
	PocketStock    int    `json:"pocket_stock"`
	Requests       int    `json:"requests"`
	Created        int    `json:"created"`
	CreateFailures int    `json:"create_failures"`
	// Expected is how many may reach approval: the pocket's stock, or fewer requests.
	Expected          int              `json:"expected"`
	ReachedApproval   int              `json:"reached_approval"`
	InsufficientStock int              `json:"insufficient_stock"`
	OtherStatuses     map[string]int64 `json:"other_statuses"`
	// Unsettled were neither awaiting approval nor failed when the settle wait ended.
	Unsettled int `json:"unsettled"`
	// SettleSeconds is wall time from the first create to the last request seen settled;
	// ServerSpanSeconds the server's own, from the first created_at to the last decision.
	SettleSeconds     float64 `json:"settle_seconds"`
	ServerSpanSeconds float64 `json:"server_span_seconds"`
	// ReserveDecisionsPerSecond counts every decision (reserved or refused) over the server
	// span; ReservationsPerSecond the successful ones, up to the last of them.
	ReserveDecisionsPerSecond float64 `json:"reserve_decisions_per_second"`
	ReservationsPerSecond     float64 `json:"reservations_per_second"`
	// PocketOnHand and PocketReserved are the pocket when all settled, before clean-up.
	PocketOnHand   int `json:"pocket_on_hand"`
	PocketReserved int `json:"pocket_reserved"`
	// CancelledAfter is how many reserved requests were cancelled afterwards, to give the
	// stock back.
	CancelledAfter int `json:"cancelled_after"`
}

// BacklogReport is the backlog scenario's fill and measurement.
type BacklogReport struct {
	Requested      int     `json:"requested"`
	Created        int     `json:"created"`
	CreateFailures int     `json:"create_failures"`
	FillSeconds    float64 `json:"fill_seconds"`
	FillPerSecond  float64 `json:"fill_per_second"`
	// AwaitingApproval is the queue's length when the measurement began.
	AwaitingApproval int     `json:"awaiting_approval"`
	MeasureSeconds   float64 `json:"measure_seconds"`
	Arrivals         int     `json:"arrivals"`
	CancelledAfter   int     `json:"cancelled_after"`
}

// MemoryReport is the resident memory of this process, which runs the system in dev mode.
type MemoryReport struct {
	Source string `json:"source"`
	// RSSBytes is VmRSS at the end; PeakRSSBytes is VmHWM, the kernel's high-water mark.
	RSSBytes     int64 `json:"rss_bytes"`
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// SampledPeakRSSBytes is the highest VmRSS seen by sampling every second of the run.
	SampledPeakRSSBytes int64 `json:"sampled_peak_rss_bytes"`
	// RSSAfterFillBytes is VmRSS when the backlog was in place (backlog scenario only).
	RSSAfterFillBytes int64 `json:"rss_after_fill_bytes,omitempty"`
}

// CPUReport is what the run cost this process, which runs the system in dev mode.
type CPUReport struct {
	// Seconds is the measured phase's CPU time; PerRequestMs that over the requests created.
	Seconds      float64 `json:"seconds"`
	PerRequestMs float64 `json:"per_request_ms"`
	// BaselineSeconds and PerBaselineWorkflowMs are the baseline's; 0 without one.
	BaselineSeconds       float64 `json:"baseline_seconds"`
	PerBaselineWorkflowMs float64 `json:"per_baseline_workflow_ms"`
	// The Machine figures are the same spans' busy time of every CPU of the machine: the
	// process and the PostgreSQL server (and whatever else ran), where the process's
	// figures leave the database server out. 0 where /proc/stat cannot be read.
	MachineSeconds               float64 `json:"machine_seconds"`
	MachinePerRequestMs          float64 `json:"machine_per_request_ms"`
	MachineBaselineSeconds       float64 `json:"machine_baseline_seconds"`
	MachinePerBaselineWorkflowMs float64 `json:"machine_per_baseline_workflow_ms"`
}

// setBaseline records the baseline's CPU time, the process's and the machine's in seconds,
// over its n bare workflows.
func (c *CPUReport) setBaseline(self, machine float64, n int) {
	c.BaselineSeconds, c.MachineBaselineSeconds = round(self, 3), round(machine, 3)
	if n > 0 {
		c.PerBaselineWorkflowMs = round(self*1000/float64(n), 3)
		c.MachinePerBaselineWorkflowMs = round(machine*1000/float64(n), 3)
	}
}

// Target is one of the targets, judged against what the run measured.
type Target struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Comparison is how Value is held against Threshold: "<=", ">=" or "==".
	Comparison string  `json:"comparison"`
	Threshold  float64 `json:"threshold"`
	Value      float64 `json:"value"`
	Unit       string  `json:"unit"`
	Met        bool    `json:"met"`
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON reads a report WriteJSON wrote, refusing another schema.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	if r.Schema != SchemaVersion {
		return nil, fmt.Errorf("read report: schema %q, want %q", r.Schema, SchemaVersion)
	}
	return &r, nil
}

// Endpoint returns the named endpoint's report, or nil.
func (r *Report) Endpoint(name string) *EndpointReport {
	for i := range r.Endpoints {
		if r.Endpoints[i].Name == name {
			return &r.Endpoints[i]
		}
	}
	return nil
}

// TargetsMet reports whether every judged target was met.
func (r *Report) TargetsMet() bool {
	for _, t := range r.Targets {
		if !t.Met {
			return false
		}
	}
	return true
}

// WriteFiles writes the JSON and HTML reports where cfg asks.
func (r *Report) WriteFiles(cfg Config) error {
	write := func(path string, fn func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			_ = f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
		return f.Close()
	}
	if err := write(cfg.JSONPath, r.WriteJSON); err != nil {
		return err
	}
	return write(cfg.HTMLPath, r.WriteHTML)
}
