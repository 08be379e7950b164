package activities_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// siteDriver records the item master updates it is asked to send, per site.
type siteDriver struct {
	recordingDriver
	mu    sync.Mutex
	sites []cabinet.Site
	items []cabinet.Item
}

func (d *siteDriver) UpdateItemAt(_ context.Context, s cabinet.Site, it cabinet.Item) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sites = append(d.sites, s)
	d.items = append(d.items, it)
	return nil
}

// Cabinets behind one address (a central cabinet server, an interface engine) share one item
// master: the update goes there once, naming every cabinet at the address that stocks the
// medication, and not to the cabinets of other addresses.
func TestItemMasterUpdateGoesOncePerAddress(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	ctx := context.Background()
	tech := pyxis.Actor{ID: "tech", Role: pyxis.RoleTechnician}
	med, err := store.CreateMedication(ctx, db.NewMedication{Code: "PARA500", Name: "Paracetamol", Unit: "tablet"})
	require.NoError(t, err)
	var ids []int64
	for _, c := range []struct{ code, addr string }{
		{"ICU-1", "pyxis-es.hosp:2575"}, {"ICU-2", "PYXIS-ES.hosp:2575 "}, {"ER-1", "10.0.0.9:2575"}, {"ICU-3", "pyxis-es.hosp:2575"},
	} {
		cab, err := store.CreateCabinet(ctx, db.NewCabinet{Code: c.code, Name: c.code, Driver: "hl7", Address: c.addr})
		require.NoError(t, err)
		ids = append(ids, cab.ID)
		if c.code != "ICU-3" { // ICU-3 does not stock it
			_, err = store.SetStock(ctx, cab.ID, med.ID, 5, 5, tech)
			require.NoError(t, err)
		}
	}

	driver := &siteDriver{}
	a := &activities.Activities{Store: store, Cabinets: driver}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	_, err = env.ExecuteActivity(a.SyncItem, activities.ItemInput{CabinetID: ids[0], MedicationID: med.ID})
	require.NoError(t, err)
	require.Len(t, driver.sites, 1, "one message for the address")
	assert.Equal(t, cabinet.Site{Driver: "hl7", Address: "pyxis-es.hosp:2575", Cabinets: []string{"ICU-1", "ICU-2"}}, driver.sites[0])

	_, err = env.ExecuteActivity(a.SyncItem, activities.ItemInput{CabinetID: ids[2], MedicationID: med.ID})
	require.NoError(t, err)
	require.Len(t, driver.sites, 2)
	assert.Equal(t, []string{"ER-1"}, driver.sites[1].Cabinets, "a cabinet of its own address")
}

// A deactivated medication is sent to the item master as a deactivation (MFE-1 MDC), with
// its barcodes; orders name its route (RXR-1) as the catalogue gives it.
func TestDeactivatedMedicationIsSentAsSuch(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	ctx := context.Background()
	med, err := store.CreateMedication(ctx, db.NewMedication{Code: "MORF10", Name: "Morphine", Unit: "ampoule",
		Route: "IM", Barcodes: []string{"07891058001155"}})
	require.NoError(t, err)
	cab, err := store.CreateCabinet(ctx, db.NewCabinet{Code: "ICU-1", Name: "ICU", Driver: "hl7", Address: "10.0.0.1:2575"})
	require.NoError(t, err)
	_, err = store.SetStock(ctx, cab.ID, med.ID, 5, 5, pyxis.Actor{ID: "tech", Role: pyxis.RoleTechnician})
	require.NoError(t, err)
	_, err = store.UpdateMedication(ctx, med.ID, db.MedicationChange{Name: med.Name, Unit: med.Unit, Route: med.Route,
		Barcodes: med.Barcodes, Active: false}, pyxis.Actor{ID: "admin", Role: pyxis.RoleAdmin})
	require.NoError(t, err)

	driver := &siteDriver{}
	a := &activities.Activities{Store: store, Cabinets: driver}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	_, err = env.ExecuteActivity(a.SyncItem, activities.ItemInput{CabinetID: cab.ID, MedicationID: med.ID})
	require.NoError(t, err)
	require.Len(t, driver.items, 1)
	assert.True(t, driver.items[0].Deactivated)
	assert.Equal(t, []string{"07891058001155"}, driver.items[0].Barcodes)

	v, err := env.ExecuteActivity(a.PrepareOrder, activities.CabinetInput{RequestID: "medreq-1", RequestHeader: pyxis.RequestHeader{
		CabinetID: cab.ID, Patient: pyxis.Patient{MRN: "MRN-1", Bed: "12B"}, Lines: []pyxis.Line{{MedicationID: med.ID, Quantity: 1}}}})
	require.NoError(t, err)
	var o cabinet.Order
	require.NoError(t, v.Get(&o))
	assert.Equal(t, "IM", o.Lines[0].Route)
	assert.Equal(t, "12B", o.PatientBed, "PV1-3's bed comes from the request")
}
