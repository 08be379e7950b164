package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// newDiscrepancy is a discrepancy to record, with who and when for its audit entry.
type newDiscrepancy struct {
	cabinetID, medicationID int64
	kind                    string
	expected, actual        *int32
	details                 map[string]any
	actor                   pyxis.Actor
	at                      time.Time
}

// insertDiscrepancy records an open discrepancy and its audit entry in the caller's transaction.
func insertDiscrepancy(ctx context.Context, q *gen.Queries, d newDiscrepancy) (*Discrepancy, error) {
	details, err := marshalDetails(d.details)
	if err != nil {
		return nil, err
	}
	id, err := q.InsertDiscrepancy(ctx, gen.InsertDiscrepancyParams{
		CabinetID:    d.cabinetID,
		MedicationID: d.medicationID,
		Kind:         gen.DiscrepancyKind(d.kind),
		Expected:     optInt4(d.expected),
		Actual:       optInt4(d.actual),
		Details:      details,
	})
	if err != nil {
		return nil, err
	}
	auditDetails := map[string]any{
		"discrepancy_id": id, "kind": d.kind, "cabinet_id": d.cabinetID, "medication_id": d.medicationID,
	}
	if d.expected != nil && d.actual != nil {
		auditDetails["expected"], auditDetails["actual"] = *d.expected, *d.actual
	}
	if err := audit(ctx, q, d.at, d.actor, "discrepancy_recorded", "", auditDetails); err != nil {
		return nil, err
	}
	row, err := q.GetDiscrepancy(ctx, id)
	if err != nil {
		return nil, err
	}
	out, err := discrepancyFromGen(row)
	return &out, err
}

// GetDiscrepancy returns one discrepancy, or ErrNotFound.
func (s *StockStore) GetDiscrepancy(ctx context.Context, id int64) (Discrepancy, error) {
	row, err := s.q.GetDiscrepancy(ctx, id)
	if err != nil {
		return Discrepancy{}, wrap("get discrepancy", err)
	}
	d, err := discrepancyFromGen(row)
	return d, wrap("get discrepancy", err)
}

// ListDiscrepancies returns discrepancies newest first, filtered by status ("open",
// "resolved" or "" for both) and cabinet. An unknown status gives ErrInvalid.
func (s *StockStore) ListDiscrepancies(ctx context.Context, f StockFilter) ([]Discrepancy, error) {
	params := gen.ListDiscrepanciesParams{MaxRows: stockLimit(f.Limit)}
	if f.Status != "" {
		params.Status = gen.NullDiscrepancyStatus{DiscrepancyStatus: gen.DiscrepancyStatus(f.Status), Valid: true}
		if !params.Status.DiscrepancyStatus.Valid() {
			return nil, wrap("list discrepancies", invalidf("unknown discrepancy status %q", f.Status))
		}
	}
	if f.CabinetID != 0 {
		params.CabinetID.Int64, params.CabinetID.Valid = f.CabinetID, true
	}
	rows, err := s.q.ListDiscrepancies(ctx, params)
	if err != nil {
		return nil, wrap("list discrepancies", err)
	}
	out := make([]Discrepancy, len(rows))
	for i, r := range rows {
		if out[i], err = discrepancyFromGen(gen.GetDiscrepancyRow(r)); err != nil {
			return nil, wrap("list discrepancies", err)
		}
	}
	return out, nil
}

// ResolveDiscrepancy closes an open discrepancy with the pharmacist's reason, in one
// transaction with its audit entry. With SetOnHand, on_hand is set to that level too, written
// to the ledger as an adjusted movement of the difference (none when it is already there).
// A discrepancy of a controlled medication (by the catalogue, or an unwitnessed controlled
// waste) is resolved by someone other than who counted, or who wasted, and a vend
// discrepancy by someone other than who reported the vend: the one whose act is in question
// does not close the question.
//
// It returns ErrNotFound for an unknown discrepancy, ErrNotOpen for one already resolved,
// ErrSamePerson when the resolver is who counted or wasted a controlled medication,
// ErrInvalid for an empty reason or a level outside 0 to MaxOnHand, and
// ErrStockBelowReserved when the level is below what is reserved; then nothing changes.
func (s *StockStore) ResolveDiscrepancy(ctx context.Context, id int64, r Resolution) (Discrepancy, error) {
	switch {
	case strings.TrimSpace(r.Reason) == "":
		return Discrepancy{}, wrap("resolve discrepancy", invalidf("a resolution needs a reason"))
	case r.SetOnHand != nil && (*r.SetOnHand < 0 || *r.SetOnHand > MaxOnHand):
		return Discrepancy{}, wrap("resolve discrepancy", invalidf("on hand must be between 0 and %d, got %d", MaxOnHand, *r.SetOnHand))
	}
	err := s.inTx(ctx, func(q *gen.Queries) error {
		if err := checkResolver(ctx, q, id, r.Actor); err != nil {
			return err
		}
		pocket, err := q.ResolveDiscrepancy(ctx, gen.ResolveDiscrepancyParams{
			ResolvedBy: optText(r.Actor.ID), Resolution: optText(r.Reason), ID: id,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			if _, err := q.GetDiscrepancy(ctx, id); err != nil {
				return err
			}
			return fmt.Errorf("%w: discrepancy %d is resolved already", pyxis.ErrNotOpen, id)
		}
		if err != nil {
			return err
		}
		details := map[string]any{"discrepancy_id": id, "reason": r.Reason}
		if r.SetOnHand != nil {
			level, err := q.LockStock(ctx, gen.LockStockParams{CabinetID: pocket.CabinetID, MedicationID: pocket.MedicationID})
			if err != nil {
				return err
			}
			details["on_hand_before"], details["on_hand"] = level.OnHand, *r.SetOnHand
			if delta := *r.SetOnHand - level.OnHand; delta != 0 {
				m, err := moveStock(ctx, q, movement{
					cabinetID: pocket.CabinetID, medicationID: pocket.MedicationID, kind: MovementAdjusted,
					delta: delta, source: SourceAPI, actor: r.Actor,
					details: map[string]any{"discrepancy_id": id, "reason": r.Reason},
				})
				if err != nil {
					return err
				}
				details["movement_id"] = m.ID
			}
		}
		return audit(ctx, q, time.Time{}, r.Actor, "discrepancy_resolved", "", details)
	})
	if err != nil {
		return Discrepancy{}, wrap("resolve discrepancy", err)
	}
	return s.GetDiscrepancy(ctx, id)
}

// checkResolver refuses the resolution of an open discrepancy of a controlled medication by
// the person who counted it (count_mismatch) or wasted it (unwitnessed_controlled_waste), and
// of any vend discrepancy (over, short, wrong medication) by who reported the vend.
func checkResolver(ctx context.Context, q *gen.Queries, id int64, resolver pyxis.Actor) error {
	row, err := q.GetDiscrepancy(ctx, id)
	if err != nil {
		return err
	}
	d, err := discrepancyFromGen(row)
	if err != nil || d.Status != DiscrepancyOpen {
		return err // a resolved one is refused as such by the update
	}
	switch d.Kind {
	case DiscrepancyOverVend, DiscrepancyShortVend, DiscrepancyWrongMedication:
		// Whoever reported the vend (a nurse through the API, say) does not close the
		// question their report opened, controlled or not.
		reporters, _ := d.Details["reported_by"].([]any)
		for _, r := range reporters {
			if by, _ := r.(string); by != "" && by == resolver.ID {
				return fmt.Errorf("%w: %s reported the vend; someone else resolves discrepancy %d", pyxis.ErrSamePerson, by, id)
			}
		}
		return nil
	}
	controlled := d.Kind == DiscrepancyUnwitnessedControlledWaste
	if !controlled {
		med, err := q.GetMedication(ctx, d.MedicationID)
		if err != nil {
			return err
		}
		controlled = med.Controlled.Bool
	}
	who, what := "counted_by", "counted"
	if d.Kind == DiscrepancyUnwitnessedControlledWaste {
		who, what = "wasted_by", "wasted"
	}
	if by, _ := d.Details[who].(string); controlled && by != "" && by == resolver.ID {
		return fmt.Errorf("%w: %s %s this controlled medication; someone else resolves discrepancy %d", pyxis.ErrSamePerson, by, what, id)
	}
	return nil
}

func discrepancyFromGen(r gen.GetDiscrepancyRow) (Discrepancy, error) {
	details := map[string]any{}
	if err := json.Unmarshal(r.Details, &details); err != nil {
		return Discrepancy{}, err
	}
	return Discrepancy{
		ID:             r.ID,
		CabinetID:      r.CabinetID,
		CabinetCode:    r.CabinetCode,
		MedicationID:   r.MedicationID,
		MedicationCode: r.MedicationCode,
		MedicationName: r.MedicationName,
		Kind:           string(r.Kind),
		Expected:       int4Ptr(r.Expected),
		Actual:         int4Ptr(r.Actual),
		Details:        details,
		Status:         string(r.Status),
		CreatedAt:      r.CreatedAt,
		ResolvedAt:     r.ResolvedAt,
		ResolvedBy:     r.ResolvedBy.String,
		Resolution:     r.Resolution.String,
	}, nil
}

// stockLimit applies the default and the cap of StockFilter.Limit.
func stockLimit(n int) int32 {
	switch {
	case n <= 0:
		return 100
	case n > 500:
		return 500
	}
	return int32(n)
}
