package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis/db"
)

// ErrUnknownPocket is the error type of a restock for a pocket the cabinet does not stock.
const ErrUnknownPocket = "UnknownPocket"

// OpenRefillInput opens the refill task of a pocket for a Restock workflow.
type OpenRefillInput struct {
	CabinetID    int64  `json:"cabinet_id"`
	MedicationID int64  `json:"medication_id"`
	WorkflowID   string `json:"workflow_id"`
	Actor        Actor  `json:"actor"`
}

// OpenRefillResult is the open task, or NotNeeded when the pocket is at its par level again.
type OpenRefillResult struct {
	NotNeeded    bool  `json:"not_needed"`
	TaskID       int64 `json:"task_id"`
	RequestedQty int32 `json:"requested_qty"`
	OnHand       int32 `json:"on_hand"`
	ParLevel     int32 `json:"par_level"`
}

// CompleteRefillInput confirms a refill task with the quantity loaded.
type CompleteRefillInput struct {
	TaskID   int64 `json:"task_id"`
	Quantity int32 `json:"quantity"`
	Actor    Actor `json:"actor"`
	// Source is "api" or "cabinet": who reported the load.
	Source string `json:"source"`
	// MessageControlID is the cabinet's load report, when a cabinet reported it.
	MessageControlID string    `json:"message_control_id,omitempty"`
	At               time.Time `json:"at"`
}

// CompleteRefillResult says whether the confirmation changed the stock now (false on a retry
// that finds it done) and what the pocket holds after it.
type CompleteRefillResult struct {
	Applied     bool  `json:"applied"`
	OnHandAfter int32 `json:"on_hand_after"`
}

// CancelRefillInput cancels an open refill task.
type CancelRefillInput struct {
	TaskID int64  `json:"task_id"`
	Actor  Actor  `json:"actor"`
	Reason string `json:"reason"`
}

// RefillAuditInput is an audit entry about a refill task, such as an overdue escalation.
// IdemKey makes a retried write land once.
type RefillAuditInput struct {
	Action  string         `json:"action"`
	Actor   Actor          `json:"actor"`
	At      time.Time      `json:"at"`
	Details map[string]any `json:"details,omitempty"`
	IdemKey string         `json:"idem_key"`
}

// OpenRefillTask opens (or finds open) the refill task of a pocket, and audits it. A pocket
// that is not stocked cannot be restocked: that fails without retry.
func (a *Activities) OpenRefillTask(ctx context.Context, in OpenRefillInput) (*OpenRefillResult, error) {
	opened, err := a.Store.OpenRefillTask(ctx, in.CabinetID, in.MedicationID, in.WorkflowID, db.Actor(in.Actor))
	if errors.Is(err, db.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("medication %d is not stocked in cabinet %d", in.MedicationID, in.CabinetID), ErrUnknownPocket, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open refill task of cabinet %d medication %d: %w", in.CabinetID, in.MedicationID, err)
	}
	return &OpenRefillResult{
		NotNeeded: opened.NotNeeded, TaskID: opened.TaskID, RequestedQty: opened.RequestedQty,
		OnHand: opened.OnHand, ParLevel: opened.ParLevel,
	}, nil
}

// CompleteRefill loads the confirmed quantity into the task's pocket and closes the task.
func (a *Activities) CompleteRefill(ctx context.Context, in CompleteRefillInput) (*CompleteRefillResult, error) {
	done, err := a.Store.CompleteRefill(ctx, db.RefillCompletion{
		TaskID: in.TaskID, Quantity: in.Quantity, Actor: db.Actor(in.Actor), Source: in.Source,
		CabinetMessageID: in.MessageControlID, At: in.At,
	})
	if err != nil {
		return nil, fmt.Errorf("complete refill task %d: %w", in.TaskID, err)
	}
	return &CompleteRefillResult{Applied: done.Applied, OnHandAfter: done.OnHandAfter}, nil
}

// CancelRefill cancels an open refill task; one already closed is left as it is.
func (a *Activities) CancelRefill(ctx context.Context, in CancelRefillInput) error {
	if err := a.Store.CancelRefill(ctx, in.TaskID, db.Actor(in.Actor), in.Reason); err != nil {
		return fmt.Errorf("cancel refill task %d: %w", in.TaskID, err)
	}
	return nil
}

// AuditRefill appends an audit entry about a refill task.
func (a *Activities) AuditRefill(ctx context.Context, in RefillAuditInput) error {
	err := a.Store.AppendAudit(ctx, db.AuditEntry{At: in.At, Actor: db.Actor(in.Actor), Action: in.Action, Details: in.Details}, in.IdemKey)
	if err != nil {
		return fmt.Errorf("audit %s: %w", in.Action, err)
	}
	return nil
}
