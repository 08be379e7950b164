package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

// TestAdminsCannotRaiseThemselves: an admin's own role and reactivation are another admin's
// to change (403 on the token's own subject); others' are not refused.
func TestAdminsCannotRaiseThemselves(t *testing.T) {
	h, store, _ := edgeServer(t, nil)
	admin := testToken(t, "admin-1", pyxis.RoleAdmin)
	admin2 := testToken(t, "admin-2", pyxis.RoleAdmin)
	require.Equal(t, http.StatusOK, call(h, "GET", "/v1/users", admin, "").Code) // joins the directory
	require.Equal(t, http.StatusOK, call(h, "GET", "/v1/users", admin2, "").Code)

	for _, body := range []string{`{"role": "admin"}`, `{"role": "nurse"}`, `{"active": true}`, `{"name": "A", "role": "pharmacist"}`} {
		requireError(t, call(h, "PATCH", "/v1/users/admin-1", admin, body), http.StatusForbidden, CodeForbidden)
	}
	u, err := store.GetUser(context.Background(), "admin-1")
	require.NoError(t, err)
	assert.Equal(t, pyxis.RoleAdmin, u.Role, "a refused change changes nothing")
	require.Equal(t, http.StatusOK, call(h, "PATCH", "/v1/users/admin-1", admin, `{"name": "Admin One"}`).Code, "the own name may change")
	require.Equal(t, http.StatusOK, call(h, "PATCH", "/v1/users/admin-1", admin2, `{"role": "pharmacist"}`).Code, "another admin may")
}

// TestControlledListLoweredOnlyWhenNoPocketHoldsIt: PATCH /v1/medications/{id} may raise a
// controlled list at any time, and lowers or removes it only when no pocket holds the
// medication (409 controlled_list_in_stock).
func TestControlledListLoweredOnlyWhenNoPocketHoldsIt(t *testing.T) {
	h, store, _ := edgeServer(t, nil)
	ctx := context.Background()
	admin := testToken(t, "admin-1", pyxis.RoleAdmin)
	cab, err := store.CreateCabinet(ctx, db.NewCabinet{Code: "CTL-1", Name: "c", Driver: "sim"})
	require.NoError(t, err)
	med, err := store.CreateMedication(ctx, db.NewMedication{Code: "DIAZ10", Name: "Diazepam"})
	require.NoError(t, err)
	_, err = store.SetStock(ctx, cab.ID, med.ID, 4, 4, pyxis.Actor{ID: "tech-1", Role: pyxis.RoleTechnician})
	require.NoError(t, err)
	path := fmt.Sprintf("/v1/medications/%d", med.ID)

	require.Equal(t, http.StatusOK, call(h, "PATCH", path, admin, `{"controlled_list": "B1"}`).Code, "raised")
	require.Equal(t, http.StatusOK, call(h, "PATCH", path, admin, `{"controlled_list": "A3"}`).Code, "raised again")
	requireError(t, call(h, "PATCH", path, admin, `{"controlled_list": "C1"}`), http.StatusConflict, CodeControlledInStock)
	requireError(t, call(h, "PATCH", path, admin, `{"controlled_list": ""}`), http.StatusConflict, CodeControlledInStock)
	got, err := store.GetMedication(ctx, med.ID)
	require.NoError(t, err)
	assert.Equal(t, "A3", got.ControlledList)
}
