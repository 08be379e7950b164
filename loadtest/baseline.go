package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis/loadtest/simuser"
)

// The baseline's workflow, task queue and updates. Its worker runs in the load test's own
// process, on a task queue of its own, so it never meets the system's workers.
const (
	BaselineTaskQueue    = "pyxis-loadtest-baseline"
	BaselineWorkflowName = "PyxisLoadtestBaseline"
	BaselineApprove      = "approve"
	BaselineWithdrawn    = "withdrawn"
)

// baselineTimeout bounds one baseline workflow; none should come near it.
const baselineTimeout = 10 * time.Minute

// BaselineWorkflow is a medication request with nothing but its shape: it waits for an
// approval Update, then for a withdrawal Update, and completes. No activities, no database:
// what it costs is what Temporal itself costs for a lifecycle.
func BaselineWorkflow(ctx workflow.Context) error {
	var approved, withdrawn bool
	if err := workflow.SetUpdateHandler(ctx, BaselineApprove, func(workflow.Context) error {
		approved = true
		return nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, BaselineWithdrawn, func(workflow.Context) error {
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
	if err := workflow.Await(ctx, func() bool { return approved && withdrawn }); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// baseline runs n bare workflows of the lifecycle's shape with the given concurrency (closed
// model): start, approve, wait WithdrawAfter, withdraw, wait for completion.
func (r *runner) baseline(ctx context.Context, n, concurrency int) (*BaselineReport, error) {
	rep := &BaselineReport{
		TaskQueue: BaselineTaskQueue, Workflows: n, Concurrency: concurrency,
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
	}, BaselineWorkflowName)
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
