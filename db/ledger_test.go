package db_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// requireInvariant checks 0 <= reserved <= on_hand and reserved == sum of held reservations.
func requireInvariant(t *testing.T, s *db.Store, cabinetID, medicationID int64) db.StockRow {
	t.Helper()
	row := stockOf(t, s, cabinetID, medicationID)
	held, err := s.HeldReservations(testCtx(t), cabinetID, medicationID)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, row.Reserved, int32(0))
	assert.LessOrEqual(t, row.Reserved, row.OnHand)
	assert.Equal(t, held, row.Reserved, "reserved must equal the sum of held reservations")
	return row
}

// admit admits request id for lines at the fixture's cabinet and returns the shortage, if any.
func admit(t *testing.T, s *db.Store, f fixture, id string, lines ...pyxis.Line) (*pyxis.InsufficientStockError, error) {
	t.Helper()
	a := admission(f, id, 1)
	a.Lines, a.Submitted.Header.Lines = lines, lines
	res, err := s.Admit(testCtx(t), a)
	return res.Short, err
}

// release is the step that gives back what request id still holds.
func release(t *testing.T, s *db.Store, id string) []pyxis.Line {
	t.Helper()
	res, err := s.RecordStep(testCtx(t), pyxis.Step{RequestID: id, Stock: pyxis.StockRelease})
	require.NoError(t, err)
	return res.Released
}

func TestAdmitReservesAllOrNothing(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	// medB is controlled: its level moves by loads and unloads, not SetStock.
	move := func(kind string, qty int32) {
		t.Helper()
		_, err := s.RecordPocketChange(ctx, db.PocketChange{CabinetID: f.cabinet.ID, MedicationID: f.medB.ID, Kind: kind,
			Quantity: qty, Actor: testActor, Witness: "tech-witness", Source: db.SourceAPI})
		require.NoError(t, err)
	}
	move(db.MovementUnloaded, 8)
	lines := []pyxis.Line{{MedicationID: f.medA.ID, Quantity: 5}, {MedicationID: f.medB.ID, Quantity: 3}}

	short, err := admit(t, s, f, "req-short", lines...)
	require.NoError(t, err)
	require.NotNil(t, short)
	assert.Equal(t, pyxis.InsufficientStockError{MedicationID: f.medB.ID, Requested: 3, Available: 2}, *short)
	assert.Contains(t, short.Error(), fmt.Sprint(f.medB.ID))
	for _, m := range []int64{f.medA.ID, f.medB.ID} {
		assert.Zero(t, requireInvariant(t, s, f.cabinet.ID, m).Reserved, "nothing may stay reserved after a refused admission")
	}

	// Once stock allows, another request gets every line.
	move(db.MovementLoaded, 1)
	short, err = admit(t, s, f, "req-later", lines...)
	require.NoError(t, err)
	require.Nil(t, short)
	assert.Equal(t, int32(5), requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
	assert.Equal(t, int32(3), requireInvariant(t, s, f.cabinet.ID, f.medB.ID).Reserved)
}

func TestAdmitUnstockedMedication(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	other, err := s.CreateMedication(ctx, db.NewMedication{Code: "RARE", Name: "Rare drug"})
	require.NoError(t, err)

	short, err := admit(t, s, f, "req-rare", pyxis.Line{MedicationID: other.ID, Quantity: 1})
	require.NoError(t, err)
	require.NotNil(t, short)
	assert.Equal(t, pyxis.InsufficientStockError{MedicationID: other.ID, Requested: 1, Available: 0}, *short)
}

func TestAdmitRejectsBadLines(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	f := seed(t, s, 10)

	_, err := admit(t, s, f, "r")
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
	_, err = admit(t, s, f, "r", pyxis.Line{MedicationID: f.medA.ID, Quantity: 0})
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
	// Lines of one medication are added together.
	short, err := admit(t, s, f, "r", pyxis.Line{MedicationID: f.medA.ID, Quantity: 2}, pyxis.Line{MedicationID: f.medA.ID, Quantity: 3})
	require.NoError(t, err)
	require.Nil(t, short)
	assert.Equal(t, int32(5), requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
}

func TestLedgerIsIdempotent(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	f := seed(t, s, 10)
	lines := []pyxis.Line{{MedicationID: f.medB.ID, Quantity: 1}, {MedicationID: f.medA.ID, Quantity: 2}}

	hold(t, s, f, "req-rel", lines...)
	hold(t, s, f, "req-rel", lines...) // a retried admission
	assert.Equal(t, int32(2), requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
	assert.Equal(t, int32(1), requireInvariant(t, s, f.cabinet.ID, f.medB.ID).Reserved)

	assert.Equal(t, []pyxis.Line{{MedicationID: f.medA.ID, Quantity: 2}, {MedicationID: f.medB.ID, Quantity: 1}}, release(t, s, "req-rel"))
	again := release(t, s, "req-rel")
	assert.Empty(t, again)
	assert.NotNil(t, again)
	assert.Zero(t, requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)

	hold(t, s, f, "req-use", lines...)
	res, err := s.RecordStep(testCtx(t), withdrawn(f, "req-use", 3, lines...))
	require.NoError(t, err)
	assert.ElementsMatch(t, []pyxis.ConsumedLine{
		{MedicationID: f.medA.ID, Quantity: 2, OnHand: 8, ParLevel: 5},
		{MedicationID: f.medB.ID, Quantity: 1, OnHand: 9, ParLevel: 5},
	}, res.Consumed)
	res, err = s.RecordStep(testCtx(t), withdrawn(f, "req-use", 3, lines...))
	require.NoError(t, err)
	assert.Empty(t, res.Consumed, "a retried withdrawal takes nothing again")
	assert.Empty(t, release(t, s, "req-use"), "what was withdrawn cannot be released")

	a := requireInvariant(t, s, f.cabinet.ID, f.medA.ID)
	assert.Equal(t, int32(8), a.OnHand)
	assert.Zero(t, a.Reserved)
	assert.Empty(t, release(t, s, "never-reserved"))
}

// Many admissions of one unit at once, on a pool large enough for them to contend: exactly
// what is on hand is reserved; then half are released and half withdrawn, at once too.
func TestConcurrentAdmissionsThenSettlements(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := db.NewStore(pool)
	f := seed(t, s, 10)
	line := pyxis.Line{MedicationID: f.medA.ID, Quantity: 1}

	const workers = 100
	shorts := make([]*pyxis.InsufficientStockError, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			<-start
			var err error
			shorts[i], err = admit(t, s, f, fmt.Sprintf("req-%03d", i), line)
			assert.NoError(t, err)
		})
	}
	close(start)
	wg.Wait()

	var ok []int
	for i, short := range shorts {
		if short == nil {
			ok = append(ok, i)
		}
	}
	require.Len(t, ok, 10)
	row := requireInvariant(t, s, f.cabinet.ID, f.medA.ID)
	assert.Equal(t, int32(10), row.Reserved)
	assert.Equal(t, int32(10), row.OnHand)

	for j, i := range ok {
		id := fmt.Sprintf("req-%03d", i)
		wg.Go(func() {
			st := pyxis.Step{RequestID: id, Stock: pyxis.StockRelease}
			if j%2 == 1 {
				st = withdrawn(f, id, 3, line)
			}
			_, err := s.RecordStep(ctx, st)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	row = requireInvariant(t, s, f.cabinet.ID, f.medA.ID)
	assert.Zero(t, row.Reserved)
	assert.Equal(t, int32(5), row.OnHand)
}

func TestConcurrentRetriesOfOneAdmission(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	f := seed(t, s, 10)
	lines := []pyxis.Line{{MedicationID: f.medA.ID, Quantity: 3}, {MedicationID: f.medB.ID, Quantity: 1}}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			short, err := admit(t, s, f, "req-retried", lines...)
			assert.NoError(t, err)
			assert.Nil(t, short)
		})
	}
	wg.Wait()
	assert.Equal(t, int32(3), requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
	assert.Equal(t, int32(1), requireInvariant(t, s, f.cabinet.ID, f.medB.ID).Reserved)
}

func BenchmarkAdmitAndRelease(b *testing.B) {
	s := newStore(b)
	ctx := testCtx(b)
	f := seed(b, s, 100_000)
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench-%d", i)
		if _, err := s.Admit(ctx, admission(f, id, 1)); err != nil {
			b.Fatal(err)
		}
		if _, err := s.RecordStep(ctx, pyxis.Step{RequestID: id, Stock: pyxis.StockRelease}); err != nil {
			b.Fatal(err)
		}
	}
}
