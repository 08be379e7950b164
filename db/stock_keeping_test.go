package db_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

var (
	cabinetActor = pyxis.Actor{ID: "cabinet:CAB-1", Role: "cabinet"}
	pharmacist   = pyxis.Actor{ID: "pharm-test", Role: "pharmacist"}
)

// requireLedger checks the stock invariant and that the movement ledger sums to on_hand, and
// returns the pocket's stock.
func requireLedger(t *testing.T, s *db.Store, cabinetID, medicationID int64) db.StockRow {
	t.Helper()
	row := requireInvariant(t, s, cabinetID, medicationID)
	balance, err := s.MovementBalance(testCtx(t), cabinetID, medicationID)
	require.NoError(t, err)
	assert.Equal(t, row.OnHand, balance, "the ledger must sum to on_hand")
	return row
}

func kinds(t *testing.T, s *db.Store, cabinetID, medicationID int64) []string {
	t.Helper()
	ms, err := s.ListMovements(testCtx(t), cabinetID, medicationID)
	require.NoError(t, err)
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Kind
	}
	return out
}

func TestSetStockAndWithdrawalWriteMovements(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)

	_, err := s.SetStock(ctx, f.cabinet.ID, f.medA.ID, 12, 6, testActor)
	require.NoError(t, err)
	_, err = s.SetStock(ctx, f.cabinet.ID, f.medA.ID, 12, 8, testActor)
	require.NoError(t, err)
	hold(t, s, f, "req-mv", pyxis.Line{MedicationID: f.medA.ID, Quantity: 3})
	_, err = s.SetStock(ctx, f.cabinet.ID, f.medA.ID, 2, 8, testActor)
	require.ErrorIs(t, err, pyxis.ErrStockBelowReserved)
	for range 2 { // a retry takes nothing again
		_, err = s.RecordStep(ctx, withdrawn(f, "req-mv", 3, pyxis.Line{MedicationID: f.medA.ID, Quantity: 3}))
		require.NoError(t, err)
	}

	ms, err := s.ListMovements(ctx, f.cabinet.ID, f.medA.ID)
	require.NoError(t, err)
	require.Len(t, ms, 4)
	assert.Equal(t, []string{"adjusted", "adjusted", "counted", "dispensed"}, kinds(t, s, f.cabinet.ID, f.medA.ID))
	assert.Equal(t, []int32{10, 2, 0, -3}, []int32{ms[0].Quantity, ms[1].Quantity, ms[2].Quantity, ms[3].Quantity})
	assert.Equal(t, int32(9), ms[3].OnHandAfter)
	assert.Equal(t, "req-mv", ms[3].RequestID)
	assert.Equal(t, db.SourceCabinet, ms[3].Source)
	assert.Equal(t, vendingCabinet, ms[3].Actor)
	assert.Equal(t, testActor, ms[1].Actor)
	assert.Equal(t, db.SourceAPI, ms[1].Source)
	assert.Equal(t, int32(9), requireLedger(t, s, f.cabinet.ID, f.medA.ID).OnHand)
}

func TestPocketChanges(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	hold(t, s, f, "req-held", pyxis.Line{MedicationID: f.medA.ID, Quantity: 4})

	change := func(kind string, qty int32, msg string) (db.PocketChangeResult, error) {
		return s.RecordPocketChange(ctx, db.PocketChange{
			CabinetID: f.cabinet.ID, MedicationID: f.medA.ID, Kind: kind, Quantity: qty,
			Actor: cabinetActor, Source: db.SourceCabinet, CabinetMessageID: msg,
		})
	}
	res, err := change(db.MovementReturned, 2, "m1")
	require.NoError(t, err)
	assert.False(t, res.Duplicate)
	assert.Equal(t, int32(12), res.Movement.OnHandAfter)
	assert.Nil(t, res.Discrepancy)

	res, err = change(db.MovementReturned, 2, "m1")
	require.NoError(t, err)
	assert.True(t, res.Duplicate, "a resent report is recognised")
	assert.Equal(t, int32(12), requireLedger(t, s, f.cabinet.ID, f.medA.ID).OnHand, "and counted once")

	_, err = change(db.MovementUnloaded, 3, "m2")
	require.NoError(t, err)
	_, err = change(db.MovementWasted, 1, "m3")
	require.NoError(t, err)
	_, err = change(db.MovementLoaded, 5, "m4")
	require.NoError(t, err)
	assert.Equal(t, int32(13), requireLedger(t, s, f.cabinet.ID, f.medA.ID).OnHand)

	// Never below what is reserved: the error says so, and nothing is written, not even the claim.
	_, err = change(db.MovementUnloaded, 10, "m5")
	require.ErrorIs(t, err, pyxis.ErrStockBelowReserved)
	assert.Contains(t, err.Error(), "4 are reserved")
	applied, err := s.CabinetMessageApplied(ctx, f.cabinet.ID, "m5")
	require.NoError(t, err)
	assert.False(t, applied, "a refused report may be sent again")
	_, err = change(db.MovementUnloaded, 9, "m5")
	require.NoError(t, err)
	row := requireLedger(t, s, f.cabinet.ID, f.medA.ID)
	assert.Equal(t, []int32{4, 4}, []int32{row.OnHand, row.Reserved})

	_, err = change("teleported", 1, "m6")
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
	_, err = change(db.MovementReturned, 0, "m6")
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
	other, err := s.CreateMedication(ctx, db.NewMedication{Code: "RARE", Name: "Rare"})
	require.NoError(t, err)
	_, err = s.RecordPocketChange(ctx, db.PocketChange{CabinetID: f.cabinet.ID, MedicationID: other.ID, Kind: db.MovementWasted,
		Quantity: 1, Actor: cabinetActor, Source: db.SourceCabinet})
	assert.ErrorIs(t, err, pyxis.ErrNotFound, "nothing to waste in a pocket that is not stocked")
}

func TestUnwitnessedControlledWaste(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	waste := func(med int64, witness, class, msg string) db.PocketChangeResult {
		t.Helper()
		res, err := s.RecordPocketChange(ctx, db.PocketChange{
			CabinetID: f.cabinet.ID, MedicationID: med, Kind: db.MovementWasted, Quantity: 1,
			Actor: pyxis.Actor{ID: "nurse-7", Role: "cabinet"}, Witness: witness, ControlledClass: class,
			Source: db.SourceCabinet, CabinetMessageID: msg, RequestID: "medreq-X",
		})
		require.NoError(t, err)
		return res
	}
	assert.Nil(t, waste(f.medB.ID, "nurse-8", "", "w1").Discrepancy, "a witnessed controlled waste is fine")
	assert.Nil(t, waste(f.medA.ID, "", "", "w2").Discrepancy, "an uncontrolled waste needs no witness")

	res := waste(f.medB.ID, "", "", "w3")
	require.NotNil(t, res.Discrepancy)
	d := *res.Discrepancy
	assert.Equal(t, db.DiscrepancyUnwitnessedControlledWaste, d.Kind)
	assert.Equal(t, db.DiscrepancyOpen, d.Status)
	assert.Equal(t, "MORPH10", d.MedicationCode)
	assert.Nil(t, d.Expected)
	assert.Equal(t, "nurse-7", d.Details["wasted_by"])
	assert.EqualValues(t, res.Movement.ID, d.Details["movement_id"])

	res = waste(f.medA.ID, "", "II", "w4")
	require.NotNil(t, res.Discrepancy, "the cabinet's controlled class counts even when the catalogue disagrees")
	assert.Nil(t, waste(f.medA.ID, "", "II", "w4").Discrepancy, "a duplicate records nothing")

	open, err := s.ListDiscrepancies(ctx, db.StockFilter{Status: db.DiscrepancyOpen})
	require.NoError(t, err)
	assert.Len(t, open, 2)
	assert.Equal(t, int32(8), requireLedger(t, s, f.cabinet.ID, f.medB.ID).OnHand)
	assert.Equal(t, int32(8), requireLedger(t, s, f.cabinet.ID, f.medA.ID).OnHand)
}

func TestCountAndResolve(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	hold(t, s, f, "req-c", pyxis.Line{MedicationID: f.medA.ID, Quantity: 3})
	count := func(n int32, msg string) db.CountResult {
		t.Helper()
		res, err := s.RecordCount(ctx, db.Count{CabinetID: f.cabinet.ID, MedicationID: f.medA.ID, Counted: n,
			Actor: testActor, Source: db.SourceAPI, CabinetMessageID: msg})
		require.NoError(t, err)
		return res
	}

	res := count(10, "")
	assert.Nil(t, res.Discrepancy)
	assert.Equal(t, int32(10), res.OnHand)

	res = count(7, "c1")
	require.NotNil(t, res.Discrepancy)
	d := *res.Discrepancy
	assert.Equal(t, db.DiscrepancyCountMismatch, d.Kind)
	assert.Equal(t, []int32{10, 7}, []int32{*d.Expected, *d.Actual})
	assert.True(t, count(7, "c1").Duplicate)
	assert.Equal(t, int32(10), requireLedger(t, s, f.cabinet.ID, f.medA.ID).OnHand, "a count never overwrites on_hand")

	_, err := s.RecordCount(ctx, db.Count{CabinetID: f.cabinet.ID, MedicationID: f.medA.ID, Counted: -1, Actor: testActor, Source: db.SourceAPI})
	assert.ErrorIs(t, err, pyxis.ErrInvalid)

	two := int32(2)
	_, err = s.ResolveDiscrepancy(ctx, d.ID, db.Resolution{Reason: "  ", Actor: pharmacist})
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
	_, err = s.ResolveDiscrepancy(ctx, d.ID, db.Resolution{Reason: "recount", SetOnHand: &two, Actor: pharmacist})
	assert.ErrorIs(t, err, pyxis.ErrStockBelowReserved)
	got, err := s.GetDiscrepancy(ctx, d.ID)
	require.NoError(t, err)
	assert.Equal(t, db.DiscrepancyOpen, got.Status, "a refused resolution leaves it open")

	seven := int32(7)
	got, err = s.ResolveDiscrepancy(ctx, d.ID, db.Resolution{Reason: "recounted: 3 ampoules broken in transit", SetOnHand: &seven, Actor: pharmacist})
	require.NoError(t, err)
	assert.Equal(t, db.DiscrepancyResolved, got.Status)
	assert.Equal(t, "pharm-test", got.ResolvedBy)
	assert.NotNil(t, got.ResolvedAt)
	row := requireLedger(t, s, f.cabinet.ID, f.medA.ID)
	assert.Equal(t, []int32{7, 3}, []int32{row.OnHand, row.Reserved})
	assert.Equal(t, []string{"adjusted", "counted", "counted", "adjusted"}, kinds(t, s, f.cabinet.ID, f.medA.ID))

	_, err = s.ResolveDiscrepancy(ctx, d.ID, db.Resolution{Reason: "again", Actor: pharmacist})
	assert.ErrorIs(t, err, pyxis.ErrNotOpen)
	_, err = s.ResolveDiscrepancy(ctx, 999999, db.Resolution{Reason: "x", Actor: pharmacist})
	assert.ErrorIs(t, err, pyxis.ErrNotFound)

	resolved, err := s.ListDiscrepancies(ctx, db.StockFilter{Status: db.DiscrepancyResolved, CabinetID: f.cabinet.ID})
	require.NoError(t, err)
	require.Len(t, resolved, 1)
	assert.Equal(t, d.ID, resolved[0].ID)
	_, err = s.ListDiscrepancies(ctx, db.StockFilter{Status: "pending"})
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
}

func TestRefillTasks(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10) // par level 5

	opened, err := s.OpenRefillTask(ctx, f.cabinet.ID, f.medA.ID, "restock-a", testActor)
	require.NoError(t, err)
	assert.True(t, opened.NotNeeded, "at or above par nothing is opened")

	_, err = s.SetStock(ctx, f.cabinet.ID, f.medA.ID, 2, 5, testActor)
	require.NoError(t, err)
	opened, err = s.OpenRefillTask(ctx, f.cabinet.ID, f.medA.ID, "restock-a", testActor)
	require.NoError(t, err)
	require.False(t, opened.NotNeeded)
	assert.Equal(t, int32(3), opened.RequestedQty)
	again, err := s.OpenRefillTask(ctx, f.cabinet.ID, f.medA.ID, "restock-a", testActor)
	require.NoError(t, err)
	assert.Equal(t, opened.TaskID, again.TaskID, "one open task per pocket")

	task, err := s.OpenRefillTaskOf(ctx, f.cabinet.ID, f.medA.ID)
	require.NoError(t, err)
	assert.Equal(t, db.RefillOpen, task.Status)
	assert.Equal(t, "CAB-1", task.CabinetCode)
	assert.Nil(t, task.LoadedQty)

	_, err = s.CompleteRefill(ctx, pyxis.RefillCompletion{TaskID: task.ID, Quantity: 0, Actor: testActor})
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
	done, err := s.CompleteRefill(ctx, pyxis.RefillCompletion{TaskID: task.ID, Quantity: 4, Actor: testActor, Source: db.SourceAPI})
	require.NoError(t, err)
	assert.Equal(t, pyxis.CompletedRefill{Applied: true, OnHandAfter: 6}, done)
	done, err = s.CompleteRefill(ctx, pyxis.RefillCompletion{TaskID: task.ID, Quantity: 4, Actor: testActor, Source: db.SourceAPI})
	require.NoError(t, err)
	assert.False(t, done.Applied, "a repeated confirmation changes nothing")
	_, err = s.CompleteRefill(ctx, pyxis.RefillCompletion{TaskID: 999999, Quantity: 4, Actor: testActor})
	assert.ErrorIs(t, err, pyxis.ErrNotFound)

	task, err = s.GetRefillTask(ctx, task.ID)
	require.NoError(t, err)
	assert.Equal(t, db.RefillDone, task.Status)
	assert.Equal(t, int32(4), *task.LoadedQty)
	assert.Equal(t, testActor.ID, task.CompletedBy)
	_, err = s.OpenRefillTaskOf(ctx, f.cabinet.ID, f.medA.ID)
	assert.ErrorIs(t, err, pyxis.ErrNotFound)
	ms, err := s.ListMovements(ctx, f.cabinet.ID, f.medA.ID)
	require.NoError(t, err)
	last := ms[len(ms)-1]
	assert.Equal(t, db.MovementLoaded, last.Kind)
	assert.Equal(t, task.ID, last.RefillTaskID)
	assert.Equal(t, int32(6), requireLedger(t, s, f.cabinet.ID, f.medA.ID).OnHand)

	// A cancelled task frees the pocket for a new one.
	_, err = s.SetStock(ctx, f.cabinet.ID, f.medA.ID, 1, 5, testActor)
	require.NoError(t, err)
	opened, err = s.OpenRefillTask(ctx, f.cabinet.ID, f.medA.ID, "restock-a", testActor)
	require.NoError(t, err)
	require.NoError(t, s.CancelRefill(ctx, opened.TaskID, testActor, "workflow cancelled"))
	require.NoError(t, s.CancelRefill(ctx, opened.TaskID, testActor, "workflow cancelled"))
	tasks, err := s.ListRefillTasks(ctx, db.StockFilter{CabinetID: f.cabinet.ID})
	require.NoError(t, err)
	require.Len(t, tasks, 2)
	assert.Equal(t, []string{db.RefillCancelled, db.RefillDone}, []string{tasks[0].Status, tasks[1].Status})
	openTasks, err := s.ListRefillTasks(ctx, db.StockFilter{Status: db.RefillOpen})
	require.NoError(t, err)
	assert.Empty(t, openTasks)
}

// A cabinet's load report that was applied as a load of its own is not loaded again when the
// same report then confirms a refill task.
func TestRefillWithAlreadyAppliedLoadReport(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 2) // below par 5
	_, err := s.RecordPocketChange(ctx, db.PocketChange{CabinetID: f.cabinet.ID, MedicationID: f.medA.ID, Kind: db.MovementLoaded,
		Quantity: 3, Actor: cabinetActor, Source: db.SourceCabinet, CabinetMessageID: "load-1"})
	require.NoError(t, err)
	_, err = s.SetStock(ctx, f.cabinet.ID, f.medA.ID, 2, 5, testActor)
	require.NoError(t, err)
	opened, err := s.OpenRefillTask(ctx, f.cabinet.ID, f.medA.ID, "restock-a", testActor)
	require.NoError(t, err)
	done, err := s.CompleteRefill(ctx, pyxis.RefillCompletion{TaskID: opened.TaskID, Quantity: 3, Actor: cabinetActor,
		Source: db.SourceCabinet, CabinetMessageID: "load-1"})
	require.NoError(t, err)
	assert.Equal(t, pyxis.CompletedRefill{Applied: true, OnHandAfter: 2}, done)
	assert.Equal(t, int32(2), requireLedger(t, s, f.cabinet.ID, f.medA.ID).OnHand)
}

// Concurrent duplicates of one cabinet report are applied once.
func TestConcurrentDuplicateReports(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	var wg sync.WaitGroup
	results := make([]db.PocketChangeResult, 8)
	for i := range results {
		wg.Go(func() {
			var err error
			results[i], err = s.RecordPocketChange(ctx, db.PocketChange{CabinetID: f.cabinet.ID, MedicationID: f.medA.ID,
				Kind: db.MovementReturned, Quantity: 1, Actor: cabinetActor, Source: db.SourceCabinet, CabinetMessageID: "dup"})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	applied := 0
	for _, r := range results {
		if !r.Duplicate {
			applied++
		}
	}
	assert.Equal(t, 1, applied)
	assert.Equal(t, int32(11), requireLedger(t, s, f.cabinet.ID, f.medA.ID).OnHand)
}
