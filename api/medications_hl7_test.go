package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// syncSpy records the item syncs the API starts (SignalWithStart of ItemSync).
type syncSpy struct {
	client.Client
	mu  sync.Mutex
	ids []string
}

func (s *syncSpy) SignalWithStartWorkflow(_ context.Context, id, _ string, _ any, _ client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, id)
	return nil, nil
}

func (s *syncSpy) started() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// A medication's route is checked against HL7 table 0162 when it is saved (422 naming the
// field), its barcodes are kept and shown, and deactivating it tells the item master of the
// HL7 cabinets that stock it: once per address.
func TestMedicationRouteBarcodesAndDeactivation(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	ctx := context.Background()
	spy := &syncSpy{}
	s := NewServer(store, spy, func() Config {
		cfg := DefaultConfig()
		cfg.JWTSecret = testSecret
		cfg.RateLimit = 0
		return cfg
	}())
	t.Cleanup(s.Close)
	h := s.Handler()
	admin := testToken(t, "admin-med", pyxis.RoleAdmin)

	field := func(body string) string {
		var e struct {
			Error struct {
				Details []struct{ Field string } `json:"details"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &e), body)
		require.NotEmpty(t, e.Error.Details, body)
		return e.Error.Details[0].Field
	}
	rec := call(h, "POST", "/v1/medications", admin, `{"code": "MORF10", "name": "Morphine", "route": "VEIA"}`)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
	assert.Equal(t, "route", field(rec.Body.String()))
	rec = call(h, "POST", "/v1/medications", admin, `{"code": "MORF10", "name": "Morphine", "barcodes": ["789|1"]}`)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
	assert.Equal(t, "barcodes[0]", field(rec.Body.String()))

	rec = call(h, "POST", "/v1/medications", admin, `{"code": "MORF10", "name": "Morphine", "form": "ampoule", "unit": "ampoule",
		"route": "iv", "barcodes": ["07891058001155", "0409-1890-01"]}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var med MedicationBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &med))
	assert.Equal(t, "IV", med.Route)
	assert.Equal(t, []string{"07891058001155", "0409-1890-01"}, med.Barcodes)
	require.NotNil(t, med.Active)
	assert.True(t, *med.Active)

	rec = call(h, "PATCH", fmt.Sprintf("/v1/medications/%d", med.ID), admin, `{"route": "XYZ"}`)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
	assert.Equal(t, "route", field(rec.Body.String()))

	// Two HL7 cabinets behind one central server and one of its own stock it.
	var cabs []pyxis.Cabinet
	for _, c := range [][2]string{{"ICU-1", "pyxis-es:2575"}, {"ICU-2", "pyxis-es:2575"}, {"ER-1", "10.0.0.9:2575"}} {
		cab, err := store.CreateCabinet(ctx, db.NewCabinet{Code: c[0], Name: c[0], Driver: "hl7", Address: c[1]})
		require.NoError(t, err)
		_, err = store.SetStock(ctx, cab.ID, med.ID, 5, 5, pyxis.Actor{ID: "t", Role: pyxis.RoleTechnician})
		require.NoError(t, err)
		cabs = append(cabs, cab)
	}
	rec = call(h, "PATCH", fmt.Sprintf("/v1/medications/%d", med.ID), admin, `{"active": false}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &med))
	assert.False(t, *med.Active)
	assert.Equal(t, "IV", med.Route, "unchanged")
	got, err := store.GetMedication(ctx, med.ID)
	require.NoError(t, err)
	assert.False(t, got.Active)
	assert.ElementsMatch(t, []string{fmt.Sprintf("items-%d-%d", cabs[0].ID, med.ID), fmt.Sprintf("items-%d-%d", cabs[2].ID, med.ID)},
		spy.started(), "one item sync per address")
}

// Without PYXIS_HL7_TIMEZONE an hl7 cabinet is refused (422 naming driver), as the api and
// the worker refuse to start with one; a simulated one is not concerned.
func TestHL7CabinetNeedsTheZone(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	s := NewServer(store, nil, func() Config {
		cfg := DefaultConfig()
		cfg.JWTSecret = testSecret
		cfg.RateLimit = 0
		cfg.AllowSimulatedCabinets = true
		cfg.HL7ZoneUnset = true
		return cfg
	}())
	t.Cleanup(s.Close)
	admin := testToken(t, "admin-zone", pyxis.RoleAdmin)
	rec := call(s.Handler(), "POST", "/v1/cabinets", admin, `{"code": "ICU-1", "name": "ICU", "driver": "hl7", "address": "10.0.0.1:2575"}`)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), "PYXIS_HL7_TIMEZONE")
	rec = call(s.Handler(), "POST", "/v1/cabinets", admin, `{"code": "SIM-1", "name": "Sim", "driver": "sim"}`)
	assert.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
}
