// Package worker wires the workflows and activities to a Temporal task queue, and prepares the
// namespace (search attributes) they rely on.
package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/workflows"
)

// TaskQueue is the one task queue of the medication request workflows and their activities.
const TaskQueue = workflows.TaskQueue

// Options tune the worker; a zero field keeps the SDK's default. README (Configuration)
// lists the environment variables that set them and the figures they were chosen by.
type Options struct {
	// WorkflowPollers and ActivityPollers are the concurrent long polls of each task type.
	WorkflowPollers, ActivityPollers int
	// WorkflowSlots, ActivitySlots and LocalActivitySlots bound the tasks run at once.
	WorkflowSlots, ActivitySlots, LocalActivitySlots int
	// StopTimeout is how long running activities may finish on shutdown (default 10s).
	StopTimeout time.Duration
}

// New returns a worker (not yet started) for the request workflows and activities.
func New(c client.Client, acts *activities.Activities, o Options) sdkworker.Worker {
	if o.StopTimeout <= 0 {
		// Activities are short and idempotent: on shutdown give them a moment to finish,
		// then let Temporal retry what was cut off elsewhere.
		o.StopTimeout = 10 * time.Second
	}
	w := sdkworker.New(c, TaskQueue, sdkworker.Options{
		WorkerStopTimeout:                       o.StopTimeout,
		MaxConcurrentWorkflowTaskPollers:        o.WorkflowPollers,
		MaxConcurrentActivityTaskPollers:        o.ActivityPollers,
		MaxConcurrentWorkflowTaskExecutionSize:  o.WorkflowSlots,
		MaxConcurrentActivityExecutionSize:      o.ActivitySlots,
		MaxConcurrentLocalActivityExecutionSize: o.LocalActivitySlots,
	})
	Register(w, acts)
	return w
}

// Register registers the workflows and activities on any registry (a worker, a replayer).
func Register(r sdkworker.Registry, acts *activities.Activities) {
	workflows.Register(r)
	r.RegisterActivity(acts)
}

// EnsureSearchAttributes registers the workflows' custom search attributes in the namespace
// if they are missing, then waits until the server lists them all. Waiting matters: a worker
// that starts on a namespace still registering them fails its first workflow tasks
// (temporalio/temporal#6475).
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	want := make(map[string]enumspb.IndexedValueType, len(workflows.SearchAttributeNames))
	for _, n := range workflows.SearchAttributeNames {
		want[n] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	missing, err := missingSearchAttributes(ctx, ops, namespace)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		add := make(map[string]enumspb.IndexedValueType, len(missing))
		for _, n := range missing {
			add[n] = want[n]
		}
		_, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: namespace, SearchAttributes: add,
		})
		var exists *serviceerror.AlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register search attributes %v: %w", missing, err)
		}
	}
	for {
		missing, err := missingSearchAttributes(ctx, ops, namespace)
		if err != nil {
			return err
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("search attributes %v not visible: %w", missing, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func missingSearchAttributes(ctx context.Context, ops operatorservice.OperatorServiceClient, namespace string) ([]string, error) {
	resp, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes: %w", err)
	}
	var missing []string
	for _, n := range workflows.SearchAttributeNames {
		if _, ok := resp.GetCustomAttributes()[n]; !ok {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	return missing, nil
}
