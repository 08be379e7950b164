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

// ItemInput names a medication whose catalogue entry a cabinet's item master must hold; New
// says the cabinet does not hold it yet.
type ItemInput struct {
	CabinetID    int64 `json:"cabinet_id"`
	MedicationID int64 `json:"medication_id"`
	New          bool  `json:"new,omitempty"`
}

// SyncItem sends a medication's catalogue entry, as it is now, to a cabinet's item master
// (HL7 MFN^M01). The cabinet acknowledges it like an order: a refusal is final (audited
// item_master_refused), no answer or "not now" is retried. A cabinet that is not commanded
// over HL7 has no item master to tell.
func (a *Activities) SyncItem(ctx context.Context, in ItemInput) error {
	cab, err := a.Store.GetCabinet(ctx, in.CabinetID)
	if errors.Is(err, pyxis.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("cabinet %d does not exist", in.CabinetID), ErrUnknownCabinet, err)
	}
	if err != nil {
		return dbError(fmt.Sprintf("look up cabinet %d", in.CabinetID), err)
	}
	if cab.Driver != drivers.HL7 {
		return nil
	}
	med, err := a.Store.GetMedication(ctx, in.MedicationID)
	if err != nil {
		return dbError(fmt.Sprintf("look up medication %d", in.MedicationID), err)
	}
	item := cabinet.Item{
		Code: med.Code, Name: med.Name, Strength: med.Strength, Form: med.Form, Unit: med.Unit,
		ControlledList: med.ControlledList, New: in.New, ChangedAt: med.UpdatedAt,
	}
	target := cabinet.CabinetTarget{Driver: cab.Driver, Address: cab.Address, CabinetCode: cab.Code}
	activity.GetLogger(ctx).Info("Sending item master update", "Cabinet", cab.Code, "Medication", med.Code, "New", in.New)
	_, err = a.command(ctx, metrics.CommandItemUpdate, cab.Code, "", func(ctx context.Context) error { return a.Cabinets.UpdateItem(ctx, target, item) })
	var refused *cabinet.RefusedError
	if errors.As(err, &refused) {
		if aerr := a.Store.AppendAudit(ctx, pyxis.AuditEntry{
			Actor: pyxis.System, Action: "item_master_refused",
			Details: map[string]any{"cabinet_id": cab.ID, "medication_id": med.ID, "reason": refused.Reason},
		}, fmt.Sprintf("item/%d/%d/%d/refused", cab.ID, med.ID, med.UpdatedAt.UnixMicro())); aerr != nil {
			return dbError("audit item master refusal", aerr)
		}
	}
	return cabinetError(cab.Code, err)
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
