package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis/activities"
)

// restockAfterConsume starts, for every pocket the consume left below its par level, a
// Restock child workflow. The child is abandoned when the request completes, and a restock
// already open for the pocket is left to do its work: "already started" is expected, not an
// error. Restocking never fails a request that was dispensed; a child that cannot start is
// logged.
func (r *request) restockAfterConsume(ctx workflow.Context, levels []activities.StockLevel) {
	type started struct {
		id     string
		future workflow.ChildWorkflowFuture
	}
	var children []started
	for _, l := range levels {
		if !l.BelowPar() {
			continue
		}
		id := RestockWorkflowID(r.in.CabinetID, l.MedicationID)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:        id,
			ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
			// A new restock of the pocket only after the previous one closed.
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		})
		children = append(children, started{id, workflow.ExecuteChildWorkflow(cctx, Restock, RestockInput{
			CabinetID: r.in.CabinetID, MedicationID: l.MedicationID,
		})})
	}
	// Wait until each child started (or was refused), so the request does not complete with
	// the start still pending.
	for _, c := range children {
		err := c.future.GetChildWorkflowExecution().Get(ctx, nil)
		switch {
		case err == nil:
			r.logger.Info("Restock started", "RestockID", c.id)
		case temporal.IsWorkflowExecutionAlreadyStartedError(err):
			r.logger.Info("Restock already open", "RestockID", c.id)
		default:
			r.logger.Warn("Restock not started", "RestockID", c.id, "Error", err)
		}
	}
}
