// Package activities holds the side effects of the medication request workflow: the stock
// ledger and audit trail in Postgres, and commands to the Pyxis cabinets. Every activity is
// idempotent, because Temporal retries them. The database is reached through the small
// interface the activities declare (Store), in the domain's types (package pyxis): this
// package, and so the workflows that name its methods, links no database code.
package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/internal/metrics"
)

// Activities holds the dependencies of the activities; the worker registers its methods.
type Activities struct {
	Store    Store
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
func (a *Activities) Admit(ctx context.Context, in pyxis.Admission) (*AdmitResult, error) {
	res, err := a.Store.Admit(ctx, in)
	if err != nil {
		return nil, dbError("admit "+in.RequestID, err)
	}
	return &AdmitResult{Reserved: res.Short == nil, Reason: res.Reason}, nil
}

// RecordStep records a request's pending transitions together with the stock change they go
// with (what withdrawal reports took, a release at a terminal status), in one transaction.
func (a *Activities) RecordStep(ctx context.Context, in pyxis.Step) (*StockResult, error) {
	res, err := a.Store.RecordStep(ctx, in)
	if err != nil {
		return nil, dbError("record step of "+in.RequestID, err)
	}
	out := &StockResult{Lines: append([]pyxis.Line{}, res.Released...)}
	for _, c := range res.Consumed {
		out.Lines = append(out.Lines, pyxis.Line{MedicationID: c.MedicationID, Quantity: c.Quantity})
		out.Levels = append(out.Levels, StockLevel{MedicationID: c.MedicationID, OnHand: c.OnHand, ParLevel: c.ParLevel})
	}
	return out, nil
}

// dbError passes a database failure on the way Temporal must treat it. A permanent one
// (Postgres refused the data as it is, a row it needs is missing, the request's stock is
// settled) fails at once, typed, so the request ends with a reason instead of retrying
// forever; anything else (connection refused, a serialization failure, a deadlock, a server
// shutting down) is retried. The message names the operation only: the cause is in the
// error chain, for the worker's log.
func dbError(op string, err error) error {
	switch {
	case errors.Is(err, pyxis.ErrSettled):
		return temporal.NewNonRetryableApplicationError(op+": the request's stock is already settled", ErrSettled, err)
	case errors.Is(err, pyxis.ErrInvalid), errors.Is(err, pyxis.ErrStockBelowReserved), errors.Is(err, pyxis.ErrConflict):
		return temporal.NewNonRetryableApplicationError(op+": invalid data", ErrInvalidData, err)
	case errors.Is(err, pyxis.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(op+": not found", ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
