package intake

import (
	"context"
	"errors"
	"fmt"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/workflows"
)

// updateID names the workflow update a report becomes: a resent report reaches a running
// workflow as the same update, which Temporal applies once.
func updateID(cab pyxis.Cabinet, e cabinet.Event) string {
	return fmt.Sprintf("cabinet-%d-%s", cab.ID, e.MessageControlID)
}

// update sends a workflow update and waits until its handler returned.
func (in *Intake) update(ctx context.Context, workflowID, name, id string, arg any, result any) error {
	ctx, cancel := context.WithTimeout(ctx, in.timeout())
	defer cancel()
	return workflows.Update(ctx, in.Temporal, workflowID, id, name, arg, result)
}

// load confirms the open refill task of the pocket with the amount loaded, through its
// Restock workflow. With no open task, or when another confirmation of the task got there
// first, the load is a load of its own. A task whose workflow no longer runs is completed
// here.
func (in *Intake) load(ctx context.Context, cab pyxis.Cabinet, med pyxis.Medication, e cabinet.Event) error {
	amount := e.Amount.Or(0)
	if amount <= 0 {
		return fmt.Errorf("%w: load of %s needs a positive amount, got %q", ErrInvalidReport, med.Code, e.Amount.String())
	}
	task, err := in.Store.OpenRefillTaskOf(ctx, cab.ID, med.ID)
	if errors.Is(err, pyxis.ErrNotFound) {
		return in.move(ctx, cab, med, e, db.MovementLoaded)
	}
	if err != nil {
		return fmt.Errorf("refill task of %s at cabinet %s: %w", med.Code, cab.Code, err)
	}
	by := actor(cab, e)
	err = in.update(ctx, task.WorkflowID, workflows.ConfirmRefillUpdate, updateID(cab, e), workflows.ConfirmRefillInput{
		Actor: by, Quantity: amount, Source: workflows.RefillSourceCabinet,
		MessageControlID: e.MessageControlID, TaskID: task.ID,
	}, nil)
	switch {
	case err == nil:
		in.logger().InfoContext(ctx, "refill confirmed by the cabinet", "cabinet", cab.Code,
			"medication", med.Code, "refill_task_id", task.ID, "quantity", amount)
		return nil
	case isRejection(err, workflows.ErrInvalidState):
		return in.move(ctx, cab, med, e, db.MovementLoaded)
	case isNotFound(err):
		_, err = in.Store.CompleteRefill(ctx, pyxis.RefillCompletion{
			TaskID: task.ID, Quantity: amount, Actor: by, Source: db.SourceCabinet,
			CabinetMessageID: e.MessageControlID, At: e.At,
		})
		if err != nil {
			return fmt.Errorf("complete refill task %d: %w", task.ID, err)
		}
		return nil
	case isRejection(err, workflows.ErrInvalidInput):
		return fmt.Errorf("%w: load of %d %s: %w", ErrInvalidReport, amount, med.Code, err)
	}
	return fmt.Errorf("confirm refill task %d: %w", task.ID, err)
}
