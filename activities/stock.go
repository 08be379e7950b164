package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis"
)

// ErrUnknownPocket is the error type of a restock for a pocket the cabinet does not stock.
const ErrUnknownPocket = "UnknownPocket"

// The Restock workflow's activities run as regular activities: their inputs and results are
// in its histories, under these JSON names. A refill's completion and what opening or
// completing a task did travel as the domain's own types (pyxis.RefillCompletion,
// pyxis.OpenedRefill, pyxis.CompletedRefill).

// OpenRefillInput opens the refill task of a pocket for a Restock workflow.
type OpenRefillInput struct {
	CabinetID    int64       `json:"cabinet_id"`
	MedicationID int64       `json:"medication_id"`
	WorkflowID   string      `json:"workflow_id"`
	Actor        pyxis.Actor `json:"actor"`
}

// CancelRefillInput cancels an open refill task.
type CancelRefillInput struct {
	TaskID int64       `json:"task_id"`
	Actor  pyxis.Actor `json:"actor"`
	Reason string      `json:"reason"`
}

// RefillAuditInput is an audit entry about a refill task, such as an overdue escalation.
// IdemKey makes a retried write land once.
type RefillAuditInput struct {
	Action  string         `json:"action"`
	Actor   pyxis.Actor    `json:"actor"`
	At      time.Time      `json:"at"`
	Details map[string]any `json:"details,omitempty"`
	IdemKey string         `json:"idem_key"`
}

// OpenRefillTask opens (or finds open) the refill task of a pocket, and audits it. A pocket
// that is not stocked cannot be restocked: that fails without retry.
func (a *Activities) OpenRefillTask(ctx context.Context, in OpenRefillInput) (*pyxis.OpenedRefill, error) {
	opened, err := a.Store.OpenRefillTask(ctx, in.CabinetID, in.MedicationID, in.WorkflowID, in.Actor)
	if errors.Is(err, pyxis.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("medication %d is not stocked in cabinet %d", in.MedicationID, in.CabinetID), ErrUnknownPocket, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open refill task of cabinet %d medication %d: %w", in.CabinetID, in.MedicationID, err)
	}
	return &opened, nil
}

// CompleteRefill loads the confirmed quantity into the task's pocket and closes the task.
func (a *Activities) CompleteRefill(ctx context.Context, in pyxis.RefillCompletion) (*pyxis.CompletedRefill, error) {
	done, err := a.Store.CompleteRefill(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("complete refill task %d: %w", in.TaskID, err)
	}
	return &done, nil
}

// CancelRefill cancels an open refill task; one already closed is left as it is.
func (a *Activities) CancelRefill(ctx context.Context, in CancelRefillInput) error {
	if err := a.Store.CancelRefill(ctx, in.TaskID, in.Actor, in.Reason); err != nil {
		return fmt.Errorf("cancel refill task %d: %w", in.TaskID, err)
	}
	return nil
}

// AuditRefill appends an audit entry about a refill task.
func (a *Activities) AuditRefill(ctx context.Context, in RefillAuditInput) error {
	err := a.Store.AppendAudit(ctx, pyxis.AuditEntry{At: in.At, Actor: in.Actor, Action: in.Action, Details: in.Details}, in.IdemKey)
	if err != nil {
		return fmt.Errorf("audit %s: %w", in.Action, err)
	}
	return nil
}
