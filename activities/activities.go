// Package activities holds the side effects of the medication request workflow: the stock
// ledger and audit trail in Postgres, and commands to the Pyxis cabinets. Every activity is
// idempotent, because Temporal retries them.
package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/internal/metrics"
)

// Activities holds the dependencies of the activities; the worker registers its methods.
type Activities struct {
	Store    *db.Store
	Cabinets cabinet.Driver
	// SimulatedCabinets lets cabinets with the sim driver be commanded (dev mode, tests,
	// PYXIS_ALLOW_SIMULATED_CABINETS=true). Without it, a command to one fails at once with
	// ErrCabinetNotConfigured, and the request fails instead of being "dispensed" by a
	// simulator on a system that serves patients.
	SimulatedCabinets bool
	// Metrics records the cabinet commands sent (nil: none).
	Metrics *metrics.Cabinets
}

// Admit records a request's submission and reserves its lines, in one transaction. Too little
// stock is a business outcome, not a fault: the request is recorded failed with the shortage
// as its reason, and the result says so.
func (a *Activities) Admit(ctx context.Context, in AdmitInput) (*AdmitResult, error) {
	res, err := a.Store.Admit(ctx, db.Admission{
		RequestID: in.RequestID, CabinetID: in.CabinetID, Lines: toDBLines(in.Lines),
		Submitted: in.Submitted.transition(), Reserved: in.Reserved.transition(), Refused: in.Refused.transition(),
		RefusedReason: shortageReason,
	})
	if err != nil {
		return nil, dbError("admit "+in.RequestID, err)
	}
	return &AdmitResult{Reserved: res.Short == nil, Reason: res.Reason}, nil
}

// RecordStep records a request's pending transitions together with the stock change they go
// with (release at a terminal status, consume at dispensed), in one transaction.
func (a *Activities) RecordStep(ctx context.Context, in StepInput) (*StockResult, error) {
	st := db.Step{RequestID: in.RequestID, Stock: db.StockChange(in.Stock), Transitions: make([]db.Transition, len(in.Transitions))}
	for i, t := range in.Transitions {
		st.Transitions[i] = t.transition()
	}
	for _, v := range in.Vends {
		st.Vends = append(st.Vends, db.Vend{
			CabinetID: v.CabinetID, Lines: toDBLines(v.Lines), ReportID: v.ReportID,
			Actor: db.Actor{ID: v.Actor.ID, Role: v.Actor.Role, Name: v.Actor.Name}, Source: v.Source, At: v.At,
		})
	}
	res, err := a.Store.RecordStep(ctx, st)
	if err != nil {
		return nil, dbError("record step of "+in.RequestID, err)
	}
	out := &StockResult{Lines: fromDBLines(res.Released)}
	for _, c := range res.Consumed {
		out.Lines = append(out.Lines, Line{MedicationID: c.MedicationID, Quantity: c.Quantity})
		out.Levels = append(out.Levels, StockLevel{MedicationID: c.MedicationID, OnHand: c.OnHand, ParLevel: c.ParLevel})
	}
	return out, nil
}

// transition is the store's form of a transition to record.
func (in RecordInput) transition() db.Transition {
	t := db.Transition{
		RequestID:          in.RequestID,
		Seq:                in.Seq,
		From:               in.From,
		Status:             in.Status,
		Reason:             in.Reason,
		ReasonCode:         in.ReasonCode,
		At:                 in.At,
		Actor:              db.Actor{ID: in.Actor.ID, Role: in.Actor.Role, Name: in.Actor.Name},
		Action:             in.Action,
		Note:               in.Note,
		Details:            in.Details,
		Vended:             toDBLines(in.Vended),
		ReportID:           in.ReportID,
		ApprovalDeadline:   in.ApprovalDeadline,
		WithdrawalDeadline: in.WithdrawalDeadline,
	}
	if in.Reason != "" {
		t.Details = withReason(in.Details, in.Reason)
	}
	if h := in.Header; h != nil {
		t.Header = &db.RequestHeader{
			RequesterID:       h.RequesterID,
			RequesterName:     h.RequesterName,
			PatientMRN:        h.PatientMRN,
			PatientBed:        h.PatientBed,
			PatientFamily:     h.PatientFamily,
			PatientGiven:      h.PatientGiven,
			CabinetID:         h.CabinetID,
			Priority:          h.Priority,
			Lines:             toDBLines(h.Lines),
			RequiredApprovals: h.RequiredApprovals,
		}
	}
	return t
}

// shortageReason words a shortage for the nurse and the audit trail.
func shortageReason(short *db.InsufficientStockError) string {
	return fmt.Sprintf("insufficient stock of medication %d: requested %d, available %d", short.MedicationID, short.Requested, short.Available)
}

// dbError passes a database failure on the way Temporal must treat it. A permanent one
// (Postgres refused the data as it is, a row it needs is missing, the request's stock is
// settled) fails at once, typed, so the request ends with a reason instead of retrying
// forever; anything else (connection refused, a serialization failure, a deadlock, a server
// shutting down) is retried. The message names the operation only: the cause is in the
// error chain, for the worker's log.
func dbError(op string, err error) error {
	switch {
	case errors.Is(err, db.ErrSettled):
		return temporal.NewNonRetryableApplicationError(op+": the request's stock is already settled", ErrSettled, err)
	case errors.Is(err, db.ErrInvalid), errors.Is(err, db.ErrStockBelowReserved), errors.Is(err, db.ErrConflict):
		return temporal.NewNonRetryableApplicationError(op+": invalid data", ErrInvalidData, err)
	case errors.Is(err, db.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(op+": not found", ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func withReason(details map[string]any, reason string) map[string]any {
	out := make(map[string]any, len(details)+1)
	for k, v := range details {
		out[k] = v
	}
	out["reason"] = reason
	return out
}

func toDBLines(lines []Line) []db.Line {
	out := make([]db.Line, len(lines))
	for i, l := range lines {
		out[i] = db.Line{MedicationID: l.MedicationID, Quantity: l.Quantity}
	}
	return out
}

func fromDBLines(lines []db.Line) []Line {
	out := make([]Line, len(lines))
	for i, l := range lines {
		out[i] = Line{MedicationID: l.MedicationID, Quantity: l.Quantity}
	}
	return out
}
