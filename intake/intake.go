// Package intake applies what cabinets report, once each: a vend completes its request's
// withdrawal through the request's workflow; a return, waste, unload or load moves stock in the
// ledger (a load confirms the pocket's open refill, through its Restock workflow); a count is
// compared with on_hand and a difference recorded as a discrepancy. It implements
// cabinet.EventHandler for the HL7 report listener.
package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/workflows"
)

// Errors of reports that cannot be applied, besides cabinet.ErrUnknownOrder. The listener
// answers every error AE; these let it, and its logs, say why.
var (
	// ErrUnknownCabinet: the report names a cabinet code the system does not know.
	ErrUnknownCabinet = errors.New("unknown cabinet")
	// ErrUnknownMedication: the report names a medication code not in the catalogue.
	ErrUnknownMedication = errors.New("unknown medication")
	// ErrInvalidReport: the report lacks what its kind needs (a message control id, a
	// positive amount) or is of an unknown kind.
	ErrInvalidReport = errors.New("invalid cabinet report")
	// ErrRefused: the request's workflow refused the vend (the request is not ready at this
	// cabinet, or has ended otherwise).
	ErrRefused = errors.New("report refused")
	// ErrNotYet: the vend came before the system finished recording its authorization (the
	// cabinet's acknowledgment was late, and the command is being retried): it can be applied
	// shortly, so the cabinet should send it again.
	ErrNotYet = errors.New("the request's authorization is still being confirmed")
)

// DefaultUpdateTimeout bounds the wait for a workflow to take a report.
const DefaultUpdateTimeout = 10 * time.Second

// requestIDPattern is the form of a medication request id: anything else names no request.
var requestIDPattern = regexp.MustCompile(`^medreq-[0-9A-HJKMNP-TV-Z]{26}$`)

// Intake applies cabinet reports. Every report is applied at most once per (cabinet, message
// control id): a repeat returns nil and changes nothing. A change that would leave a pocket's
// on_hand below what is reserved is refused with an error wrapping db.ErrStockBelowReserved.
type Intake struct {
	Store    *db.Store
	Temporal client.Client
	// UpdateTimeout bounds the wait for a workflow to take a report; 0 means
	// DefaultUpdateTimeout.
	UpdateTimeout time.Duration
	// Logger receives a line per refill confirmed; nil means slog.Default().
	Logger *slog.Logger
}

var _ cabinet.EventHandler = (*Intake)(nil)

// HandleEvent applies one cabinet report.
func (in *Intake) HandleEvent(ctx context.Context, e cabinet.Event) error {
	if e.MessageControlID == "" {
		return fmt.Errorf("%w: no message control id (MSH-10)", ErrInvalidReport)
	}
	cab, err := in.Store.GetCabinetByCode(ctx, e.CabinetCode)
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("%w %q", ErrUnknownCabinet, e.CabinetCode)
	}
	if err != nil {
		return fmt.Errorf("cabinet %q: %w", e.CabinetCode, err)
	}
	if e.Kind == cabinet.EventVend {
		return in.vend(ctx, cab, e)
	}
	applied, err := in.Store.CabinetMessageApplied(ctx, cab.ID, e.MessageControlID)
	if err != nil || applied {
		return err
	}
	med, err := in.Store.GetMedicationByCode(ctx, e.MedicationCode)
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("%w %q", ErrUnknownMedication, e.MedicationCode)
	}
	if err != nil {
		return fmt.Errorf("medication %q: %w", e.MedicationCode, err)
	}
	switch e.Kind {
	case cabinet.EventCount:
		return in.count(ctx, cab, med, e)
	case cabinet.EventLoad:
		return in.load(ctx, cab, med, e)
	case cabinet.EventReturn:
		return in.move(ctx, cab, med, e, db.MovementReturned)
	case cabinet.EventWaste:
		return in.move(ctx, cab, med, e, db.MovementWasted)
	case cabinet.EventUnload:
		return in.move(ctx, cab, med, e, db.MovementUnloaded)
	}
	return fmt.Errorf("%w: unknown transaction %q", ErrInvalidReport, e.Kind)
}

// actor is who a report is recorded as: the cabinet user (ZPM-11, RXD-10) when the cabinet
// names one, else the cabinet itself; always in the cabinet role.
func actor(cab db.Cabinet, e cabinet.Event) workflows.Actor {
	a := workflows.Actor{ID: "cabinet:" + cab.Code, Name: "cabinet " + cab.Code, Role: workflows.RoleCabinet}
	if e.User != "" {
		a.ID = e.User
	}
	return a
}

func dbActor(a workflows.Actor) db.Actor { return db.Actor{ID: a.ID, Role: a.Role} }

// details are the report's facts kept with its movement: where in the cabinet, and what the
// cabinet itself believed.
func details(e cabinet.Event) map[string]any {
	d := map[string]any{"message_control_id": e.MessageControlID, "transaction": string(e.Kind)}
	for k, v := range map[string]string{"drawer": e.Drawer, "pocket": e.Pocket, "controlled_class": e.ControlledClass} {
		if v != "" {
			d[k] = v
		}
	}
	for k, v := range map[string]cabinet.Count{"cabinet_expected": e.Expected, "cabinet_actual": e.Actual, "cabinet_balance": e.Balance, "cabinet_par_level": e.ParLevel} {
		if n, ok := v.Get(); ok {
			d[k] = n
		}
	}
	return d
}

// move applies a return, waste or unload (and a load with no open refill).
func (in *Intake) move(ctx context.Context, cab db.Cabinet, med db.Medication, e cabinet.Event, kind string) error {
	amount := e.Amount.Or(0)
	if amount <= 0 {
		return fmt.Errorf("%w: %s of %s needs a positive amount, got %q", ErrInvalidReport, kind, med.Code, e.Amount.String())
	}
	_, err := in.Store.RecordPocketChange(ctx, db.PocketChange{
		CabinetID: cab.ID, MedicationID: med.ID, Kind: kind, Quantity: amount,
		Actor: dbActor(actor(cab, e)), Witness: e.Witness, ControlledClass: e.ControlledClass,
		RequestID: e.RequestID, Source: db.SourceCabinet, CabinetMessageID: e.MessageControlID,
		At: e.At, Details: details(e),
	})
	if err != nil {
		return fmt.Errorf("%s %d of %s at cabinet %s: %w", kind, amount, med.Code, cab.Code, err)
	}
	return nil
}

// count compares the cabinet's count (ZPM-9) with on_hand; a difference becomes a discrepancy.
func (in *Intake) count(ctx context.Context, cab db.Cabinet, med db.Medication, e cabinet.Event) error {
	_, err := in.Store.RecordCount(ctx, db.Count{
		CabinetID: cab.ID, MedicationID: med.ID, Counted: e.Actual.Or(0), Actor: dbActor(actor(cab, e)),
		Source: db.SourceCabinet, CabinetMessageID: e.MessageControlID, At: e.At, Details: details(e),
	})
	if err != nil {
		return fmt.Errorf("count of %s at cabinet %s: %w", med.Code, cab.Code, err)
	}
	return nil
}

func (in *Intake) timeout() time.Duration {
	if in.UpdateTimeout > 0 {
		return in.UpdateTimeout
	}
	return DefaultUpdateTimeout
}

func (in *Intake) logger() *slog.Logger {
	if in.Logger != nil {
		return in.Logger
	}
	return slog.Default()
}

// isRejection reports whether err is a workflow update validator's refusal of the given type.
func isRejection(err error, errType string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == errType
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
