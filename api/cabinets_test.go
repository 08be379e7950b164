package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// TestCabinetsNameTheirDriver: a cabinet has no default driver; hl7 needs host:port, and sim
// is taken only where simulated cabinets are allowed.
func TestCabinetsNameTheirDriver(t *testing.T) {
	for _, allowed := range []bool{false, true} {
		t.Run(fmt.Sprintf("simulated cabinets allowed %t", allowed), func(t *testing.T) {
			h, _, pool := edgeServer(t, func(c *Config) { c.AllowSimulatedCabinets = allowed })
			admin := testToken(t, "admin-1", pyxis.RoleAdmin)
			create := func(body string) (int, string) {
				rec := call(h, "POST", "/v1/cabinets", admin, body)
				return rec.Code, rec.Body.String()
			}
			status, body := create(`{"code": "C1", "name": "n"}`)
			assert.Equal(t, http.StatusUnprocessableEntity, status, body)
			assert.Contains(t, body, `{"field":"driver","message":"is required: hl7 (with the interface's address as host:port)`)
			for _, addr := range []string{"", "cabinet", "cabinet:", ":2575", "cabinet:99999", "cabinet:port"} {
				status, body = create(`{"code": "C1", "name": "n", "driver": "hl7", "address": "` + addr + `"}`)
				assert.Equal(t, http.StatusUnprocessableEntity, status, "%q: %s", addr, body)
				assert.Contains(t, body, `"field":"address"`, addr)
			}
			status, body = create(`{"code": "C1", "name": "n", "driver": "fax"}`)
			assert.Equal(t, http.StatusUnprocessableEntity, status, body)
			status, body = create(`{"code": "C2", "name": "n", "driver": "hl7", "address": "pyxis-icu.example:2575"}`)
			assert.Equal(t, http.StatusCreated, status, body)

			status, body = create(`{"code": "C3", "name": "n", "driver": "sim"}`)
			var n int
			require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM cabinets WHERE driver = 'sim'").Scan(&n))
			if allowed {
				assert.Equal(t, http.StatusCreated, status, body)
				assert.Equal(t, 1, n)
				return
			}
			assert.Equal(t, http.StatusUnprocessableEntity, status, body)
			assert.Contains(t, body, `{"field":"driver","message":"simulated cabinets are not allowed on this system"}`)
			assert.Zero(t, n)
		})
	}
}

// healthyTemporal answers health checks.
type healthyTemporal struct{ spyTemporal }

func (*healthyTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, nil
}

// TestReadyzSaysWhenSimulatedCabinetsAreAllowed.
func TestReadyzSaysWhenSimulatedCabinetsAreAllowed(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	for _, allowed := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.AllowSimulatedCabinets = allowed
		s := NewServer(store, &healthyTemporal{}, cfg)
		rec := call(s.Handler(), "GET", "/readyz", "", "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got := decodeMap(t, rec.Body.Bytes())
		if allowed {
			assert.Equal(t, "allowed", got["simulated_cabinets"])
		} else {
			assert.NotContains(t, got, "simulated_cabinets")
		}
		s.Close()
	}
}
