package db

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis/db/gen"
)

// pocketKinds are the movements RecordPocketChange applies, with the sign of each.
var pocketKinds = map[string]int32{
	MovementLoaded:   +1,
	MovementReturned: +1,
	MovementWasted:   -1,
	MovementUnloaded: -1,
}

// sources are the values of stock_movements.source.
var sources = []string{SourceAPI, SourceCabinet, SourceWorkflow}

// RecordPocketChange applies a load, return, waste or unload to a pocket, in one transaction:
// on_hand moves by the quantity, the movement is written to the ledger, and the change is
// audited. A waste of a controlled medication (by the catalogue, or by the class the cabinet
// reports) without a witness also records an unwitnessed_controlled_waste discrepancy.
//
// With a CabinetMessageID the change is applied once per cabinet: a repeat returns
// Duplicate and changes nothing. A change that would leave on_hand below what is reserved
// returns ErrStockBelowReserved; a negative change to a pocket the cabinet does not stock,
// ErrNotFound; an unknown kind or a non-positive quantity, ErrInvalid.
func (s *StockStore) RecordPocketChange(ctx context.Context, c PocketChange) (PocketChangeResult, error) {
	_, ok := pocketKinds[c.Kind]
	switch {
	case !ok:
		return PocketChangeResult{}, wrap("record pocket change", invalidf("unknown pocket movement %q", c.Kind))
	case c.Quantity <= 0:
		return PocketChangeResult{}, wrap("record pocket change", invalidf("quantity must be positive, got %d", c.Quantity))
	case !slices.Contains(sources, c.Source):
		return PocketChangeResult{}, wrap("record pocket change", invalidf("unknown source %q", c.Source))
	}
	var res PocketChangeResult
	err := s.inTx(ctx, func(q *gen.Queries) error {
		fresh, err := claimMessage(ctx, q, c.CabinetID, c.CabinetMessageID, c.Kind)
		if err != nil || !fresh {
			res.Duplicate = !fresh
			return err
		}
		res, err = applyPocketChange(ctx, q, c)
		return err
	})
	if err != nil {
		return PocketChangeResult{}, wrap("record pocket change", err)
	}
	return res, nil
}

// RecordCount records a count of a pocket, in one transaction: a counted movement (quantity 0)
// in the ledger, an audit entry, and, when the count differs from on_hand, a count_mismatch
// discrepancy (expected = on_hand, actual = the count). on_hand itself is left as it is: a
// pharmacist resolves the discrepancy, and may then set on_hand to what is really there.
//
// With a CabinetMessageID the count is recorded once per cabinet: a repeat returns Duplicate.
// A pocket the cabinet does not stock gives ErrNotFound; a negative count, ErrInvalid.
func (s *StockStore) RecordCount(ctx context.Context, c Count) (CountResult, error) {
	switch {
	case c.Counted < 0:
		return CountResult{}, wrap("record count", invalidf("a count must not be negative, got %d", c.Counted))
	case !slices.Contains(sources, c.Source):
		return CountResult{}, wrap("record count", invalidf("unknown source %q", c.Source))
	}
	var res CountResult
	err := s.inTx(ctx, func(q *gen.Queries) error {
		fresh, err := claimMessage(ctx, q, c.CabinetID, c.CabinetMessageID, "C")
		if err != nil || !fresh {
			res.Duplicate = !fresh
			return err
		}
		level, err := q.LockStock(ctx, gen.LockStockParams{CabinetID: c.CabinetID, MedicationID: c.MedicationID})
		if errors.Is(err, pgx.ErrNoRows) {
			return notFoundf("medication %d is not stocked in cabinet %d", c.MedicationID, c.CabinetID)
		}
		if err != nil {
			return err
		}
		res.OnHand = level.OnHand
		details := map[string]any{"counted": c.Counted, "expected": level.OnHand}
		for k, v := range c.Details {
			details[k] = v
		}
		m, err := insertMovement(ctx, q, movement{
			cabinetID: c.CabinetID, medicationID: c.MedicationID, kind: MovementCounted,
			onHandAfter: level.OnHand, source: c.Source, messageID: c.CabinetMessageID,
			actor: c.Actor, at: c.At, details: details,
		})
		if err != nil {
			return err
		}
		if c.Counted != level.OnHand {
			details := map[string]any{"counted_by": c.Actor.ID, "movement_id": m.ID, "source": c.Source}
			for k, v := range c.Details {
				details[k] = v
			}
			res.Discrepancy, err = insertDiscrepancy(ctx, q, newDiscrepancy{
				cabinetID: c.CabinetID, medicationID: c.MedicationID, kind: DiscrepancyCountMismatch,
				expected: &res.OnHand, actual: &c.Counted, details: details, actor: c.Actor, at: m.At,
			})
			if err != nil {
				return err
			}
		}
		auditDetails := map[string]any{
			"cabinet_id": c.CabinetID, "medication_id": c.MedicationID, "counted": c.Counted,
			"on_hand": level.OnHand, "movement_id": m.ID, "source": c.Source,
		}
		if res.Discrepancy != nil {
			auditDetails["discrepancy_id"] = res.Discrepancy.ID
		}
		return audit(ctx, q, m.At, c.Actor, "stock_counted", "", auditDetails)
	})
	if err != nil {
		return CountResult{}, wrap("record count", err)
	}
	return res, nil
}

// applyPocketChange applies c in the caller's transaction (see RecordPocketChange).
func applyPocketChange(ctx context.Context, q *gen.Queries, c PocketChange) (PocketChangeResult, error) {
	var res PocketChangeResult
	sign := pocketKinds[c.Kind]
	med, err := q.GetMedication(ctx, c.MedicationID)
	if errors.Is(err, pgx.ErrNoRows) {
		return res, notFoundf("medication %d", c.MedicationID)
	}
	if err != nil {
		return res, err
	}
	res.Movement, err = moveStock(ctx, q, movement{
		cabinetID: c.CabinetID, medicationID: c.MedicationID, kind: c.Kind, delta: sign * c.Quantity,
		requestID: c.RequestID, witness: c.Witness, source: c.Source, messageID: c.CabinetMessageID,
		actor: c.Actor, at: c.At, details: c.Details,
	})
	if err != nil {
		return res, err
	}
	details := map[string]any{
		"cabinet_id": c.CabinetID, "medication_id": c.MedicationID, "quantity": c.Quantity,
		"on_hand": res.Movement.OnHandAfter, "movement_id": res.Movement.ID, "source": c.Source,
	}
	if c.Witness != "" {
		details["witness"] = c.Witness
	}
	if c.CabinetMessageID != "" {
		details["cabinet_message_id"] = c.CabinetMessageID
	}
	if err := audit(ctx, q, res.Movement.At, c.Actor, "stock_"+c.Kind, c.RequestID, details); err != nil {
		return res, err
	}
	controlled := med.Controlled.Bool || strings.TrimSpace(c.ControlledClass) != ""
	if c.Kind != MovementWasted || !controlled || strings.TrimSpace(c.Witness) != "" {
		return res, nil
	}
	d := newDiscrepancy{
		cabinetID: c.CabinetID, medicationID: c.MedicationID, kind: DiscrepancyUnwitnessedControlledWaste,
		details: map[string]any{
			"quantity": c.Quantity, "wasted_by": c.Actor.ID, "movement_id": res.Movement.ID,
			"controlled_class": c.ControlledClass, "request_id": c.RequestID, "source": c.Source,
		},
		actor: c.Actor, at: res.Movement.At,
	}
	res.Discrepancy, err = insertDiscrepancy(ctx, q, d)
	return res, err
}
