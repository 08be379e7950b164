package db

import (
	"context"
	"maps"
	"net/netip"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// Audit actions of catalogue and cabinet changes (stock settings are audited as stock_set,
// users in users.go).
const (
	ActionMedicationCreated = "medication_created"
	ActionCabinetCreated    = "cabinet_created"
	ActionCabinetDriverSet  = "cabinet_driver_set"
	ActionMedicationChanged = "medication_changed"
	// ActionCabinetReportSourcesSet: who may report for a cabinet changed.
	ActionCabinetReportSourcesSet = "cabinet_report_sources_set"
)

// auditChange appends the audit entry of a change to the catalogue, a cabinet, a pocket's
// settings or the users directory, in the caller's transaction. Its details are "before" (null
// for something new) and "after", what the thing was and became, plus the extra keys. A zero
// by is the system (pyxis.System): dev mode's seeding and setup.
func auditChange(ctx context.Context, q *gen.Queries, by pyxis.Actor, action string, before, after, extra map[string]any) error {
	if by.ID == "" {
		by = pyxis.System
	}
	details := map[string]any{"before": before, "after": after}
	maps.Copy(details, extra)
	return appendAudit(ctx, q, auditRecord{actor: by, action: action, details: details})
}

// medicationSnapshot is what the audit trail records of a medication.
func medicationSnapshot(m pyxis.Medication) map[string]any {
	return map[string]any{
		"id": m.ID, "code": m.Code, "name": m.Name, "strength": m.Strength, "form": m.Form, "unit": m.Unit,
		"controlled_list": m.ControlledList, "route": m.Route, "barcodes": m.Barcodes, "active": m.Active,
	}
}

// cabinetSnapshot is what the audit trail records of a cabinet.
func cabinetSnapshot(c pyxis.Cabinet) map[string]any {
	return map[string]any{
		"id": c.ID, "code": c.Code, "name": c.Name, "unit": c.Unit, "status": c.Status, "driver": c.Driver, "address": c.Address,
		"report_sources": prefixStrings(c.ReportSources),
	}
}

func prefixStrings(p []netip.Prefix) []string {
	out := make([]string, len(p))
	for i, n := range p {
		out[i] = n.String()
	}
	return out
}
