package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/db"
)

// AuthorizeDispense tells the request's cabinet to release its lines to a nurse. A refusal is
// final; a cabinet that is offline or does not answer is retried within the workflow's cap.
func (a *Activities) AuthorizeDispense(ctx context.Context, in CabinetInput) error {
	order, err := a.order(ctx, in)
	if err != nil {
		return err
	}
	activity.GetLogger(ctx).Info("Authorizing dispense", "RequestID", in.RequestID, "Cabinet", order.CabinetCode)
	return cabinetError(order.CabinetCode, a.Cabinets.Authorize(ctx, order))
}

// RevokeAuthorization withdraws an unused authorization from the cabinet.
func (a *Activities) RevokeAuthorization(ctx context.Context, in CabinetInput) error {
	order, err := a.order(ctx, in)
	if err != nil {
		return err
	}
	activity.GetLogger(ctx).Info("Withdrawing dispense authorization", "RequestID", in.RequestID, "Cabinet", order.CabinetCode)
	return cabinetError(order.CabinetCode, a.Cabinets.Revoke(ctx, order))
}

// order resolves the cabinet and checks it can take commands at all.
func (a *Activities) order(ctx context.Context, in CabinetInput) (cabinet.Order, error) {
	cab, err := a.Store.GetCabinet(ctx, in.CabinetID)
	if errors.Is(err, db.ErrNotFound) {
		return cabinet.Order{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("cabinet %d does not exist", in.CabinetID), ErrUnknownCabinet, err)
	}
	if err != nil {
		return cabinet.Order{}, fmt.Errorf("look up cabinet %d: %w", in.CabinetID, err)
	}
	if cab.Status != "online" {
		// Retryable: a cabinet back from maintenance within the retry window still serves.
		return cabinet.Order{}, fmt.Errorf("cabinet %s is %s: %w", cab.Code, cab.Status, cabinet.ErrUnreachable)
	}
	o := cabinet.Order{
		RequestID:   in.RequestID,
		CabinetCode: cab.Code,
		PatientMRN:  in.PatientMRN,
		PatientBed:  in.PatientBed,
		Lines:       make([]cabinet.Line, len(in.Lines)),
	}
	for i, l := range in.Lines {
		o.Lines[i] = cabinet.Line{MedicationID: l.MedicationID, Quantity: l.Quantity}
	}
	return o, nil
}

func cabinetError(code string, err error) error {
	var refused *cabinet.RefusedError
	if errors.As(err, &refused) {
		return temporal.NewNonRetryableApplicationError(refused.Error(), ErrCabinetRefused, err)
	}
	if err != nil {
		return fmt.Errorf("command cabinet %s: %w", code, err)
	}
	return nil
}
