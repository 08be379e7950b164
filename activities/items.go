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
// over HL7 has no item master to tell. Cabinets that share the address (a central cabinet
// server or an interface engine) share one item master: the entry goes there once, for every
// cabinet at the address that stocks the medication (cabinet.UpdateItemAt), and the API
// starts one sync per address (api: itemSite), so no workflow changes.
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
		Barcodes: med.Barcodes, Deactivated: !med.Active,
	}
	site, err := a.itemSite(ctx, cab, med.ID)
	if err != nil {
		return err
	}
	activity.GetLogger(ctx).Info("Sending item master update", "Cabinet", cab.Code, "Cabinets", site.Cabinets, "Medication", med.Code, "New", in.New)
	_, err = a.command(ctx, metrics.CommandItemUpdate, cab.Code, "", func(ctx context.Context) error { return cabinet.UpdateItemAt(ctx, a.Cabinets, site, item) })
	var refused *cabinet.RefusedError
	if errors.As(err, &refused) {
		if aerr := a.Store.AppendAudit(ctx, pyxis.AuditEntry{
			Actor: pyxis.System, Action: "item_master_refused",
			Details: map[string]any{"cabinet_id": cab.ID, "cabinets": site.Cabinets, "medication_id": med.ID, "reason": refused.Reason},
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

// itemSite returns the site whose item master the cabinet's entry of a medication goes to:
// the cabinet's address, with every HL7 cabinet there that stocks the medication (the cabinet
// itself always, a new pocket's cabinet before its stock row is read).
func (a *Activities) itemSite(ctx context.Context, cab pyxis.Cabinet, medicationID int64) (cabinet.Site, error) {
	targets := []cabinet.CabinetTarget{{Driver: cab.Driver, Address: cab.Address, CabinetCode: cab.Code}}
	stocking, err := a.Store.ItemMasterCabinets(ctx, medicationID)
	if err != nil {
		return cabinet.Site{}, dbError(fmt.Sprintf("cabinets stocking medication %d", medicationID), err)
	}
	addr := cabinet.NormalizeAddress(cab.Address)
	for _, c := range stocking {
		if c.Driver == cab.Driver && cabinet.NormalizeAddress(c.Address) == addr {
			targets = append(targets, cabinet.CabinetTarget{Driver: c.Driver, Address: c.Address, CabinetCode: c.Code})
		}
	}
	return cabinet.Sites(targets)[0], nil
}
