package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// A load of a controlled medication takes two people who each sign in: who loads records it
// (pending_witness) and nothing moves yet; a second, active user confirms it with their own
// token, and only then are on_hand and the register changed, with that user as the witness.

// Statuses of a witnessed load.
const (
	LoadPendingWitness = "pending_witness"
	LoadWitnessed      = "witnessed"
)

// Load is a load of a controlled medication that needs, or had, a witness.
type Load struct {
	ID           int64
	CabinetID    int64
	MedicationID int64
	Quantity     int32
	LoadedBy     pyxis.Actor
	Status       string
	CreatedAt    time.Time
	// WitnessID, WitnessedAt and Movement are set once the load is witnessed.
	WitnessID   string
	WitnessedAt *time.Time
	Movement    *Movement
}

// RecordPendingLoad records a load that waits for its witness, audited (stock_load_pending);
// stock and ledger do not change. ErrInvalid for a quantity outside 1 to MaxOnHand, ErrNotFound
// for an unknown cabinet or medication.
func (s *StockStore) RecordPendingLoad(ctx context.Context, cabinetID, medicationID int64, quantity int32, by pyxis.Actor) (Load, error) {
	if quantity <= 0 || quantity > MaxOnHand {
		return Load{}, wrap("record pending load", invalidf("quantity must be between 1 and %d, got %d", MaxOnHand, quantity))
	}
	var out Load
	err := s.inTx(ctx, func(q *gen.Queries) error {
		row, err := q.InsertPendingLoad(ctx, gen.InsertPendingLoadParams{
			CabinetID: cabinetID, MedicationID: medicationID, Quantity: quantity, LoadedBy: by.ID, LoadedRole: by.Role,
		})
		if err != nil {
			return err
		}
		out = loadFromGen(row, nil)
		return audit(ctx, q, row.CreatedAt, by, "stock_load_pending", "", map[string]any{
			"load_id": row.ID, "cabinet_id": cabinetID, "medication_id": medicationID, "quantity": quantity,
		})
	})
	if err != nil {
		return Load{}, wrap("record pending load", err)
	}
	return out, nil
}

// GetLoad returns one load that needed a witness, or ErrNotFound.
func (s *StockStore) GetLoad(ctx context.Context, id int64) (Load, error) {
	row, err := s.q.GetPendingLoad(ctx, id)
	if err != nil {
		return Load{}, wrap("get load", err)
	}
	return loadFromGen(row, nil), nil
}

// WitnessLoad confirms a pending load as its witness, in one transaction: the loaded movement
// (with the witness's user id), on_hand raised, the load marked witnessed, audited. It returns
// ErrNotFound for an unknown load, ErrNotOpen for one witnessed already, ErrSamePerson when
// the witness is who loaded, and the errors of a load (ErrInvalid past MaxOnHand).
func (s *StockStore) WitnessLoad(ctx context.Context, id int64, witness pyxis.Actor) (Load, error) {
	var out Load
	err := s.inTx(ctx, func(q *gen.Queries) error {
		row, err := q.LockPendingLoad(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFoundf("load %d", id)
		}
		if err != nil {
			return err
		}
		switch {
		case row.Status != gen.LoadStatusPendingWitness:
			return fmt.Errorf("%w: load %d is witnessed already", pyxis.ErrNotOpen, id)
		case row.LoadedBy == witness.ID:
			return fmt.Errorf("%w: %s loaded it; someone else witnesses load %d", pyxis.ErrSamePerson, witness.ID, id)
		}
		res, err := applyPocketChange(ctx, q, PocketChange{
			CabinetID: row.CabinetID, MedicationID: row.MedicationID, Kind: MovementLoaded, Quantity: row.Quantity,
			Actor: pyxis.Actor{ID: row.LoadedBy, Role: row.LoadedRole}, Witness: witness.ID, Source: SourceAPI,
			Details: map[string]any{"load_id": id},
		})
		if err != nil {
			return err
		}
		done, err := q.WitnessPendingLoad(ctx, gen.WitnessPendingLoadParams{
			ID: id, WitnessID: optText(witness.ID), MovementID: pgtype.Int8{Int64: res.Movement.ID, Valid: true},
		})
		if err != nil {
			return err
		}
		out = loadFromGen(done, &res.Movement)
		return audit(ctx, q, time.Time{}, witness, "stock_load_witnessed", "", map[string]any{
			"load_id": id, "movement_id": res.Movement.ID, "loaded_by": row.LoadedBy,
		})
	})
	if err != nil {
		return Load{}, wrap("witness load", err)
	}
	return out, nil
}

func loadFromGen(r gen.PendingLoad, m *Movement) Load {
	return Load{
		ID: r.ID, CabinetID: r.CabinetID, MedicationID: r.MedicationID, Quantity: r.Quantity,
		LoadedBy: pyxis.Actor{ID: r.LoadedBy, Role: r.LoadedRole}, Status: string(r.Status), CreatedAt: r.CreatedAt,
		WitnessID: r.WitnessID.String, WitnessedAt: r.WitnessedAt, Movement: m,
	}
}
