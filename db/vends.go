package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// applyVend consumes, in the caller's transaction, what a vend dispensed for a request: each
// line first from the request's reservation of that medication, what it took beyond (an over
// vend, or a drug the request did not order) from the pocket's unreserved stock, as far as
// the ledger holds it. Every unit taken is a dispensed movement of the request. What differs
// from the order is returned as discrepancies to record once the stock rows are done with.
func applyVend(ctx context.Context, q *gen.Queries, requestID string, v pyxis.Vend) ([]pyxis.ConsumedLine, []newDiscrepancy, error) {
	lines, err := mergeLines(v.Lines)
	if err != nil {
		return nil, nil, err
	}
	rows, err := q.ListReservations(ctx, requestID)
	if err != nil {
		return nil, nil, err
	}
	held := make(map[int64]gen.ListReservationsRow, len(rows))
	for _, r := range rows {
		held[r.MedicationID] = r
	}
	var (
		consumed []pyxis.ConsumedLine
		found    []newDiscrepancy
	)
	for _, l := range lines {
		r, ordered := held[l.MedicationID]
		remaining := int32(0)
		if ordered && r.State == gen.ReservationStateHeld {
			remaining = r.Quantity - r.Consumed
		}
		take := min(l.Quantity, remaining)
		left := pyxis.ConsumedLine{MedicationID: l.MedicationID}
		if take > 0 {
			if err := q.ConsumeReservation(ctx, gen.ConsumeReservationParams{RequestID: requestID, MedicationID: l.MedicationID, Quantity: take}); err != nil {
				return nil, nil, err
			}
			lvl, err := q.ConsumeStock(ctx, gen.ConsumeStockParams{CabinetID: v.CabinetID, MedicationID: l.MedicationID, Quantity: take})
			if err != nil {
				return nil, nil, err
			}
			if err := vendMovement(ctx, q, requestID, v, l.MedicationID, take, lvl.OnHand, false); err != nil {
				return nil, nil, err
			}
			left = pyxis.ConsumedLine{MedicationID: l.MedicationID, Quantity: take, OnHand: lvl.OnHand, ParLevel: lvl.ParLevel}
		}
		if extra := l.Quantity - take; extra > 0 {
			kind := DiscrepancyWrongMedication
			if ordered {
				kind = DiscrepancyOverVend
			}
			free, lvl, err := takeFree(ctx, q, v.CabinetID, l.MedicationID, extra)
			if err != nil {
				return nil, nil, err
			}
			if free > 0 {
				if err := vendMovement(ctx, q, requestID, v, l.MedicationID, free, lvl.OnHand, true); err != nil {
					return nil, nil, err
				}
				left = pyxis.ConsumedLine{MedicationID: l.MedicationID, Quantity: take + free, OnHand: lvl.OnHand, ParLevel: lvl.ParLevel}
			}
			actual := l.Quantity
			found = append(found, newDiscrepancy{
				cabinetID: v.CabinetID, medicationID: l.MedicationID, kind: kind, expected: &remaining, actual: &actual,
				details: map[string]any{
					"request_id": requestID, "report_id": v.ReportID, "source": v.Source,
					"taken_beyond_order": free, "not_in_ledger": extra - free,
					// Who reported the vend does not resolve what it opened (checkResolver).
					"reported_by": []string{v.Actor.ID},
				},
				actor: v.Actor, at: v.At,
			})
		}
		if left.Quantity > 0 {
			consumed = append(consumed, left)
		}
	}
	return consumed, found, nil
}

// takeFree takes up to n units of a pocket's unreserved stock and returns how many it took
// and the levels after; a pocket the cabinet does not stock gives nothing.
func takeFree(ctx context.Context, q *gen.Queries, cabinetID, medicationID int64, n int32) (int32, gen.TakeFreeStockRow, error) {
	avail, err := q.AvailableStock(ctx, gen.AvailableStockParams{CabinetID: cabinetID, MedicationID: medicationID})
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && avail <= 0) {
		return 0, gen.TakeFreeStockRow{}, nil
	}
	if err != nil {
		return 0, gen.TakeFreeStockRow{}, err
	}
	take := min(n, avail)
	lvl, err := q.TakeFreeStock(ctx, gen.TakeFreeStockParams{CabinetID: cabinetID, MedicationID: medicationID, Quantity: take})
	if err != nil {
		return 0, gen.TakeFreeStockRow{}, fmt.Errorf("take %d unreserved units of medication %d: %w", take, medicationID, err)
	}
	return take, lvl, nil
}

// vendMovement writes a dispensed movement of a request.
func vendMovement(ctx context.Context, q *gen.Queries, requestID string, v pyxis.Vend, medicationID int64, n, onHandAfter int32, beyondOrder bool) error {
	details := map[string]any{"report_id": v.ReportID}
	if beyondOrder {
		details["beyond_order"] = true
	}
	_, err := insertMovement(ctx, q, movement{
		cabinetID: v.CabinetID, medicationID: medicationID, kind: MovementDispensed,
		delta: -n, onHandAfter: onHandAfter, requestID: requestID,
		actor: v.Actor, source: v.Source, at: v.At, details: details,
	})
	return err
}

// shortVends returns a short_vend discrepancy for every line of a request that vends took
// some of but not all, once the request stops waiting at the cabinet (rows are its
// reservations as they were before the release). A request nothing was vended for has none:
// it simply expired or was cancelled. reporters are who reported its vends: none of them
// resolves the discrepancy.
func shortVends(requestID string, rows []gen.ListReservationsRow, reporters []string, by pyxis.Actor, at time.Time) []newDiscrepancy {
	vended := false
	for _, r := range rows {
		vended = vended || r.Consumed > 0
	}
	if !vended {
		return nil
	}
	var out []newDiscrepancy
	for _, r := range rows {
		if r.State != gen.ReservationStateHeld || r.Consumed >= r.Quantity {
			continue
		}
		ordered, got := r.Quantity, r.Consumed
		out = append(out, newDiscrepancy{
			cabinetID: r.CabinetID, medicationID: r.MedicationID, kind: DiscrepancyShortVend,
			expected: &ordered, actual: &got,
			details: map[string]any{"request_id": requestID, "released": r.Quantity - r.Consumed, "reported_by": reporters},
			actor:   by, at: at,
		})
	}
	return out
}

// RecordLateVend applies, in one transaction, a vend the cabinet reported for a request that
// is dispensed already (another report, through another door, named every line first): by
// the same rules as any vend (applyVend), against what the request still holds, which is
// nothing, so every unit opens an over_vend (or wrong_medication) discrepancy and leaves the
// ledger as a dispensed movement of the request. An over-vend thus shows whichever report
// came first. It is applied once per (cabinet, report id): a repeat returns Duplicate.
func (s *StockStore) RecordLateVend(ctx context.Context, requestID string, v pyxis.Vend) (LateVendResult, error) {
	var res LateVendResult
	err := s.inTx(ctx, func(q *gen.Queries) error {
		fresh, err := claimMessage(ctx, q, v.CabinetID, v.ReportID, "V")
		if err != nil || !fresh {
			res.Duplicate = !fresh
			return err
		}
		if err := lockRequestStock(ctx, q, requestID); err != nil {
			return err
		}
		_, found, err := applyVend(ctx, q, requestID, v)
		if err != nil {
			return err
		}
		for _, d := range found {
			rec, err := insertDiscrepancy(ctx, q, d)
			if err != nil {
				return err
			}
			res.Discrepancies = append(res.Discrepancies, rec.ID)
		}
		return audit(ctx, q, v.At, v.Actor, "late_vend_recorded", requestID, map[string]any{
			"cabinet_id": v.CabinetID, "report_id": v.ReportID, "source": v.Source, "discrepancies": res.Discrepancies,
		})
	})
	if err != nil {
		return LateVendResult{}, wrap("record late vend", err)
	}
	return res, nil
}

// LateVendResult is what RecordLateVend did.
type LateVendResult struct {
	// Duplicate is set when the report was applied before: nothing changed.
	Duplicate     bool
	Discrepancies []int64
}
