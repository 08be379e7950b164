package db_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

func TestReserveAllOrNothing(t *testing.T) {
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

	err := s.Reserve(ctx, "req-short", f.cabinet.ID, []db.Line{
		{MedicationID: f.medA.ID, Quantity: 5},
		{MedicationID: f.medB.ID, Quantity: 3},
	})
	var short *db.InsufficientStockError
	require.ErrorAs(t, err, &short)
	assert.Equal(t, db.InsufficientStockError{MedicationID: f.medB.ID, Requested: 3, Available: 2}, *short)
	assert.Contains(t, err.Error(), fmt.Sprint(f.medB.ID))

	for _, m := range []int64{f.medA.ID, f.medB.ID} {
		row := requireInvariant(t, s, f.cabinet.ID, m)
		assert.Zero(t, row.Reserved, "nothing may stay reserved after a failed reserve")
	}

	// The failed attempt left no marker: the same request can be reserved once stock allows.
	move(db.MovementLoaded, 1)
	require.NoError(t, s.Reserve(ctx, "req-short", f.cabinet.ID, []db.Line{
		{MedicationID: f.medA.ID, Quantity: 5},
		{MedicationID: f.medB.ID, Quantity: 3},
	}))
	assert.Equal(t, int32(5), requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
	assert.Equal(t, int32(3), requireInvariant(t, s, f.cabinet.ID, f.medB.ID).Reserved)
}

func TestReserveUnstockedMedication(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	other, err := s.CreateMedication(ctx, db.NewMedication{Code: "RARE", Name: "Rare drug"})
	require.NoError(t, err)

	err = s.Reserve(ctx, "req-rare", f.cabinet.ID, []db.Line{{MedicationID: other.ID, Quantity: 1}})
	var short *db.InsufficientStockError
	require.ErrorAs(t, err, &short)
	assert.Equal(t, db.InsufficientStockError{MedicationID: other.ID, Requested: 1, Available: 0}, *short)
}

func TestReserveRejectsBadLines(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)

	assert.ErrorIs(t, s.Reserve(ctx, "r", f.cabinet.ID, nil), db.ErrInvalid)
	assert.ErrorIs(t, s.Reserve(ctx, "r", f.cabinet.ID, []db.Line{{MedicationID: f.medA.ID, Quantity: 0}}), db.ErrInvalid)
	// Lines of one medication are added together.
	require.NoError(t, s.Reserve(ctx, "r", f.cabinet.ID, []db.Line{
		{MedicationID: f.medA.ID, Quantity: 2}, {MedicationID: f.medA.ID, Quantity: 3},
	}))
	assert.Equal(t, int32(5), requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
}

func TestLedgerIsIdempotent(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	lines := []db.Line{{MedicationID: f.medB.ID, Quantity: 1}, {MedicationID: f.medA.ID, Quantity: 2}}

	require.NoError(t, s.Reserve(ctx, "req-rel", f.cabinet.ID, lines))
	require.NoError(t, s.Reserve(ctx, "req-rel", f.cabinet.ID, lines), "a retried reserve succeeds")
	assert.Equal(t, int32(2), requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
	assert.Equal(t, int32(1), requireInvariant(t, s, f.cabinet.ID, f.medB.ID).Reserved)

	released, err := s.Release(ctx, "req-rel")
	require.NoError(t, err)
	assert.Equal(t, []db.Line{{MedicationID: f.medA.ID, Quantity: 2}, {MedicationID: f.medB.ID, Quantity: 1}}, released)
	released, err = s.Release(ctx, "req-rel")
	require.NoError(t, err)
	assert.Empty(t, released)
	assert.NotNil(t, released)
	// A reserve attempt that outlived its workflow's release (say, a cancellation while it ran)
	// is refused: the request's stock is settled.
	require.ErrorIs(t, s.Reserve(ctx, "req-rel", f.cabinet.ID, lines), db.ErrSettled, "a late reserve retry must not re-reserve")
	assert.Zero(t, requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)

	require.NoError(t, s.Reserve(ctx, "req-use", f.cabinet.ID, lines))
	consumed, err := s.Consume(ctx, "req-use")
	require.NoError(t, err)
	assert.Equal(t, []db.ConsumedLine{
		{MedicationID: f.medA.ID, Quantity: 2, OnHand: 8, ParLevel: 5},
		{MedicationID: f.medB.ID, Quantity: 1, OnHand: 9, ParLevel: 5},
	}, consumed)
	consumed, err = s.Consume(ctx, "req-use")
	require.NoError(t, err)
	assert.Empty(t, consumed)
	released, err = s.Release(ctx, "req-use")
	require.NoError(t, err)
	assert.Empty(t, released, "a consumed reservation cannot be released")

	a := requireInvariant(t, s, f.cabinet.ID, f.medA.ID)
	assert.Equal(t, int32(8), a.OnHand)
	assert.Zero(t, a.Reserved)

	released, err = s.Release(ctx, "never-reserved")
	require.NoError(t, err)
	assert.Empty(t, released)
}

func TestConcurrentReserve(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	// More connections than the default pool so that many transactions really contend.
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := db.NewStore(pool)
	f := seed(t, s, 10)
	line := []db.Line{{MedicationID: f.medA.ID, Quantity: 1}}

	const workers = 100
	errs := make([]error, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			<-start
			errs[i] = s.Reserve(ctx, fmt.Sprintf("req-%03d", i), f.cabinet.ID, line)
		})
	}
	close(start)
	wg.Wait()

	var ok, short []int
	for i, err := range errs {
		var ise *db.InsufficientStockError
		switch {
		case err == nil:
			ok = append(ok, i)
		case errors.As(err, &ise):
			short = append(short, i)
		default:
			t.Errorf("worker %d: unexpected error %v", i, err)
		}
	}
	require.Len(t, ok, 10)
	require.Len(t, short, 90)
	row := requireInvariant(t, s, f.cabinet.ID, f.medA.ID)
	assert.Equal(t, int32(10), row.Reserved)
	assert.Equal(t, int32(10), row.OnHand)

	// Settle them concurrently too: five released, five consumed.
	for j, i := range ok {
		id := fmt.Sprintf("req-%03d", i)
		wg.Go(func() {
			var err error
			if j%2 == 0 {
				_, err = s.Release(ctx, id)
			} else {
				_, err = s.Consume(ctx, id)
			}
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	row = requireInvariant(t, s, f.cabinet.ID, f.medA.ID)
	assert.Zero(t, row.Reserved)
	assert.Equal(t, int32(5), row.OnHand)
}

func TestConcurrentRetriesOfOneReserve(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	lines := []db.Line{{MedicationID: f.medA.ID, Quantity: 3}, {MedicationID: f.medB.ID, Quantity: 1}}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { assert.NoError(t, s.Reserve(ctx, "req-retried", f.cabinet.ID, lines)) })
	}
	wg.Wait()
	assert.Equal(t, int32(3), requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
	assert.Equal(t, int32(1), requireInvariant(t, s, f.cabinet.ID, f.medB.ID).Reserved)
}

func BenchmarkReserveRelease(b *testing.B) {
	s := newStore(b)
	ctx := testCtx(b)
	f := seed(b, s, 1_000_000)
	lines := []db.Line{{MedicationID: f.medA.ID, Quantity: 1}, {MedicationID: f.medB.ID, Quantity: 2}}
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench-%d", i)
		if err := s.Reserve(ctx, id, f.cabinet.ID, lines); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Release(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}
