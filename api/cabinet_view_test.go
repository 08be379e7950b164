package api

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
)

// TestCabinetsShowWhereTheyListenToAdminsOnly: GET /v1/cabinets answers address and
// report_sources to admins only, and no cabinet is believed from every address.
func TestCabinetsShowWhereTheyListenToAdminsOnly(t *testing.T) {
	h, _, _ := edgeServer(t, nil)
	admin := testToken(t, "admin-1", pyxis.RoleAdmin)
	rec := call(h, "POST", "/v1/cabinets", admin, `{"code": "PYX-1", "name": "One", "driver": "hl7", "address": "10.20.4.7:2575", "report_sources": ["10.20.4.0/24"]}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	id := int64(decodeMap(t, rec.Body.Bytes())["id"].(float64))

	for _, who := range []string{pyxis.RoleNurse, pyxis.RolePharmacist, pyxis.RoleTechnician} {
		rec := call(h, "GET", "/v1/cabinets", testToken(t, "u-"+who, who), "")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.NotContains(t, rec.Body.String(), "10.20.4", who)
		assert.NotContains(t, rec.Body.String(), "report_sources", who)
	}
	rec = call(h, "GET", "/v1/cabinets", admin, "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), `"address":"10.20.4.7:2575"`)
	assert.Contains(t, rec.Body.String(), `"report_sources":["10.20.4.0/24"]`)

	for _, every := range []string{"0.0.0.0/0", "::/0", "10.0.0.0/0"} {
		requireError(t, call(h, "PUT", fmt.Sprintf("/v1/cabinets/%d/report-sources", id), admin, `{"report_sources": ["`+every+`"]}`),
			http.StatusUnprocessableEntity, CodeValidation, "report_sources[0]")
		requireError(t, call(h, "POST", "/v1/cabinets", admin, `{"code": "PYX-2", "name": "Two", "driver": "hl7", "address": "10.20.4.8:2575", "report_sources": ["10.20.4.0/24", "`+every+`"]}`),
			http.StatusUnprocessableEntity, CodeValidation, "report_sources[1]")
	}
}
