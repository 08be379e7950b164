package activities_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// recordingDriver records the orders that reach it.
type recordingDriver struct {
	mu     sync.Mutex
	orders []string
}

func (d *recordingDriver) record(what string, o cabinet.Order) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.orders = append(d.orders, what+" "+o.CabinetCode)
	return nil
}

func (d *recordingDriver) Authorize(_ context.Context, o cabinet.Order) error {
	return d.record("authorize", o)
}

func (d *recordingDriver) Revoke(_ context.Context, o cabinet.Order) error {
	return d.record("revoke", o)
}

func (d *recordingDriver) UpdateItem(context.Context, cabinet.CabinetTarget, cabinet.Item) error {
	return nil
}

func (d *recordingDriver) got() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.orders...)
}

// TestSimulatedCabinetsAreCommandedOnlyWhereAllowed: a worker that does not allow simulated
// cabinets refuses to command one, at once and for good (a non-retryable
// CabinetNotConfigured whose first detail is a fixed phrase); where they are allowed, and for
// every hl7 cabinet, the command goes to the driver.
func TestSimulatedCabinetsAreCommandedOnlyWhereAllowed(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	ctx := context.Background()
	sim, err := store.CreateCabinet(ctx, db.NewCabinet{Code: "SIM-1", Name: "simulated", Driver: "sim"})
	require.NoError(t, err)
	hl7Cab, err := store.CreateCabinet(ctx, db.NewCabinet{Code: "HL7-1", Name: "real", Driver: "hl7", Address: "10.0.0.1:2575"})
	require.NoError(t, err)
	med, err := store.CreateMedication(ctx, db.NewMedication{Code: "PARA500", Name: "Paracetamol"})
	require.NoError(t, err)
	input := func(cabinetID int64) activities.CabinetInput {
		return activities.CabinetInput{RequestID: "medreq-1", RequestHeader: pyxis.RequestHeader{
			CabinetID: cabinetID, Patient: pyxis.Patient{MRN: "MRN-1"}, Lines: []pyxis.Line{{MedicationID: med.ID, Quantity: 1}}}}
	}

	for _, allowed := range []bool{false, true} {
		driver := &recordingDriver{}
		a := &activities.Activities{Store: store, Cabinets: driver, SimulatedCabinets: allowed}
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		// command prepares the order and sends it with send, as the workflow does.
		command := func(send any, cabinetID int64) error {
			v, err := env.ExecuteActivity(a.PrepareOrder, input(cabinetID))
			if err != nil {
				return err
			}
			var o cabinet.Order
			require.NoError(t, v.Get(&o))
			_, err = env.ExecuteActivity(send, activities.Delivery{Order: o})
			return err
		}

		for _, send := range []any{a.DispenseOrder, a.WithdrawOrder} {
			err := command(send, sim.ID)
			if allowed {
				require.NoError(t, err)
				continue
			}
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "%v", err)
			assert.Equal(t, activities.ErrCabinetNotConfigured, appErr.Type())
			assert.True(t, appErr.NonRetryable())
			var detail string
			require.NoError(t, appErr.Details(&detail))
			assert.Equal(t, "simulated cabinets are not allowed on this system", detail)
		}
		require.NoError(t, command(a.DispenseOrder, hl7Cab.ID))
		if allowed {
			assert.Equal(t, []string{"authorize SIM-1", "revoke SIM-1", "authorize HL7-1"}, driver.got())
		} else {
			assert.Equal(t, []string{"authorize HL7-1"}, driver.got(), "nothing reached a simulated cabinet")
		}
	}
}
