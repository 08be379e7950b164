package workflows

import (
	"context"

	"go.temporal.io/sdk/client"
)

// Update sends one of this package's Workflow Updates and waits until its handler has
// returned, decoding the handler's result into result (nil to ignore it). A non-empty
// updateID makes a resent update the same one, which Temporal applies once. Callers bound
// the wait with ctx; the validator's refusal comes back as the error.
func Update(ctx context.Context, c client.Client, workflowID, updateID, name string, arg, result any) error {
	handle, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     updateID,
		WorkflowID:   workflowID,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return err
	}
	return handle.Get(ctx, result)
}
