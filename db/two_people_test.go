package db_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

func TestVendDiscrepancyIsNotResolvedByItsReporter(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	admitted(t, s, f) // 4 of A, 1 of B

	// A nurse reports 5 of A (one over) and nothing of B: over_vend now, short_vend of B when
	// the request ends.
	nurse := pyxis.Actor{ID: "nurse-rep", Role: "nurse"}
	st := vendStep(f, 3, pyxis.StockRelease, pyxis.Line{MedicationID: f.medA.ID, Quantity: 5})
	st.Vends[0].Actor, st.Vends[0].Source = nurse, db.SourceAPI
	res, err := s.RecordStep(ctx, st)
	require.NoError(t, err)
	require.Len(t, res.Discrepancies, 2)
	for _, id := range res.Discrepancies {
		d, err := s.GetDiscrepancy(ctx, id)
		require.NoError(t, err)
		_, err = s.ResolveDiscrepancy(ctx, id, db.Resolution{Reason: "mine", Actor: pyxis.Actor{ID: "nurse-rep", Role: "pharmacist"}})
		require.ErrorIs(t, err, pyxis.ErrSamePerson, "%s resolved by who reported the vend", d.Kind)
		_, err = s.ResolveDiscrepancy(ctx, id, db.Resolution{Reason: "checked", Actor: pyxis.Actor{ID: "pharm-2", Role: "pharmacist"}})
		require.NoError(t, err, d.Kind)
	}
}

func TestControlledListIsNotLoweredWhileInStock(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10) // medB is on A1, 10 on hand
	change := func(list string) error {
		_, err := s.UpdateMedication(ctx, f.medB.ID, db.MedicationChange{Name: f.medB.Name, ControlledList: list}, testActor)
		return err
	}
	require.ErrorIs(t, change("B1"), pyxis.ErrControlledInStock, "lowered")
	require.ErrorIs(t, change(""), pyxis.ErrControlledInStock, "removed")
	require.NoError(t, change("A1"), "unchanged")
	// medA is on no list: raising is always allowed, and back down is then refused.
	_, err := s.UpdateMedication(ctx, f.medA.ID, db.MedicationChange{Name: f.medA.Name, ControlledList: "C1"}, testActor)
	require.NoError(t, err)
	_, err = s.UpdateMedication(ctx, f.medA.ID, db.MedicationChange{Name: f.medA.Name, ControlledList: "A3"}, testActor)
	require.NoError(t, err)
	_, err = s.UpdateMedication(ctx, f.medA.ID, db.MedicationChange{Name: f.medA.Name}, testActor)
	require.ErrorIs(t, err, pyxis.ErrControlledInStock)

	// Once no pocket holds it, the list may go.
	_, err = s.RecordPocketChange(ctx, db.PocketChange{CabinetID: f.cabinet.ID, MedicationID: f.medB.ID, Kind: db.MovementUnloaded,
		Quantity: 10, Actor: testActor, Source: db.SourceAPI})
	require.NoError(t, err)
	require.NoError(t, change(""))
}

func TestControlledLoadWaitsForItsWitness(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	loader := pyxis.Actor{ID: "tech-1", Role: "technician"}
	before := kinds(t, s, f.cabinet.ID, f.medB.ID)

	l, err := s.RecordPendingLoad(ctx, f.cabinet.ID, f.medB.ID, 5, loader)
	require.NoError(t, err)
	assert.Equal(t, db.LoadPendingWitness, l.Status)
	assert.Equal(t, int32(10), requireLedger(t, s, f.cabinet.ID, f.medB.ID).OnHand, "nothing moves before the witness")
	assert.Equal(t, before, kinds(t, s, f.cabinet.ID, f.medB.ID))

	_, err = s.WitnessLoad(ctx, l.ID, pyxis.Actor{ID: "tech-1", Role: "pharmacist"})
	require.ErrorIs(t, err, pyxis.ErrSamePerson)
	assert.Equal(t, int32(10), requireLedger(t, s, f.cabinet.ID, f.medB.ID).OnHand)

	done, err := s.WitnessLoad(ctx, l.ID, pyxis.Actor{ID: "pharm-1", Role: "pharmacist"})
	require.NoError(t, err)
	assert.Equal(t, db.LoadWitnessed, done.Status)
	assert.Equal(t, "pharm-1", done.WitnessID)
	require.NotNil(t, done.Movement)
	assert.Equal(t, "pharm-1", done.Movement.WitnessID)
	assert.Equal(t, "tech-1", done.Movement.Actor.ID)
	assert.Equal(t, int32(15), requireLedger(t, s, f.cabinet.ID, f.medB.ID).OnHand)

	_, err = s.WitnessLoad(ctx, l.ID, pyxis.Actor{ID: "pharm-2", Role: "pharmacist"})
	require.ErrorIs(t, err, pyxis.ErrNotOpen, "a load is witnessed once")
	_, err = s.WitnessLoad(ctx, l.ID+100, pyxis.Actor{ID: "pharm-2", Role: "pharmacist"})
	require.ErrorIs(t, err, pyxis.ErrNotFound)
	assert.Equal(t, int32(15), requireLedger(t, s, f.cabinet.ID, f.medB.ID).OnHand)
}

func TestLateVendOpensItsOverVend(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	admitted(t, s, f) // 4 of A, 1 of B
	// Another report named every line first: the request is dispensed, its stock settled.
	_, err := s.RecordStep(ctx, vendStep(f, 3, pyxis.StockRelease, pyxis.Line{MedicationID: f.medA.ID, Quantity: 4}, pyxis.Line{MedicationID: f.medB.ID, Quantity: 1}))
	require.NoError(t, err)
	require.Empty(t, discrepancyKinds(t, s, f))

	late := pyxis.Vend{CabinetID: f.cabinet.ID, Lines: []pyxis.Line{{MedicationID: f.medA.ID, Quantity: 2}}, ReportID: "MSG-LATE",
		Actor: vendingCabinet, Source: db.SourceCabinet, At: t0.Add(time.Hour)}
	res, err := s.RecordLateVend(ctx, "req-vend", late)
	require.NoError(t, err)
	assert.Len(t, res.Discrepancies, 1)
	assert.Equal(t, []found{{db.DiscrepancyOverVend, 0, 2}}, discrepancyKinds(t, s, f))
	assert.Equal(t, int32(4), requireLedger(t, s, f.cabinet.ID, f.medA.ID).OnHand, "10, less the four, less the two")

	again, err := s.RecordLateVend(ctx, "req-vend", late)
	require.NoError(t, err)
	assert.True(t, again.Duplicate)
	assert.Equal(t, int32(4), requireLedger(t, s, f.cabinet.ID, f.medA.ID).OnHand, "applied once")
}
