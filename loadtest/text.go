package loadtest

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report for people: the tables locust prints (requests, then response
// time percentiles), failures by class, then what became of the requests, the baseline, the
// memory and the targets.
func (r *Report) WriteText(w io.Writer) error {
	var sb strings.Builder
	run := r.Run
	fmt.Fprintf(&sb, "\nPyxis load test: scenario %s, %s\n", run.Scenario, r.describeRun())
	fmt.Fprintf(&sb, "Measured %.1fs from %s; load average %s at start, %s at the end (%d CPUs)\n\n",
		r.DurationSeconds, r.StartedAt.Format("2006-01-02 15:04:05Z07:00"),
		loadString(r.Environment.LoadAverageStart), loadString(r.Environment.LoadAverageEnd), r.Environment.NumCPU)

	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Type\tName\t# reqs\t# fails\t|\tAvg\tMin\tMax\tMed\t|\treq/s\tfailures/s\t")
	rows := append(slices.Clone(r.Endpoints), r.Aggregated)
	for _, e := range rows {
		typ, name := splitEndpoint(e.Name)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d(%.2f%%)\t|\t%s\t%s\t%s\t%s\t|\t%.2f\t%.2f\t\n", typ, name, e.Count, e.Failures, 100*e.FailureRatio,
			ms(e.Latency.Mean), ms(e.Latency.Min), ms(e.Latency.Max), ms(e.Latency.Median), e.RPS, e.FailuresPerSecond)
	}
	_ = tw.Flush()

	fmt.Fprintf(&sb, "\nResponse time percentiles (ms, HDR histograms)\n")
	tw = tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Type\tName\t50%\t90%\t95%\t99%\t99.9%\t100%\t# reqs\t")
	for _, e := range rows {
		typ, name := splitEndpoint(e.Name)
		l := e.Latency
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", typ, name, ms(l.P50), ms(l.P90), ms(l.P95), ms(l.P99), ms(l.P999), ms(l.Max), e.Count)
	}
	_ = tw.Flush()

	fmt.Fprintf(&sb, "\nFailures by class (expected 409s of pharmacists working one queue are not failures)\n")
	tw = tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Type\tName\t5xx\t429\tother\texpected\tstatus codes\t")
	for _, e := range rows {
		typ, name := splitEndpoint(e.Name)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t\n", typ, name, e.FailuresByClass[Class5xx], e.FailuresByClass[Class429],
			e.FailuresByClass[ClassOther], e.Expected, countsString(e.StatusCodes))
	}
	_ = tw.Flush()

	r.writeOutcomes(&sb)

	if len(r.Targets) > 0 {
		fmt.Fprintf(&sb, "\nTargets\n")
		for _, t := range r.Targets {
			mark := "met   "
			if !t.Met {
				mark = "MISSED"
			}
			fmt.Fprintf(&sb, "  [%s] %-19s %s %s %s %s  (%s)\n", mark, t.Name, num(t.Value), t.Comparison, num(t.Threshold), t.Unit, t.Description)
		}
	}
	if len(r.ErrorExamples) > 0 {
		fmt.Fprintf(&sb, "\nFirst failures\n")
		for _, e := range r.ErrorExamples {
			fmt.Fprintf(&sb, "  %s\n", e)
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// writeOutcomes writes what became of the requests, the baseline and the memory.
func (r *Report) writeOutcomes(sb *strings.Builder) {
	if lc := r.Lifecycle; lc != nil {
		fmt.Fprintf(sb, "\nLifecycle (server timestamps: created_at → last transition)\n")
		fmt.Fprintf(sb, "  created %d (create failures %d), terminal %d, not terminal %d\n", lc.Created, lc.CreateFailures, lc.Terminal, lc.NonTerminal)
		fmt.Fprintf(sb, "  statuses: %s\n", countsString(lc.Statuses))
		fmt.Fprintf(sb, "  completed %.2f/s (dispensed %.2f/s) over %.1fs; the last finished %.1fs after arrivals ended\n",
			lc.CompletedPerSecond, lc.DispensedPerSecond, lc.SpanSeconds, lc.SettleSeconds)
		fmt.Fprintf(sb, "  created → dispensed ms: %s\n", latencyString(lc.Latency))
	}
	if b := r.Baseline; b != nil {
		shape := "bare workflows of the same shape"
		if b.Activities > 0 {
			shape = fmt.Sprintf("workflows of the same shape with %d no-op activities", b.Activities)
		}
		fmt.Fprintf(sb, "\nBaseline (%s, same Temporal server, task queue %s)\n", shape, b.TaskQueue)
		fmt.Fprintf(sb, "  %d workflows, %d concurrent, withdrawal after %.0fms: completed %d, failed %d, %.2f/s over %.1fs\n",
			b.Workflows, b.Concurrency, b.WithdrawAfterMs, b.Completed, b.Failed, b.CompletedPerSecond, b.SpanSeconds)
		fmt.Fprintf(sb, "  start → complete ms: %s\n", latencyString(b.Latency))
		for _, e := range b.ErrorExamples {
			fmt.Fprintf(sb, "  failure: %s\n", e)
		}
	}
	if r.BaselineRatio != nil {
		fmt.Fprintf(sb, "  baseline_ratio %.3f: the real lifecycle dispenses %.0f%% as many requests a second as bare Temporal completes workflows\n",
			*r.BaselineRatio, 100**r.BaselineRatio)
	}
	if hp := r.HotPocket; hp != nil {
		fmt.Fprintf(sb, "\nHot pocket (%s in cabinet %d, on_hand %d)\n", hp.MedicationCode, hp.CabinetID, hp.PocketStock)
		fmt.Fprintf(sb, "  %d concurrent requests: created %d (create failures %d); reached approval %d (expected %d); insufficient stock %d; other %s; unsettled %d\n",
			hp.Requests, hp.Created, hp.CreateFailures, hp.ReachedApproval, hp.Expected, hp.InsufficientStock, countsString(hp.OtherStatuses), hp.Unsettled)
		fmt.Fprintf(sb, "  settled in %.2fs (server: %.2fs); %.1f reserve decisions/s, %.1f reservations/s\n",
			hp.SettleSeconds, hp.ServerSpanSeconds, hp.ReserveDecisionsPerSecond, hp.ReservationsPerSecond)
		fmt.Fprintf(sb, "  pocket afterwards: on_hand %d, reserved %d; %d reserved requests cancelled to give the stock back\n",
			hp.PocketOnHand, hp.PocketReserved, hp.CancelledAfter)
	}
	if bl := r.Backlog; bl != nil {
		fmt.Fprintf(sb, "\nBacklog\n")
		fmt.Fprintf(sb, "  filled %d of %d (failures %d) in %.1fs (%.1f/s); %d awaiting approval when measuring began\n",
			bl.Created, bl.Requested, bl.CreateFailures, bl.FillSeconds, bl.FillPerSecond, bl.AwaitingApproval)
		fmt.Fprintf(sb, "  measured %d arrivals over %.1fs; %d cancelled afterwards\n", bl.Arrivals, bl.MeasureSeconds, bl.CancelledAfter)
	}
	if m := r.Memory; m != nil {
		fmt.Fprintf(sb, "\nMemory of this process (%s): %s now, peak %s (VmHWM), highest sampled %s", m.Source,
			bytesString(m.RSSBytes), bytesString(m.PeakRSSBytes), bytesString(m.SampledPeakRSSBytes))
		if m.RSSAfterFillBytes > 0 {
			fmt.Fprintf(sb, ", %s with the backlog in place", bytesString(m.RSSAfterFillBytes))
		}
		sb.WriteString("\n")
	}
	if c := r.CPU; c != nil {
		fmt.Fprintf(sb, "CPU of this process: %.1fs in the measured phase (%.1f ms a request)", c.Seconds, c.PerRequestMs)
		if c.BaselineSeconds > 0 {
			fmt.Fprintf(sb, ", %.1fs in the baseline (%.1f ms a bare workflow)", c.BaselineSeconds, c.PerBaselineWorkflowMs)
		}
		sb.WriteString("\n")
		if c.MachineSeconds > 0 {
			fmt.Fprintf(sb, "CPU of the machine (this process, the database server and anything else): %.1fs in the measured phase (%.1f ms a request, %.0f%% of its CPUs busy)",
				c.MachineSeconds, c.MachinePerRequestMs, busyShare(c.MachineSeconds, r.DurationSeconds, r.Environment.NumCPU))
			if c.MachineBaselineSeconds > 0 {
				fmt.Fprintf(sb, ", %.1fs in the baseline (%.1f ms a bare workflow)", c.MachineBaselineSeconds, c.MachinePerBaselineWorkflowMs)
			}
			sb.WriteString("\n")
		}
	}
}

// describeRun says how load was made.
func (r *Report) describeRun() string {
	run := r.Run
	var model string
	if run.Model == "closed" {
		model = fmt.Sprintf("closed model (%d nurses)", run.Users)
	} else {
		model = fmt.Sprintf("open model (%g requests/s)", run.Rate)
	}
	where := "api " + run.API
	if run.Mode == "dev" {
		where = "in-process dev stack (Temporal on " + run.TemporalStore + ")"
	}
	return fmt.Sprintf("%s, %d pharmacists, withdrawal after %.0fms by %s, %s", model, run.Pharmacists, run.WithdrawAfterMs, run.WithdrawVia, where)
}

func splitEndpoint(name string) (string, string) {
	if typ, rest, ok := strings.Cut(name, " "); ok && typ == strings.ToUpper(typ) {
		return typ, rest
	}
	return "", name
}

func ms(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func num(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprint(int64(v))
	}
	return fmt.Sprintf("%.3g", v)
}

func latencyString(l Latency) string {
	if l.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p95 %s  p99 %s  p99.9 %s  max %s  (n=%d)", ms(l.P50), ms(l.P90), ms(l.P95), ms(l.P99), ms(l.P999), ms(l.Max), l.Count)
}

func countsString(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func loadString(l []float64) string {
	if len(l) < 3 {
		return "unknown"
	}
	return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2])
}

func bytesString(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// busyShare is the percentage of cpus CPUs' time over seconds that busy seconds took.
func busyShare(busy, seconds float64, cpus int) float64 {
	if seconds <= 0 || cpus <= 0 {
		return 0
	}
	return 100 * busy / (seconds * float64(cpus))
}
