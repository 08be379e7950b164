package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/codec"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/service"
	"github.com/medreq/pyxis/worker"
)

// TestSimulatedCabinetRefusedWhereNotAllowed runs a worker and an API as `pyxis worker` and
// `pyxis api` run them without PYXIS_ALLOW_SIMULATED_CABINETS, against a Temporal server of
// their own and the shared database: a new sim cabinet is refused (422), and a request at a
// sim cabinet registered before (rows keep their driver) fails at the cabinet step with
// reason_code cabinet_not_configured, its stock released.
func TestSimulatedCabinetRefusedWhereNotAllowed(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	tc := ts.NewClientWithOptions(client.Options{DataConverter: codec.NewDataConverter(e2e.codec)})
	// The worker registers the search attributes too, but the API starts workflows with them:
	// they must be there before the first request.
	saCtx, saCancel := context.WithTimeout(context.Background(), time.Minute)
	defer saCancel()
	require.NoError(t, worker.EnsureSearchAttributes(saCtx, tc, ts.GetDefaultNamespace()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.ServeWorker(ctx, tc, e2e.store, service.Config{TemporalNamespace: ts.GetDefaultNamespace(), CabinetAckTimeout: time.Second})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	cfg := testConfig()
	cfg.AllowSimulatedCabinets = false
	cfg.JWTSecret, cfg.Codec = e2e.secret, e2e.codec
	as := api.NewServer(e2e.store, tc, cfg)
	srv := httptest.NewServer(as.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(as.Close)
	c := newAPIClient(t, srv.URL)

	admin := c.token("admin-nosim", pyxis.RoleAdmin)
	code := fmt.Sprintf("SIM-OLD-%d", time.Now().UnixNano()%1e9)
	status, body := c.do("POST", "/v1/cabinets", admin, map[string]any{"code": code + "-NEW", "name": "n", "driver": "sim"})
	require.Equal(t, http.StatusUnprocessableEntity, status, body)
	status, body = c.do("GET", "/readyz", "", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.NotContains(t, body, "simulated_cabinets")

	bg := context.Background()
	cab, err := e2e.store.CreateCabinet(bg, db.NewCabinet{Code: code, Name: "registered before", Driver: "sim"})
	require.NoError(t, err)
	med, err := e2e.store.CreateMedication(bg, db.NewMedication{Code: code + "-M", Name: "Paracetamol", Unit: "tablet"})
	require.NoError(t, err)
	_, err = e2e.store.SetStock(bg, cab.ID, med.ID, 5, 5, pyxis.Actor{ID: "tech-1", Role: pyxis.RoleTechnician})
	require.NoError(t, err)
	f := fixture{cabinetID: cab.ID, cabinetCode: code, meds: []int64{med.ID}}

	nurse := c.token("nurse-nosim", pyxis.RoleNurse)
	id := c.create(f, nurse, 2)
	c.waitStatus(id, nurse, "awaiting_approval")
	_, reserved := c.stock(f, med.ID)
	require.Equal(t, 2, reserved)
	status, body = c.do("POST", "/v1/requests/"+id+"/approve", c.token("pharm-nosim", pyxis.RolePharmacist), nil)
	require.Equal(t, http.StatusAccepted, status, body)
	state := c.waitStatus(id, nurse, "failed")
	assert.Equal(t, ptr("cabinet_not_configured"), state.ReasonCode)
	assert.Equal(t, ptr("the cabinet cannot take orders: simulated cabinets are not allowed on this system"), state.Reason)
	onHand, reserved := c.stock(f, med.ID)
	assert.Equal(t, []int{5, 0}, []int{onHand, reserved}, "stock released, nothing dispensed")
	assert.False(t, e2e.sim.Authorized(id), "no simulator was commanded")
}
