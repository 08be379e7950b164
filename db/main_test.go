package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// testActor is who the tests' stock counts are audited as.
var testActor = pyxis.Actor{ID: "tech-test", Role: "technician"}

// newStore returns a store on a fresh database.
func newStore(t testing.TB) *db.Store {
	t.Helper()
	return db.NewStore(dbtest.NewPool(t))
}

// testCtx returns a context that ends with the test or after a minute.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// fixture is a cabinet with two medications, stocked by the test that uses it.
type fixture struct {
	cabinet pyxis.Cabinet
	medA    pyxis.Medication
	medB    pyxis.Medication
}

// seed creates a cabinet and two medications and stocks them with onHand units each.
func seed(t testing.TB, s *db.Store, onHand int32) fixture {
	t.Helper()
	ctx := testCtx(t)
	cab, err := s.CreateCabinet(ctx, db.NewCabinet{Code: "CAB-1", Name: "Ward 1 cabinet", Unit: "W1", Driver: "sim"})
	require.NoError(t, err)
	a, err := s.CreateMedication(ctx, db.NewMedication{Code: "AMOX500", Name: "Amoxicillin", Strength: "500 mg", Form: "capsule", Unit: "cap"})
	require.NoError(t, err)
	b, err := s.CreateMedication(ctx, db.NewMedication{Code: "MORPH10", Name: "Morphine", Strength: "10 mg/ml", Form: "ampoule", Unit: "amp", ControlledList: "A1"})
	require.NoError(t, err)
	_, err = s.SetStock(ctx, cab.ID, a.ID, onHand, 5, testActor)
	require.NoError(t, err)
	stockControlled(t, s, cab.ID, b.ID, onHand, 5)
	return fixture{cabinet: cab, medA: a, medB: b}
}

// stockControlled creates a controlled medication's pocket empty and fills it with a witnessed
// load: SetStock may not change a controlled pocket's level.
func stockControlled(t testing.TB, s *db.Store, cabinetID, medicationID int64, onHand, parLevel int32) {
	t.Helper()
	ctx := testCtx(t)
	_, err := s.SetStock(ctx, cabinetID, medicationID, 0, parLevel, testActor)
	require.NoError(t, err)
	if onHand > 0 {
		_, err = s.RecordPocketChange(ctx, db.PocketChange{
			CabinetID: cabinetID, MedicationID: medicationID, Kind: db.MovementLoaded, Quantity: onHand,
			Actor: testActor, Witness: "tech-witness", Source: db.SourceAPI,
		})
		require.NoError(t, err)
	}
}

// stockOf returns the stock row of one medication in a cabinet.
func stockOf(t testing.TB, s *db.Store, cabinetID, medicationID int64) db.StockRow {
	t.Helper()
	rows, err := s.ListStock(testCtx(t), cabinetID)
	require.NoError(t, err)
	for _, r := range rows {
		if r.MedicationID == medicationID {
			return r
		}
	}
	t.Fatalf("no stock row for medication %d in cabinet %d", medicationID, cabinetID)
	return db.StockRow{}
}
