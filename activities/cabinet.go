package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// DispenseOrder sends a prepared dispense authorization to its cabinet (deliver).
func (a *Activities) DispenseOrder(ctx context.Context, d Delivery) error {
	return a.deliver(ctx, pyxis.DeliveryAuthorize, d)
}

// WithdrawOrder withdraws a prepared, unused authorization from its cabinet (deliver).
func (a *Activities) WithdrawOrder(ctx context.Context, d Delivery) error {
	return a.deliver(ctx, pyxis.DeliveryRevoke, d)
}

// deliver makes one attempt of a cabinet command; the workflow's retry policy decides about
// the next (until the withdrawal window closes, for the workflows since v0.1.0). Each
// attempt reads where the cabinet is now, and sends the same message. A cabinet that is
// not online, does not answer, or answers "not now" fails the attempt, which is recorded
// for the request's view (cabinet_delivery) and retried; a refusal is final, and says
// (its second detail) whether an earlier attempt may have reached the cabinet unanswered.
func (a *Activities) deliver(ctx context.Context, command string, d Delivery) error {
	o := d.Order
	if d.CabinetID != 0 {
		cab, err := a.Store.GetCabinet(ctx, d.CabinetID)
		if errors.Is(err, pyxis.ErrNotFound) {
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("cabinet %d does not exist", d.CabinetID), ErrUnknownCabinet, err, "the cabinet does not exist")
		}
		if err != nil {
			return dbError(fmt.Sprintf("look up cabinet %d", d.CabinetID), err)
		}
		if cab.Driver == drivers.Sim && !a.SimulatedCabinets {
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("cabinet %s is simulated, and simulated cabinets are not allowed here", cab.Code),
				ErrCabinetNotConfigured, nil, pyxis.SimulatedCabinetsRefused)
		}
		o.Driver, o.Address, o.Status = cab.Driver, cab.Address, cab.Status
	}
	var ack string
	err := online(o)
	if err == nil {
		name, send := metrics.CommandAuthorize, a.Cabinets.Authorize
		if command == pyxis.DeliveryRevoke {
			name, send = metrics.CommandRevoke, a.Cabinets.Revoke
		}
		activity.GetLogger(ctx).Info("Cabinet command", "Command", name, "RequestID", o.RequestID, "Cabinet", o.CabinetCode)
		ack, err = a.command(ctx, name, o.CabinetCode, o.RequestID, func(ctx context.Context) error { return send(ctx, o) })
	}
	var refused *cabinet.RefusedError
	switch {
	case err == nil:
		a.settle(ctx, command, o.RequestID)
		return nil
	case errors.As(err, &refused):
		maybe := a.settle(ctx, command, o.RequestID) || refused.EarlierAttemptUnanswered
		return temporal.NewNonRetryableApplicationError(refused.Error(), ErrCabinetRefused, err, refused.Reason, maybe)
	case isApplicationError(err, ErrWorkerStopping):
		// Not an attempt: nothing was sent.
		return err
	}
	a.recordAttempt(ctx, pyxis.DeliveryAttempt{
		RequestID: o.RequestID, Command: command, LastError: attemptError(o, ack, err), At: time.Now(),
		MaybeDelivered: errors.Is(err, cabinet.ErrMaybeDelivered),
	})
	return fmt.Errorf("command cabinet %s: %w", o.CabinetCode, err)
}

// attemptError words how an attempt failed, in fixed words a nurse's view may show: never an
// address, nor the driver's own message.
func attemptError(o cabinet.Order, ack string, err error) string {
	switch {
	case o.Status != "" && o.Status != "online":
		return "the cabinet is " + o.Status
	case ack != "":
		return "the cabinet answered " + ack + ": not now"
	case errors.Is(err, cabinet.ErrMaybeDelivered):
		return "no acknowledgment: the cabinet may have received the order"
	case errors.Is(err, cabinet.ErrUnreachable):
		return "the cabinet could not be reached"
	}
	return "the command could not be sent"
}

// recordAttempt records a failed attempt for the request's view, best effort: a database
// that does not answer must not turn a cabinet's failure into another.
func (a *Activities) recordAttempt(ctx context.Context, at pyxis.DeliveryAttempt) {
	if !activity.IsActivity(ctx) {
		return
	}
	at.Attempt = activity.GetInfo(ctx).Attempt
	if err := a.Store.RecordDeliveryAttempt(ctx, at); err != nil {
		activity.GetLogger(ctx).Warn("Cabinet attempt not recorded", "RequestID", at.RequestID, "Error", err)
	}
}

// settle closes the request's command the cabinet answered, and reports whether an earlier
// attempt may have reached the cabinet unanswered. When the database cannot tell, any
// earlier attempt counts as such: revoking an order the cabinet never had costs a message,
// leaving one it has costs a dose.
func (a *Activities) settle(ctx context.Context, command, requestID string) bool {
	if !activity.IsActivity(ctx) {
		return false
	}
	maybe, err := a.Store.SettleDelivery(ctx, requestID, command)
	if err != nil {
		activity.GetLogger(ctx).Warn("Cabinet delivery not settled", "RequestID", requestID, "Error", err)
		return activity.GetInfo(ctx).Attempt > 1
	}
	return maybe
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

func isApplicationError(err error, errType string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == errType
}
