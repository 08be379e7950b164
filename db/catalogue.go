package db

import (
	"context"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// CreateMedication adds a medication to the catalogue, audited (medication_created, details
// before null and after the medication, by m.By) in the same transaction. It returns
// ErrConflict when the code is taken and ErrInvalid when the code or name is empty.
func (s *CatalogueStore) CreateMedication(ctx context.Context, m NewMedication) (pyxis.Medication, error) {
	var out pyxis.Medication
	err := s.inTx(ctx, func(q *gen.Queries) error {
		row, err := q.CreateMedication(ctx, gen.CreateMedicationParams{
			Code:           m.Code,
			Name:           m.Name,
			Strength:       m.Strength,
			Form:           m.Form,
			Unit:           m.Unit,
			ControlledList: pgtype.Text{String: m.ControlledList, Valid: m.ControlledList != ""},
			Route:          m.Route,
			Barcodes:       nonNilStrings(m.Barcodes),
		})
		if err != nil {
			return err
		}
		out = medicationFromGen(row)
		return auditChange(ctx, q, m.By, ActionMedicationCreated, nil, medicationSnapshot(out), nil)
	})
	if err != nil {
		return pyxis.Medication{}, wrap("create medication", err)
	}
	return out, nil
}

// ListMedications returns the whole catalogue ordered by code.
func (s *CatalogueStore) ListMedications(ctx context.Context) ([]pyxis.Medication, error) {
	rows, err := s.q.ListMedications(ctx)
	if err != nil {
		return nil, wrap("list medications", err)
	}
	out := make([]pyxis.Medication, len(rows))
	for i, r := range rows {
		out[i] = medicationFromGen(r)
	}
	return out, nil
}

// GetMedications returns the medications with the given ids, ordered by id; unknown ids are
// left out.
func (s *CatalogueStore) GetMedications(ctx context.Context, ids []int64) ([]pyxis.Medication, error) {
	rows, err := s.q.GetMedications(ctx, ids)
	if err != nil {
		return nil, wrap("get medications", err)
	}
	out := make([]pyxis.Medication, len(rows))
	for i, r := range rows {
		out[i] = medicationFromGen(r)
	}
	return out, nil
}

// medicationFromGen converts a generated row to the domain type.
func medicationFromGen(r gen.Medication) pyxis.Medication {
	return pyxis.Medication{
		ID:             r.ID,
		Code:           r.Code,
		Name:           r.Name,
		Strength:       r.Strength,
		Form:           r.Form,
		Unit:           r.Unit,
		ControlledList: r.ControlledList.String,
		Route:          r.Route,
		Barcodes:       r.Barcodes,
		Active:         r.Active,
		CreatedAt:      r.CreatedAt,
		UpdatedAt:      r.UpdatedAt,
	}
}

// GetMedicationByCode returns the medication with the given code, or ErrNotFound.
func (s *CatalogueStore) GetMedicationByCode(ctx context.Context, code string) (pyxis.Medication, error) {
	row, err := s.q.GetMedicationByCode(ctx, code)
	if err != nil {
		return pyxis.Medication{}, wrap("get medication by code", err)
	}
	return medicationFromGen(row), nil
}
