package db

import (
	"context"
	"net/netip"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis/db/gen"
)

// CreateMedication adds a medication to the catalogue, audited (medication_created, details
// before null and after the medication, by m.By) in the same transaction. It returns
// ErrConflict when the code is taken and ErrInvalid when the code or name is empty.
func (s *Store) CreateMedication(ctx context.Context, m NewMedication) (Medication, error) {
	var out Medication
	err := s.inTx(ctx, func(q *gen.Queries) error {
		row, err := q.CreateMedication(ctx, gen.CreateMedicationParams{
			Code:           m.Code,
			Name:           m.Name,
			Strength:       m.Strength,
			Form:           m.Form,
			Unit:           m.Unit,
			ControlledList: pgtype.Text{String: m.ControlledList, Valid: m.ControlledList != ""},
		})
		if err != nil {
			return err
		}
		out = medicationFromGen(row)
		return auditChange(ctx, q, m.By, ActionMedicationCreated, nil, medicationSnapshot(out), nil)
	})
	if err != nil {
		return Medication{}, wrap("create medication", err)
	}
	return out, nil
}

// ListMedications returns the whole catalogue ordered by code.
func (s *Store) ListMedications(ctx context.Context) ([]Medication, error) {
	rows, err := s.q.ListMedications(ctx)
	if err != nil {
		return nil, wrap("list medications", err)
	}
	out := make([]Medication, len(rows))
	for i, r := range rows {
		out[i] = medicationFromGen(r)
	}
	return out, nil
}

// GetMedications returns the medications with the given ids, ordered by id; unknown ids are
// left out.
func (s *Store) GetMedications(ctx context.Context, ids []int64) ([]Medication, error) {
	rows, err := s.q.GetMedications(ctx, ids)
	if err != nil {
		return nil, wrap("get medications", err)
	}
	out := make([]Medication, len(rows))
	for i, r := range rows {
		out[i] = medicationFromGen(r)
	}
	return out, nil
}

// CreateCabinet registers a cabinet, audited (cabinet_created, details before null and after
// the cabinet, by c.By) in the same transaction; an empty Status means online. It returns
// ErrConflict when the code is taken and ErrInvalid for an unknown status, no driver, or an
// empty code or name.
func (s *Store) CreateCabinet(ctx context.Context, c NewCabinet) (Cabinet, error) {
	status := gen.CabinetStatusOnline
	if c.Status != "" {
		status = gen.CabinetStatus(c.Status)
	}
	if !status.Valid() {
		return Cabinet{}, wrap("create cabinet", invalidf("unknown cabinet status %q", c.Status))
	}
	if c.Driver == "" {
		return Cabinet{}, wrap("create cabinet", invalidf("cabinet %q needs its driver: hl7 or sim", c.Code))
	}
	var out Cabinet
	err := s.inTx(ctx, func(q *gen.Queries) error {
		row, err := q.CreateCabinet(ctx, gen.CreateCabinetParams{
			Code:    c.Code,
			Name:    c.Name,
			Unit:    c.Unit,
			Status:  status,
			Driver:  c.Driver,
			Address: c.Address,
			// Nobody may report for a cabinet until someone says from where.
			ReportSources: nonNilPrefixes(c.ReportSources),
		})
		if err != nil {
			return err
		}
		out = cabinetFromGen(row)
		return auditChange(ctx, q, c.By, ActionCabinetCreated, nil, cabinetSnapshot(out), nil)
	})
	if err != nil {
		return Cabinet{}, wrap("create cabinet", err)
	}
	return out, nil
}

// ListCabinets returns every cabinet ordered by code.
func (s *Store) ListCabinets(ctx context.Context) ([]Cabinet, error) {
	rows, err := s.q.ListCabinets(ctx)
	if err != nil {
		return nil, wrap("list cabinets", err)
	}
	out := make([]Cabinet, len(rows))
	for i, r := range rows {
		out[i] = cabinetFromGen(r)
	}
	return out, nil
}

// GetCabinet returns the cabinet with the given id, or ErrNotFound.
func (s *Store) GetCabinet(ctx context.Context, id int64) (Cabinet, error) {
	row, err := s.q.GetCabinet(ctx, id)
	if err != nil {
		return Cabinet{}, wrap("get cabinet", err)
	}
	return cabinetFromGen(row), nil
}

// GetCabinetByCode returns the cabinet with the given code, or ErrNotFound.
func (s *Store) GetCabinetByCode(ctx context.Context, code string) (Cabinet, error) {
	row, err := s.q.GetCabinetByCode(ctx, code)
	if err != nil {
		return Cabinet{}, wrap("get cabinet by code", err)
	}
	return cabinetFromGen(row), nil
}

// medicationFromGen converts a generated row to the domain type.
func medicationFromGen(r gen.Medication) Medication {
	return Medication{
		ID:             r.ID,
		Code:           r.Code,
		Name:           r.Name,
		Strength:       r.Strength,
		Form:           r.Form,
		Unit:           r.Unit,
		ControlledList: r.ControlledList.String,
		CreatedAt:      r.CreatedAt,
		UpdatedAt:      r.UpdatedAt,
	}
}

// cabinetFromGen converts a generated row to the domain type.
func cabinetFromGen(r gen.Cabinet) Cabinet {
	return Cabinet{
		ID:        r.ID,
		Code:      r.Code,
		Name:      r.Name,
		Unit:      r.Unit,
		Status:    string(r.Status),
		Driver:    r.Driver,
		Address:   r.Address,
		CreatedAt: r.CreatedAt,
		// Never nil, so "nobody" reads the same everywhere.
		ReportSources: nonNilPrefixes(r.ReportSources),
	}
}

// SetCabinetReportSources sets the networks a cabinet's reports are believed from (empty:
// nobody), audited with before and after as by's change, and returns the cabinet; ErrNotFound
// for an unknown one.
func (s *Store) SetCabinetReportSources(ctx context.Context, id int64, sources []netip.Prefix, by Actor) (Cabinet, error) {
	var out Cabinet
	err := s.inTx(ctx, func(q *gen.Queries) error {
		before, err := q.GetCabinet(ctx, id)
		if err != nil {
			return err
		}
		row, err := q.SetCabinetReportSources(ctx, gen.SetCabinetReportSourcesParams{ID: id, ReportSources: nonNilPrefixes(sources)})
		if err != nil {
			return err
		}
		out = cabinetFromGen(row)
		return auditChange(ctx, q, by, ActionCabinetReportSourcesSet, cabinetSnapshot(cabinetFromGen(before)), cabinetSnapshot(out), nil)
	})
	if err != nil {
		return Cabinet{}, wrap("set cabinet report sources", err)
	}
	return out, nil
}

func nonNilPrefixes(p []netip.Prefix) []netip.Prefix {
	if p == nil {
		return []netip.Prefix{}
	}
	return p
}

// SetCabinetDriver points the cabinet with the given code at a driver ("sim" or "hl7") and
// address, audited (cabinet_driver_set, details before and after, by the system: dev mode
// points its demo cabinets at its simulator) in the same transaction. It returns ErrNotFound
// for an unknown code and ErrInvalid for a bad driver or an hl7 driver without an address.
func (s *Store) SetCabinetDriver(ctx context.Context, code, driver, address string) (Cabinet, error) {
	var out Cabinet
	err := s.inTx(ctx, func(q *gen.Queries) error {
		row, err := q.LockCabinetByCode(ctx, code)
		if err != nil {
			return err
		}
		before := cabinetFromGen(row)
		row, err = q.SetCabinetDriver(ctx, gen.SetCabinetDriverParams{Code: code, Driver: driver, Address: address})
		if err != nil {
			return err
		}
		out = cabinetFromGen(row)
		return auditChange(ctx, q, systemActor, ActionCabinetDriverSet, cabinetSnapshot(before), cabinetSnapshot(out), nil)
	})
	if err != nil {
		return Cabinet{}, wrap("set cabinet driver", err)
	}
	return out, nil
}
