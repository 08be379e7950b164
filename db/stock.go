package db

import (
	"context"
	"fmt"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// ListStock returns the stock of a cabinet with each medication's code and name, ordered by
// medication code. A cabinet without stock, or an unknown one, gives an empty slice.
func (s *StockStore) ListStock(ctx context.Context, cabinetID int64) ([]StockRow, error) {
	rows, err := s.q.ListStock(ctx, cabinetID)
	if err != nil {
		return nil, wrap("list stock", err)
	}
	out := make([]StockRow, len(rows))
	for i, r := range rows {
		out[i] = StockRow{
			CabinetID:      r.CabinetID,
			MedicationID:   r.MedicationID,
			MedicationCode: r.MedicationCode,
			MedicationName: r.MedicationName,
			OnHand:         r.OnHand,
			Reserved:       r.Reserved,
			ParLevel:       r.ParLevel,
			UpdatedAt:      r.UpdatedAt,
		}
	}
	return out, nil
}

// SetStock records a count of a medication in a cabinet: it sets on_hand and par_level,
// creating the row if needed, and leaves reserved as it is. The change and who made it are
// audited (stock_set, details before and after), and written to the stock ledger (an adjusted movement of the difference, or a
// counted one when on_hand stays), in the same transaction, so a stock level never changes
// without its audit entry and its movement.
//
// The on_hand of a controlled medication is not SetStock's to change: it moves only through
// counts (RecordCount, then ResolveDiscrepancy with a level) and loads (RecordPocketChange).
// SetStock may change its par level, and create its pocket empty.
//
// It returns ErrNotFound when the cabinet or the medication does not exist,
// ErrStockBelowReserved when onHand is less than what is reserved, ErrControlledStock when
// onHand would change the level of a controlled medication, and ErrInvalid for negative
// numbers or numbers above MaxOnHand.
func (s *StockStore) SetStock(ctx context.Context, cabinetID, medicationID int64, onHand, parLevel int32, by pyxis.Actor) (StockRow, error) {
	if onHand < 0 || parLevel < 0 || onHand > MaxOnHand || parLevel > MaxOnHand {
		return StockRow{}, wrap("set stock",
			invalidf("on hand %d and par level %d must be between 0 and %d", onHand, parLevel, MaxOnHand))
	}
	var out StockRow
	err := s.inTx(ctx, func(q *gen.Queries) error {
		key := gen.EnsureStockRowParams{CabinetID: cabinetID, MedicationID: medicationID}
		created, err := q.EnsureStockRow(ctx, key)
		if err != nil {
			return err
		}
		before, err := q.LockStock(ctx, gen.LockStockParams(key))
		if err != nil {
			return err
		}
		if onHand != before.OnHand {
			med, err := q.GetMedication(ctx, medicationID)
			if err != nil {
				return err
			}
			if med.Controlled.Bool {
				return fmt.Errorf("%w: %s (list %s) holds %d in cabinet %d, not %d",
					pyxis.ErrControlledStock, med.Code, med.ControlledList.String, before.OnHand, cabinetID, onHand)
			}
		}
		r, err := q.UpsertStock(ctx, gen.UpsertStockParams{
			CabinetID:    cabinetID,
			MedicationID: medicationID,
			OnHand:       onHand,
			ParLevel:     parLevel,
		})
		if err != nil {
			return err
		}
		out = StockRow{
			CabinetID:      r.CabinetID,
			MedicationID:   r.MedicationID,
			MedicationCode: r.MedicationCode,
			MedicationName: r.MedicationName,
			OnHand:         r.OnHand,
			Reserved:       r.Reserved,
			ParLevel:       r.ParLevel,
			UpdatedAt:      r.UpdatedAt,
			New:            created == 1,
		}
		kind := MovementAdjusted
		if onHand == before.OnHand {
			kind = MovementCounted
		}
		_, err = insertMovement(ctx, q, movement{
			cabinetID: cabinetID, medicationID: medicationID, kind: kind,
			delta: onHand - before.OnHand, onHandAfter: onHand, actor: by, source: SourceAPI,
			at: out.UpdatedAt, details: map[string]any{"par_level": parLevel},
		})
		if err != nil {
			return err
		}
		return appendAudit(ctx, q, auditRecord{
			at: out.UpdatedAt, actor: by, action: "stock_set",
			details: map[string]any{
				"cabinet_id": cabinetID, "medication_id": medicationID,
				// A pocket that did not exist is recorded as an empty one.
				"before": map[string]any{"on_hand": before.OnHand, "par_level": before.ParLevel},
				"after":  map[string]any{"on_hand": out.OnHand, "par_level": out.ParLevel},
			},
		})
	})
	if err != nil {
		return StockRow{}, wrap("set stock", err)
	}
	return out, nil
}

// HeldReservations returns the sum of the held reservations of a medication in a cabinet.
// The ledger keeps it equal to cabinet_stock.reserved; tests use it to check that invariant.
func (s *StockStore) HeldReservations(ctx context.Context, cabinetID, medicationID int64) (int32, error) {
	held, err := s.q.HeldReservations(ctx, gen.HeldReservationsParams{
		CabinetID:    cabinetID,
		MedicationID: medicationID,
	})
	if err != nil {
		return 0, wrap("held reservations", err)
	}
	return held, nil
}
