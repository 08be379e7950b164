package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis/loadtest/simuser"
)

// The baseline's workflow, task queue and updates. Its worker runs in the load test's own
// process, on a task queue of its own, so it never meets the system's workers.
const (
	BaselineTaskQueue    = "pyxis-loadtest-baseline"
	BaselineWorkflowName = "PyxisLoadtestBaseline"
	BaselineStepName     = "PyxisLoadtestBaselineStep"
	BaselineApprove      = "approve"
	BaselineWithdrawn    = "withdrawn"
)

// MaxBaselineActivities is how many steps a bare workflow can take as activities: the three a
// dispensed request takes (the approval's record, the cabinet order, the withdrawal's record).
const MaxBaselineActivities = 3

// baselineTimeout bounds one baseline workflow; none should come near it.
const baselineTimeout = 10 * time.Minute

// BaselineWorkflow is a medication request with nothing but its shape: it waits for an
// approval Update, then for a withdrawal Update, and completes. With no activities (the
// baseline the ratio is judged against) there is no database either: what it costs is what
// Temporal itself costs for a lifecycle.
//
// activities (0 to MaxBaselineActivities) gives it the steps a dispensed request takes, as
// no-op activities at the same points: the approval answered once a step after its acceptance
// has run, then the cabinet order, then the withdrawal answered the same way. Three is the
// real lifecycle's shape of workflow tasks and activities, priced in Temporal alone. A
// history written without the argument decodes it as 0, the bare shape it ran.
func BaselineWorkflow(ctx workflow.Context, activities int) error {
	// An update handler's context is its own, so each step sets its options.
	step := func(ctx workflow.Context, n int) error {
		if activities < n {
			return nil
		}
		// A step that does nothing has nothing to retry: one that fails fails the workflow,
		// and the report counts it, where retries would hold the run until its timeout.
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
		return workflow.ExecuteActivity(ctx, BaselineStepName).Get(ctx, nil)
	}
	var approved, ordered, withdrawn bool
	if err := workflow.SetUpdateHandler(ctx, BaselineApprove, func(ctx workflow.Context) error {
		if err := step(ctx, 1); err != nil {
			return err
		}
		approved = true
		return nil
	}); err != nil {
		return err
	}
	// A withdrawal that overtakes the order waits for it, where the real lifecycle's nurse waits
	// for the order before she withdraws: either way one workflow task takes the order's result.
	if err := workflow.SetUpdateHandlerWithOptions(ctx, BaselineWithdrawn, func(ctx workflow.Context) error {
		if err := workflow.Await(ctx, func() bool { return ordered }); err != nil {
			return err
		}
		if err := step(ctx, 3); err != nil {
			return err
		}
		withdrawn = true
		return nil
	}, workflow.UpdateHandlerOptions{Validator: func() error {
		if !approved {
			return errors.New("not approved yet")
		}
		return nil
	}}); err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool { return approved }); err != nil {
		return err
	}
	if err := step(ctx, 2); err != nil {
		return err
	}
	ordered = true
	if err := workflow.Await(ctx, func() bool { return withdrawn }); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// BaselineStep is the bare workflow's step: an activity that does nothing, so what it costs
// is the task's round trip through Temporal.
func BaselineStep(context.Context) error { return nil }

// baseline runs n bare workflows of the lifecycle's shape with the given concurrency (closed
// model): start, approve, wait WithdrawAfter, withdraw, wait for completion.
func (r *runner) baseline(ctx context.Context, n, concurrency int) (*BaselineReport, error) {
	rep := &BaselineReport{
		TaskQueue: BaselineTaskQueue, Workflows: n, Concurrency: concurrency, Activities: r.cfg.BaselineActivities,
		WithdrawAfterMs: float64(r.cfg.WithdrawAfter.Milliseconds()), ErrorExamples: []string{},
	}
	if n == 0 {
		return rep, nil
	}
	tc, err := client.DialContext(ctx, client.Options{HostPort: r.env.TemporalAddress, Namespace: r.env.Namespace, Logger: quietLogger{},
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: r.env.TemporalCompression}})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", r.env.TemporalAddress, err)
	}
	defer tc.Close()
	w := worker.New(tc, BaselineTaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(BaselineWorkflow, workflow.RegisterOptions{Name: BaselineWorkflowName})
	w.RegisterActivityWithOptions(BaselineStep, activity.RegisterOptions{Name: BaselineStepName})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start the baseline worker: %w", err)
	}
	defer w.Stop()

	hist := newLifecycleHistogram()
	var (
		mu          sync.Mutex
		first, last time.Time
		next        atomic.Int64
		done        atomic.Int64
		wg          sync.WaitGroup
	)
	prog := r.startProgressFunc(func() string {
		return fmt.Sprintf("baseline  %d/%d bare workflows", done.Load(), n)
	})
	for range min(concurrency, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				id := fmt.Sprintf("loadtest-baseline-%s-%d", r.runID, i)
				start := time.Now()
				err := r.bareLifecycle(ctx, tc, id)
				end := time.Now()
				done.Add(1)
				mu.Lock()
				if err != nil {
					rep.Failed++
					if len(rep.ErrorExamples) < maxErrorExamples {
						rep.ErrorExamples = append(rep.ErrorExamples, err.Error())
					}
				} else {
					rep.Completed++
					_ = hist.RecordValue(min(max(end.Sub(start).Microseconds(), 1), lifecycleMaxMicros))
					if first.IsZero() || start.Before(first) {
						first = start
					}
					if end.After(last) {
						last = end
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	prog.stop()
	if span := last.Sub(first).Seconds(); span > 0 {
		rep.SpanSeconds = round(span, 3)
		rep.CompletedPerSecond = round(float64(rep.Completed)/span, 3)
	}
	rep.Latency = latencyOf(hist, 1e-3)
	return rep, ctx.Err()
}

// baselineOnly is the baseline scenario: cfg.Requests bare workflows, cfg.Users at once, and
// nothing else.
func (r *runner) baselineOnly(ctx context.Context, rep *Report) error {
	r.begin(rep)
	base, err := r.baseline(ctx, r.cfg.Requests, r.cfg.Users)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	r.end(rep, nil)
	rep.Baseline = base
	if rep.CPU != nil {
		rep.CPU.setBaseline(rep.CPU.Seconds, rep.CPU.MachineSeconds, base.Workflows)
	}
	return nil
}

// bareLifecycle runs one baseline workflow through its life.
func (r *runner) bareLifecycle(ctx context.Context, tc client.Client, id string) error {
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: BaselineTaskQueue, WorkflowExecutionTimeout: baselineTimeout,
	}, BaselineWorkflowName, r.cfg.BaselineActivities)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	update := func(name string) error {
		h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: id, RunID: run.GetRunID(), UpdateName: name, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	if err := update(BaselineApprove); err != nil {
		return err
	}
	simuser.Pause(ctx, r.cfg.WithdrawAfter)
	if err := update(BaselineWithdrawn); err != nil {
		return err
	}
	return run.Get(ctx, nil)
}

// quietLogger drops the Temporal SDK's logs: the report says what went wrong.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
