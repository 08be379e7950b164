package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/drivers"
	"github.com/medreq/pyxis/internal/metrics"
)

// PrepareOrder reads what a command to the request's cabinet needs (the cabinet's driver,
// address and status, the medications' codes, names and strengths) into the order the
// command sends. It is a database step of its own, run as a local activity and retried like
// one, so a database outage delays a cabinet command but never spends its attempts. A cabinet
// that does not exist cannot be commanded at all.
func (a *Activities) PrepareOrder(ctx context.Context, in CabinetInput) (*cabinet.Order, error) {
	o, err := a.order(ctx, in)
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// DispenseOrder sends a prepared dispense authorization to its cabinet, once: the workflow
// decides about another attempt. A cabinet that is not online, does not answer, or answers
// "not now" is a failure worth retrying; a refusal is final.
func (a *Activities) DispenseOrder(ctx context.Context, o cabinet.Order) error {
	if err := online(o); err != nil {
		return err
	}
	activity.GetLogger(ctx).Info("Authorizing dispense", "RequestID", o.RequestID, "Cabinet", o.CabinetCode)
	return cabinetError(o.CabinetCode, a.command(ctx, metrics.CommandAuthorize, o.CabinetCode, o.RequestID,
		func(ctx context.Context) error { return a.Cabinets.Authorize(ctx, o) }))
}

// WithdrawOrder withdraws a prepared, unused authorization from its cabinet, once.
func (a *Activities) WithdrawOrder(ctx context.Context, o cabinet.Order) error {
	if err := online(o); err != nil {
		return err
	}
	activity.GetLogger(ctx).Info("Withdrawing dispense authorization", "RequestID", o.RequestID, "Cabinet", o.CabinetCode)
	return cabinetError(o.CabinetCode, a.command(ctx, metrics.CommandRevoke, o.CabinetCode, o.RequestID,
		func(ctx context.Context) error { return a.Cabinets.Revoke(ctx, o) }))
}

// online refuses, for now, a cabinet that is not online: a cabinet back from maintenance
// within the command's attempts still serves.
func online(o cabinet.Order) error {
	if o.Status != "" && o.Status != "online" {
		return fmt.Errorf("cabinet %s is %s: %w", o.CabinetCode, o.Status, cabinet.ErrUnreachable)
	}
	return nil
}

// order resolves the cabinet and the medications into the order a command sends; a cabinet
// that does not exist, or a medication gone from the catalogue, cannot be commanded at all.
func (a *Activities) order(ctx context.Context, in CabinetInput) (cabinet.Order, error) {
	cab, err := a.Store.GetCabinet(ctx, in.CabinetID)
	if errors.Is(err, pyxis.ErrNotFound) {
		return cabinet.Order{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("cabinet %d does not exist", in.CabinetID), ErrUnknownCabinet, err, "the cabinet does not exist")
	}
	if err != nil {
		// A database that does not answer is retried like any database step.
		return cabinet.Order{}, dbError(fmt.Sprintf("look up cabinet %d", in.CabinetID), err)
	}
	if cab.Driver == drivers.Sim && !a.SimulatedCabinets {
		return cabinet.Order{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("cabinet %s is simulated, and simulated cabinets are not allowed here", cab.Code),
			ErrCabinetNotConfigured, nil, pyxis.SimulatedCabinetsRefused)
	}
	ids := make([]int64, len(in.Lines))
	for i, l := range in.Lines {
		ids[i] = l.MedicationID
	}
	meds, err := a.Store.GetMedications(ctx, ids)
	if err != nil {
		return cabinet.Order{}, dbError("look up medications of "+in.RequestID, err)
	}
	if len(meds) < len(ids) {
		return cabinet.Order{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("a medication of %s is not in the catalogue", in.RequestID), ErrNotFound, nil)
	}
	byID := make(map[int64]pyxis.Medication, len(meds))
	for _, m := range meds {
		byID[m.ID] = m
	}
	o := cabinet.Order{
		RequestID:     in.RequestID,
		CabinetCode:   cab.Code,
		CabinetUnit:   cab.Unit,
		Driver:        cab.Driver,
		Address:       cab.Address,
		PatientMRN:    in.Patient.MRN,
		PatientBed:    in.Patient.Bed,
		PatientFamily: in.Patient.Family,
		PatientGiven:  in.Patient.Given,
		Priority:      string(in.Priority),
		Lines:         make([]cabinet.Line, len(in.Lines)),
	}
	for i, l := range in.Lines {
		m := byID[l.MedicationID]
		o.Lines[i] = cabinet.Line{
			MedicationID: l.MedicationID, MedicationCode: m.Code, MedicationName: m.Name, Unit: m.Unit, Quantity: l.Quantity,
			// The HL7 driver derives the dose per unit (RXE-3/5) from the strength, and the
			// route (RXR) from the form when the catalogue gives none.
			Strength: m.Strength, Form: m.Form, Route: m.Route,
		}
	}
	return o, nil
}

// commandOutcome classifies a command's result for its metrics.
func commandOutcome(err error, ack string) string {
	var refused *cabinet.RefusedError
	switch {
	case err == nil:
		return metrics.OutcomeAccepted
	case errors.As(err, &refused):
		return metrics.OutcomeRefused
	case ack != "":
		// The cabinet answered, but not now (AR, CR).
		return metrics.OutcomeNotNow
	}
	return metrics.OutcomeUnreachable
}

func cabinetError(code string, err error) error {
	var refused *cabinet.RefusedError
	if errors.As(err, &refused) {
		// The cabinet's own words travel as a detail: the workflow shows them, cleaned.
		return temporal.NewNonRetryableApplicationError(refused.Error(), ErrCabinetRefused, err, refused.Reason)
	}
	if err != nil {
		return fmt.Errorf("command cabinet %s: %w", code, err)
	}
	return nil
}
