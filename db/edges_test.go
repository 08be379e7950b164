package db_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// TestCabinetDriverHasNoDefault: migration 0007 drops the column default 'sim'; a cabinet
// registered before it keeps its driver, and one registered after must name one.
func TestCabinetDriverHasNoDefault(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	pool := bareDatabase(t)

	later := migrationsFrom(t, "0007")
	_, err := pool.Exec(ctx, "CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
	require.NoError(t, err)
	for _, v := range later {
		_, err := pool.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", v)
		require.NoError(t, err)
	}
	require.NoError(t, db.Migrate(ctx, pool))
	_, err = pool.Exec(ctx, "INSERT INTO cabinets (code, name) VALUES ('OLD-1', 'registered before 0007')")
	require.NoError(t, err, "before 0007 a cabinet without a driver got 'sim'")
	_, err = pool.Exec(ctx, "DELETE FROM schema_migrations WHERE version = ANY($1)", later)
	require.NoError(t, err)
	require.NoError(t, db.Migrate(ctx, pool))

	s := db.NewStore(pool)
	old, err := s.GetCabinetByCode(ctx, "OLD-1")
	require.NoError(t, err)
	assert.Equal(t, "sim", old.Driver, "existing rows keep their driver")

	_, err = pool.Exec(ctx, "INSERT INTO cabinets (code, name) VALUES ('NEW-1', 'after 0007')")
	require.ErrorContains(t, err, "driver", "no default any more")
	_, err = s.CreateCabinet(ctx, db.NewCabinet{Code: "NEW-2", Name: "no driver"})
	require.ErrorIs(t, err, pyxis.ErrInvalid)
	assert.ErrorContains(t, err, "needs its driver")
	_, err = s.GetCabinetByCode(ctx, "NEW-2")
	assert.ErrorIs(t, err, pyxis.ErrNotFound)
}

// TestControlledOnHandChangesOnlyByCountLoadOrResolution: SetStock may create a controlled
// pocket empty and change its par level, never its level; loads and resolved counts may.
func TestControlledOnHandChangesOnlyByCountLoadOrResolution(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10) // medB is controlled (A1), stocked by a witnessed load
	before := kinds(t, s, f.cabinet.ID, f.medB.ID)

	_, err := s.SetStock(ctx, f.cabinet.ID, f.medB.ID, 12, 5, testActor)
	require.ErrorIs(t, err, pyxis.ErrControlledStock)
	assert.ErrorContains(t, err, "MORPH10")
	row, err := s.SetStock(ctx, f.cabinet.ID, f.medB.ID, 10, 8, testActor)
	require.NoError(t, err, "the par level alone may change")
	assert.Equal(t, []int32{10, 8}, []int32{row.OnHand, row.ParLevel})
	assert.Equal(t, append(before, db.MovementCounted), kinds(t, s, f.cabinet.ID, f.medB.ID))

	// A new controlled pocket starts empty; SetStock cannot fill it.
	fent, err := s.CreateMedication(ctx, db.NewMedication{Code: "FENT50", Name: "Fentanyl", ControlledList: "A1"})
	require.NoError(t, err)
	_, err = s.SetStock(ctx, f.cabinet.ID, fent.ID, 5, 5, testActor)
	require.ErrorIs(t, err, pyxis.ErrControlledStock)
	rows, err := s.ListStock(ctx, f.cabinet.ID)
	require.NoError(t, err)
	assert.Len(t, rows, 2, "the refused call created no pocket")
	_, err = s.SetStock(ctx, f.cabinet.ID, fent.ID, 0, 5, testActor)
	require.NoError(t, err)
	_, err = s.RecordPocketChange(ctx, db.PocketChange{CabinetID: f.cabinet.ID, MedicationID: fent.ID, Kind: db.MovementLoaded,
		Quantity: 5, Actor: testActor, Witness: "tech-2", Source: db.SourceAPI})
	require.NoError(t, err)
	assert.Equal(t, int32(5), requireLedger(t, s, f.cabinet.ID, fent.ID).OnHand)

	// A count that differs is resolved by someone other than who counted.
	res, err := s.RecordCount(ctx, db.Count{CabinetID: f.cabinet.ID, MedicationID: fent.ID, Counted: 4, Actor: pharmacist, Source: db.SourceAPI})
	require.NoError(t, err)
	require.NotNil(t, res.Discrepancy)
	four := int32(4)
	_, err = s.ResolveDiscrepancy(ctx, res.Discrepancy.ID, db.Resolution{Reason: "recounted", SetOnHand: &four, Actor: pharmacist})
	require.ErrorIs(t, err, pyxis.ErrSamePerson)
	got, err := s.GetDiscrepancy(ctx, res.Discrepancy.ID)
	require.NoError(t, err)
	assert.Equal(t, db.DiscrepancyOpen, got.Status, "a refused resolution changes nothing")
	assert.Equal(t, int32(5), requireLedger(t, s, f.cabinet.ID, fent.ID).OnHand)
	other := pyxis.Actor{ID: "pharm-other", Role: "pharmacist"}
	got, err = s.ResolveDiscrepancy(ctx, res.Discrepancy.ID, db.Resolution{Reason: "recounted", SetOnHand: &four, Actor: other})
	require.NoError(t, err)
	assert.Equal(t, "pharm-other", got.ResolvedBy)
	assert.Equal(t, int32(4), requireLedger(t, s, f.cabinet.ID, fent.ID).OnHand)

	// An unwitnessed waste is resolved by someone other than who wasted.
	waste, err := s.RecordPocketChange(ctx, db.PocketChange{CabinetID: f.cabinet.ID, MedicationID: fent.ID, Kind: db.MovementWasted,
		Quantity: 1, Actor: pyxis.Actor{ID: "nurse-w", Role: "nurse"}, Source: db.SourceAPI})
	require.NoError(t, err)
	require.NotNil(t, waste.Discrepancy)
	_, err = s.ResolveDiscrepancy(ctx, waste.Discrepancy.ID, db.Resolution{Reason: "mine", Actor: pyxis.Actor{ID: "nurse-w", Role: "pharmacist"}})
	require.ErrorIs(t, err, pyxis.ErrSamePerson)
	_, err = s.ResolveDiscrepancy(ctx, waste.Discrepancy.ID, db.Resolution{Reason: "witness found", Actor: other})
	require.NoError(t, err)

	// Of an uncontrolled medication, the counter may resolve their own count.
	res, err = s.RecordCount(ctx, db.Count{CabinetID: f.cabinet.ID, MedicationID: f.medA.ID, Counted: 9, Actor: pharmacist, Source: db.SourceAPI})
	require.NoError(t, err)
	_, err = s.ResolveDiscrepancy(ctx, res.Discrepancy.ID, db.Resolution{Reason: "recounted", Actor: pharmacist})
	require.NoError(t, err)
	_, err = s.SetStock(ctx, f.cabinet.ID, f.medA.ID, 9, 5, testActor)
	require.NoError(t, err, "and set its level")
}

// TestOnHandIsBounded: no pocket holds more than db.MaxOnHand, whichever way it is filled.
func TestOnHandIsBounded(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	ctx := testCtx(t)
	f := seed(t, s, 10)

	_, err := s.SetStock(ctx, f.cabinet.ID, f.medA.ID, db.MaxOnHand+1, 5, testActor)
	require.ErrorIs(t, err, pyxis.ErrInvalid)
	_, err = s.SetStock(ctx, f.cabinet.ID, f.medA.ID, 5, db.MaxOnHand+1, testActor)
	require.ErrorIs(t, err, pyxis.ErrInvalid)
	_, err = s.SetStock(ctx, f.cabinet.ID, f.medA.ID, db.MaxOnHand, db.MaxOnHand, testActor)
	require.NoError(t, err, "the bound itself is allowed")

	_, err = s.RecordPocketChange(ctx, db.PocketChange{CabinetID: f.cabinet.ID, MedicationID: f.medB.ID, Kind: db.MovementLoaded,
		Quantity: db.MaxOnHand, Actor: testActor, Witness: "w", Source: db.SourceAPI})
	require.ErrorIs(t, err, pyxis.ErrInvalid)
	assert.ErrorContains(t, err, "more than 100000")
	assert.Equal(t, int32(10), requireLedger(t, s, f.cabinet.ID, f.medB.ID).OnHand)

	res, err := s.RecordCount(ctx, db.Count{CabinetID: f.cabinet.ID, MedicationID: f.medB.ID, Counted: 9, Actor: testActor, Source: db.SourceAPI})
	require.NoError(t, err)
	tooMany := int32(db.MaxOnHand + 1)
	_, err = s.ResolveDiscrepancy(ctx, res.Discrepancy.ID, db.Resolution{Reason: "typo", SetOnHand: &tooMany, Actor: pharmacist})
	require.ErrorIs(t, err, pyxis.ErrInvalid)

	// The schema holds the bound too, for writes that bypass the store.
	_, err = pool.Exec(ctx, "UPDATE cabinet_stock SET on_hand = 100001 WHERE medication_id = $1", f.medA.ID)
	require.ErrorContains(t, err, "stock_on_hand_max")
	_, err = pool.Exec(ctx, "UPDATE cabinet_stock SET par_level = 100001 WHERE medication_id = $1", f.medA.ID)
	require.ErrorContains(t, err, "stock_par_level_max")
}
