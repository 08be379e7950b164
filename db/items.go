package db

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// MedicationChange is a new content for a catalogue entry; the code stays.
type MedicationChange struct {
	Name, Strength, Form, Unit string
	// ControlledList is the list of Portaria SVS/MS 344/98, "" for none.
	ControlledList string
	// Route is a code of HL7 table 0162 or ""; Barcodes the package barcodes; Active false
	// deactivates the medication.
	Route    string
	Barcodes []string
	Active   bool
}

// UpdateMedication changes a catalogue entry, audited with before and after
// (medication_changed), in one transaction, and returns it. ErrNotFound for an unknown id,
// ErrInvalid for an unknown controlled list or an empty name, ErrControlledInStock for a
// controlled list lowered or removed while a pocket holds the medication (the stock was
// received, counted and witnessed under the stricter list; raising is always allowed).
func (s *CatalogueStore) UpdateMedication(ctx context.Context, id int64, c MedicationChange, by pyxis.Actor) (pyxis.Medication, error) {
	if c.ControlledList != "" && !slices.Contains(ControlledLists, c.ControlledList) {
		return pyxis.Medication{}, wrap("update medication", invalidf("unknown controlled list %q", c.ControlledList))
	}
	if c.Name == "" {
		return pyxis.Medication{}, wrap("update medication", invalidf("a medication needs a name"))
	}
	var out pyxis.Medication
	err := s.inTx(ctx, func(q *gen.Queries) error {
		before, err := q.GetMedication(ctx, id)
		if err != nil {
			return err
		}
		if lowers(before.ControlledList.String, c.ControlledList) {
			held, err := q.MedicationHeld(ctx, id)
			if err != nil {
				return err
			}
			if held {
				return fmt.Errorf("%w: medication %d is on list %q and some pocket holds it", pyxis.ErrControlledInStock, id, before.ControlledList.String)
			}
		}
		row, err := q.UpdateMedication(ctx, gen.UpdateMedicationParams{
			ID: id, Name: c.Name, Strength: c.Strength, Form: c.Form, Unit: c.Unit,
			ControlledList: pgtype.Text{String: c.ControlledList, Valid: c.ControlledList != ""},
			Route:          c.Route, Barcodes: nonNilStrings(c.Barcodes), Active: c.Active,
		})
		if err != nil {
			return err
		}
		out = medicationFromGen(row)
		return auditChange(ctx, q, by, ActionMedicationChanged, medicationSnapshot(medicationFromGen(before)), medicationSnapshot(out), nil)
	})
	if err != nil {
		return pyxis.Medication{}, wrap("update medication", err)
	}
	return out, nil
}

// nonNilStrings returns s, or an empty slice for nil: the column is NOT NULL.
func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// GetMedication returns one catalogue entry, or ErrNotFound.
func (s *CatalogueStore) GetMedication(ctx context.Context, id int64) (pyxis.Medication, error) {
	row, err := s.q.GetMedication(ctx, id)
	if err != nil {
		return pyxis.Medication{}, wrap("get medication", err)
	}
	return medicationFromGen(row), nil
}

// lowers reports whether moving a medication from controlled list from to list to makes it
// less controlled: off every list, or onto a later list of ControlledLists (A before B
// before C).
func lowers(from, to string) bool {
	if from == "" || from == to {
		return false
	}
	return to == "" || slices.Index(ControlledLists, to) > slices.Index(ControlledLists, from)
}
