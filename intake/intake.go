// Package intake applies what cabinets report, whichever door it came through: the HL7
// listener (store and forward: a report is kept in the inbox before it is acknowledged, and
// applied afterwards, in order per cabinet, exactly once), the REST withdrawal report, and the
// in-process simulator. A vend goes to its request's workflow, which consumes what the report
// says per line (ApplyVend, the one function every door uses); a vend no request can take is
// recorded as an unmatched dispense for a pharmacist's review. A return, waste, unload or load
// moves stock in the ledger (a load confirms the pocket's open refill through its Restock
// workflow); a count is compared with on_hand, a difference recorded as a discrepancy. What a
// report says that cannot be applied as written (an unknown medication, a fractional amount,
// another patient or other units than the order's) is parked for a pharmacist's review
// (review.go): it happened, so it is never refused.
package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/internal/metrics"
)

// Errors of reports that cannot be applied.
var (
	// ErrInvalidReport: the report lacks what its kind needs (a positive amount) or is of an
	// unknown kind.
	ErrInvalidReport = errors.New("invalid cabinet report")
	// ErrRefused: the request's workflow refused the withdrawal report (the request is not
	// ready at this cabinet, or has ended).
	ErrRefused = errors.New("report refused")
	// ErrNotYet: the vend came before the system finished recording its authorization (the
	// cabinet's acknowledgment was late, and the command is being retried): it can be applied
	// shortly.
	ErrNotYet = errors.New("the request's authorization is still being confirmed")
)

// DefaultUpdateTimeout bounds the wait for a workflow to take a report.
const DefaultUpdateTimeout = 10 * time.Second

// DefaultIDRetention is how long a cabinet's message control ids are remembered when
// Intake.IDRetention is 0: 30 days.
const DefaultIDRetention = 30 * 24 * time.Hour

// Intake applies cabinet reports. Every report is applied at most once per (cabinet, message
// control id).
type Intake struct {
	Store    Store
	Temporal client.Client
	// UpdateTimeout bounds the wait for a workflow to take a report; 0 means
	// DefaultUpdateTimeout.
	UpdateTimeout time.Duration
	// Logger receives a line per report accepted, refused or applied; nil means
	// slog.Default().
	Logger *slog.Logger
	// Metrics counts the HL7 reports received and applied (nil: none).
	Metrics *metrics.Reports
	// IDRetention is how long a cabinet's message control ids are remembered
	// (PYXIS_HL7_ID_RETENTION; 0 means DefaultIDRetention): within it, an id used again for
	// other content is a conflict (AE 205); after it, the id is taken again, so a cabinet
	// whose counter restarted is not refused for good. The applier purges older reports.
	IDRetention time.Duration
	// RawRetention is how long the raw message of a settled report is kept in the inbox
	// (PYXIS_INBOX_RAW_RETENTION); 0 means DefaultRawRetention. RawPurgeInterval is how often
	// the applier purges what is older; 0 means an hour.
	RawRetention     time.Duration
	RawPurgeInterval time.Duration

	wake chan struct{}
	// refusals aggregates the audit of refused peers: one entry a minute per address.
	refusals mllp.RefusalCounter
}

// apply applies a pocket event (anything but a vend) of a cabinet; it is idempotent per
// (cabinet, message control id).
func (in *Intake) apply(ctx context.Context, cab pyxis.Cabinet, e cabinet.Event) (string, error) {
	applied, err := in.Store.CabinetMessageApplied(ctx, cab.ID, e.MessageControlID)
	if err != nil || applied {
		return outcomeDuplicate, err
	}
	if parked, err := in.parkPocket(ctx, cab, e); err != nil || parked {
		return outcomeReview, err
	}
	med, err := in.Store.GetMedicationByCode(ctx, e.MedicationCode)
	if err != nil {
		return "", fmt.Errorf("medication %q: %w", e.MedicationCode, err)
	}
	switch e.Kind {
	case cabinet.EventCount:
		return outcomeApplied, in.count(ctx, cab, med, e)
	case cabinet.EventLoad:
		return outcomeApplied, in.load(ctx, cab, med, e)
	case cabinet.EventReturn:
		return outcomeApplied, in.move(ctx, cab, med, e, db.MovementReturned)
	case cabinet.EventWaste:
		return outcomeApplied, in.move(ctx, cab, med, e, db.MovementWasted)
	case cabinet.EventUnload:
		return outcomeApplied, in.move(ctx, cab, med, e, db.MovementUnloaded)
	}
	return "", fmt.Errorf("%w: unknown transaction %q", ErrInvalidReport, e.Kind)
}

// Outcomes of applying a report, kept with it in the inbox.
const (
	outcomeApplied   = "applied"
	outcomeDuplicate = "duplicate"
	outcomeUnmatched = "unmatched"
	// outcomeLate: a vend for a request another report had dispensed, applied to its ledger
	// (RecordLateVend).
	outcomeLate = "late_vend"
)

// actor is who a report is recorded as: the cabinet user (ZPM-11, RXD-10) when the cabinet
// names one, else the cabinet itself; always in the cabinet role.
func actor(cab pyxis.Cabinet, e cabinet.Event) pyxis.Actor {
	a := pyxis.Actor{ID: "cabinet:" + cab.Code, Name: "cabinet " + cab.Code, Role: pyxis.RoleCabinet}
	if e.User != "" {
		a.ID = e.User
	}
	return a
}

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
func (in *Intake) move(ctx context.Context, cab pyxis.Cabinet, med pyxis.Medication, e cabinet.Event, kind string) error {
	amount := e.Amount.Or(0)
	if amount <= 0 {
		return fmt.Errorf("%w: %s of %s needs a positive amount, got %q", ErrInvalidReport, kind, med.Code, e.Amount.String())
	}
	_, err := in.Store.RecordPocketChange(ctx, db.PocketChange{
		CabinetID: cab.ID, MedicationID: med.ID, Kind: kind, Quantity: amount,
		Actor: actor(cab, e), Witness: e.Witness, ControlledClass: e.ControlledClass,
		RequestID: e.RequestID, Source: db.SourceCabinet, CabinetMessageID: e.MessageControlID,
		At: e.At, Details: details(e),
	})
	if err != nil {
		return fmt.Errorf("%s %d of %s at cabinet %s: %w", kind, amount, med.Code, cab.Code, err)
	}
	return nil
}

// count compares the cabinet's count (ZPM-9) with on_hand; a difference becomes a discrepancy.
func (in *Intake) count(ctx context.Context, cab pyxis.Cabinet, med pyxis.Medication, e cabinet.Event) error {
	_, err := in.Store.RecordCount(ctx, db.Count{
		CabinetID: cab.ID, MedicationID: med.ID, Counted: e.Actual.Or(0), Actor: actor(cab, e),
		Source: db.SourceCabinet, CabinetMessageID: e.MessageControlID, At: e.At, Details: details(e),
	})
	if err != nil {
		return fmt.Errorf("count of %s at cabinet %s: %w", med.Code, cab.Code, err)
	}
	return nil
}

func (in *Intake) idRetention() time.Duration {
	if in.IDRetention > 0 {
		return in.IDRetention
	}
	return DefaultIDRetention
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
