package db

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// OpenRefillTask opens the refill task of a pocket for the Restock workflow workflowID, with
// requested_qty = par_level - on_hand, and audits it, in one transaction. When a task of the
// pocket is open already it returns that one; when the pocket is at or above its par level it
// opens nothing and returns NotNeeded. A retry therefore never opens a second task. A pocket
// the cabinet does not stock gives ErrNotFound.
func (s *StockStore) OpenRefillTask(ctx context.Context, cabinetID, medicationID int64, workflowID string, by pyxis.Actor) (pyxis.OpenedRefill, error) {
	var out pyxis.OpenedRefill
	err := s.inTx(ctx, func(q *gen.Queries) error {
		// The stock row's lock serializes openings of one pocket.
		level, err := q.LockStock(ctx, gen.LockStockParams{CabinetID: cabinetID, MedicationID: medicationID})
		if errors.Is(err, pgx.ErrNoRows) {
			return notFoundf("medication %d is not stocked in cabinet %d", medicationID, cabinetID)
		}
		if err != nil {
			return err
		}
		out.OnHand, out.ParLevel = level.OnHand, level.ParLevel
		id, err := q.OpenRefillTaskID(ctx, gen.OpenRefillTaskIDParams{CabinetID: cabinetID, MedicationID: medicationID})
		if err == nil {
			task, err := q.GetRefillTask(ctx, id)
			out.TaskID, out.RequestedQty = id, task.RequestedQty
			return err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if level.OnHand >= level.ParLevel {
			out.NotNeeded = true
			return nil
		}
		out.RequestedQty = level.ParLevel - level.OnHand
		out.TaskID, err = q.InsertRefillTask(ctx, gen.InsertRefillTaskParams{
			CabinetID: cabinetID, MedicationID: medicationID, RequestedQty: out.RequestedQty, WorkflowID: workflowID,
		})
		if err != nil {
			return err
		}
		return audit(ctx, q, time.Time{}, by, "refill_requested", "", map[string]any{
			"refill_task_id": out.TaskID, "cabinet_id": cabinetID, "medication_id": medicationID,
			"on_hand": level.OnHand, "par_level": level.ParLevel, "requested": out.RequestedQty, "workflow_id": workflowID,
		})
	})
	if err != nil {
		return pyxis.OpenedRefill{}, wrap("open refill task", err)
	}
	return out, nil
}

// CompleteRefill confirms an open refill task, in one transaction: the task is done with the
// quantity loaded, on_hand rises by it (a loaded movement of the task), and it is audited.
// A task that is no longer open changes nothing and returns Applied false, so a retried
// confirmation is harmless. When the cabinet's load report (CabinetMessageID) was applied
// already as a load of its own, the task is closed without loading it a second time.
// It returns ErrNotFound for an unknown task and ErrInvalid for a non-positive quantity.
func (s *StockStore) CompleteRefill(ctx context.Context, c pyxis.RefillCompletion) (pyxis.CompletedRefill, error) {
	if c.Quantity <= 0 {
		return pyxis.CompletedRefill{}, wrap("complete refill", invalidf("the quantity loaded must be positive, got %d", c.Quantity))
	}
	source := c.Source
	if source == "" {
		source = SourceWorkflow
	}
	var out pyxis.CompletedRefill
	err := s.inTx(ctx, func(q *gen.Queries) error {
		pocket, err := q.CloseRefillTask(ctx, gen.CloseRefillTaskParams{
			Status: gen.RefillStatusDone, LoadedQty: pgtype.Int4{Int32: c.Quantity, Valid: true},
			CompletedBy: optText(c.Actor.ID), ID: c.TaskID,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			_, err = q.GetRefillTask(ctx, c.TaskID)
			return err
		}
		if err != nil {
			return err
		}
		out.Applied = true
		details := map[string]any{
			"refill_task_id": c.TaskID, "cabinet_id": pocket.CabinetID, "medication_id": pocket.MedicationID,
			"loaded": c.Quantity, "source": source,
		}
		fresh, err := claimMessage(ctx, q, pocket.CabinetID, c.CabinetMessageID, "L")
		if err != nil {
			return err
		}
		if fresh {
			m, err := moveStock(ctx, q, movement{
				cabinetID: pocket.CabinetID, medicationID: pocket.MedicationID, kind: MovementLoaded,
				delta: c.Quantity, source: source, messageID: c.CabinetMessageID, refillTaskID: c.TaskID,
				actor: c.Actor, at: c.At,
			})
			if err != nil {
				return err
			}
			out.OnHandAfter = m.OnHandAfter
			details["movement_id"], details["on_hand"] = m.ID, m.OnHandAfter
		} else {
			level, err := q.LockStock(ctx, gen.LockStockParams{CabinetID: pocket.CabinetID, MedicationID: pocket.MedicationID})
			if err != nil {
				return err
			}
			out.OnHandAfter = level.OnHand
			details["already_recorded"] = c.CabinetMessageID
		}
		if c.CabinetMessageID != "" {
			details["cabinet_message_id"] = c.CabinetMessageID
		}
		return audit(ctx, q, c.At, c.Actor, "refill_completed", "", details)
	})
	if err != nil {
		return pyxis.CompletedRefill{}, wrap("complete refill", err)
	}
	return out, nil
}

// CancelRefill cancels an open refill task and audits why. A task that is no longer open is
// left as it is; an unknown one gives ErrNotFound.
func (s *StockStore) CancelRefill(ctx context.Context, taskID int64, by pyxis.Actor, reason string) error {
	err := s.inTx(ctx, func(q *gen.Queries) error {
		pocket, err := q.CloseRefillTask(ctx, gen.CloseRefillTaskParams{
			Status: gen.RefillStatusCancelled, CompletedBy: optText(by.ID), ID: taskID,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			_, err = q.GetRefillTask(ctx, taskID)
			return err
		}
		if err != nil {
			return err
		}
		return audit(ctx, q, time.Time{}, by, "refill_cancelled", "", map[string]any{
			"refill_task_id": taskID, "cabinet_id": pocket.CabinetID, "medication_id": pocket.MedicationID, "reason": reason,
		})
	})
	return wrap("cancel refill", err)
}

// GetRefillTask returns one refill task, or ErrNotFound.
func (s *StockStore) GetRefillTask(ctx context.Context, id int64) (RefillTask, error) {
	row, err := s.q.GetRefillTask(ctx, id)
	if err != nil {
		return RefillTask{}, wrap("get refill task", err)
	}
	return refillFromGen(row), nil
}

// OpenRefillTaskOf returns the open refill task of a pocket, or ErrNotFound when none is open.
func (s *StockStore) OpenRefillTaskOf(ctx context.Context, cabinetID, medicationID int64) (RefillTask, error) {
	id, err := s.q.OpenRefillTaskID(ctx, gen.OpenRefillTaskIDParams{CabinetID: cabinetID, MedicationID: medicationID})
	if err != nil {
		return RefillTask{}, wrap("open refill task of pocket", err)
	}
	return s.GetRefillTask(ctx, id)
}

// ListRefillTasks returns refill tasks newest first, filtered by status ("open", "done",
// "cancelled" or "" for all) and cabinet. An unknown status gives ErrInvalid.
func (s *StockStore) ListRefillTasks(ctx context.Context, f StockFilter) ([]RefillTask, error) {
	params := gen.ListRefillTasksParams{MaxRows: stockLimit(f.Limit)}
	if f.Status != "" {
		params.Status = gen.NullRefillStatus{RefillStatus: gen.RefillStatus(f.Status), Valid: true}
		if !params.Status.RefillStatus.Valid() {
			return nil, wrap("list refill tasks", invalidf("unknown refill status %q", f.Status))
		}
	}
	if f.CabinetID != 0 {
		params.CabinetID.Int64, params.CabinetID.Valid = f.CabinetID, true
	}
	rows, err := s.q.ListRefillTasks(ctx, params)
	if err != nil {
		return nil, wrap("list refill tasks", err)
	}
	out := make([]RefillTask, len(rows))
	for i, r := range rows {
		out[i] = refillFromGen(gen.GetRefillTaskRow(r))
	}
	return out, nil
}

func refillFromGen(r gen.GetRefillTaskRow) RefillTask {
	return RefillTask{
		ID:             r.ID,
		CabinetID:      r.CabinetID,
		CabinetCode:    r.CabinetCode,
		MedicationID:   r.MedicationID,
		MedicationCode: r.MedicationCode,
		MedicationName: r.MedicationName,
		Status:         string(r.Status),
		RequestedQty:   r.RequestedQty,
		LoadedQty:      int4Ptr(r.LoadedQty),
		WorkflowID:     r.WorkflowID,
		CreatedAt:      r.CreatedAt,
		CompletedAt:    r.CompletedAt,
		CompletedBy:    r.CompletedBy.String,
	}
}
