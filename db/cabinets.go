package db

import (
	"context"
	"net/netip"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// CreateCabinet registers a cabinet, audited (cabinet_created, details before null and after
// the cabinet, by c.By) in the same transaction; an empty Status means online. It returns
// ErrConflict when the code is taken and ErrInvalid for an unknown status, no driver, or an
// empty code or name.
func (s *CabinetStore) CreateCabinet(ctx context.Context, c NewCabinet) (pyxis.Cabinet, error) {
	status := gen.CabinetStatusOnline
	if c.Status != "" {
		status = gen.CabinetStatus(c.Status)
	}
	if !status.Valid() {
		return pyxis.Cabinet{}, wrap("create cabinet", invalidf("unknown cabinet status %q", c.Status))
	}
	if c.Driver == "" {
		return pyxis.Cabinet{}, wrap("create cabinet", invalidf("cabinet %q needs its driver: hl7 or sim", c.Code))
	}
	var out pyxis.Cabinet
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
		return pyxis.Cabinet{}, wrap("create cabinet", err)
	}
	return out, nil
}

// ListCabinets returns every cabinet ordered by code.
func (s *CabinetStore) ListCabinets(ctx context.Context) ([]pyxis.Cabinet, error) {
	rows, err := s.q.ListCabinets(ctx)
	if err != nil {
		return nil, wrap("list cabinets", err)
	}
	out := make([]pyxis.Cabinet, len(rows))
	for i, r := range rows {
		out[i] = cabinetFromGen(r)
	}
	return out, nil
}

// GetCabinet returns the cabinet with the given id, or ErrNotFound.
func (s *CabinetStore) GetCabinet(ctx context.Context, id int64) (pyxis.Cabinet, error) {
	row, err := s.q.GetCabinet(ctx, id)
	if err != nil {
		return pyxis.Cabinet{}, wrap("get cabinet", err)
	}
	return cabinetFromGen(row), nil
}

// GetCabinetByCode returns the cabinet with the given code, or ErrNotFound.
func (s *CabinetStore) GetCabinetByCode(ctx context.Context, code string) (pyxis.Cabinet, error) {
	row, err := s.q.GetCabinetByCode(ctx, code)
	if err != nil {
		return pyxis.Cabinet{}, wrap("get cabinet by code", err)
	}
	return cabinetFromGen(row), nil
}

// cabinetFromGen converts a generated row to the domain type.
func cabinetFromGen(r gen.Cabinet) pyxis.Cabinet {
	return pyxis.Cabinet{
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
func (s *CabinetStore) SetCabinetReportSources(ctx context.Context, id int64, sources []netip.Prefix, by pyxis.Actor) (pyxis.Cabinet, error) {
	var out pyxis.Cabinet
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
		return pyxis.Cabinet{}, wrap("set cabinet report sources", err)
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
func (s *CabinetStore) SetCabinetDriver(ctx context.Context, code, driver, address string) (pyxis.Cabinet, error) {
	var out pyxis.Cabinet
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
		return auditChange(ctx, q, pyxis.System, ActionCabinetDriverSet, cabinetSnapshot(before), cabinetSnapshot(out), nil)
	})
	if err != nil {
		return pyxis.Cabinet{}, wrap("set cabinet driver", err)
	}
	return out, nil
}

// ItemMasterCabinets returns the HL7 cabinets that stock a medication, whose item masters
// must hear of its changes.
func (s *CabinetStore) ItemMasterCabinets(ctx context.Context, medicationID int64) ([]pyxis.Cabinet, error) {
	rows, err := s.q.ListItemMasterCabinets(ctx, medicationID)
	if err != nil {
		return nil, wrap("item master cabinets", err)
	}
	out := make([]pyxis.Cabinet, len(rows))
	for i, r := range rows {
		out[i] = cabinetFromGen(r)
	}
	return out, nil
}
