package workflows

import (
	"context"

	enumspb "go.temporal.io/api/enums/v1"
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

// SyncItem starts the ItemSync of a medication at a cabinet, or tells the one running that the
// medication changed again: SignalWithStart, so a change is never lost between two syncs.
func SyncItem(ctx context.Context, c client.Client, taskQueue string, cabinetID, medicationID int64, isNew bool) error {
	_, err := c.SignalWithStartWorkflow(ctx, ItemSyncWorkflowID(cabinetID, medicationID), ItemChangedSignal, ItemChanged{New: isNew},
		client.StartWorkflowOptions{
			TaskQueue:             taskQueue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		}, ItemSync, ItemSyncInput{CabinetID: cabinetID, MedicationID: medicationID})
	return err
}
