package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
)

func TestAuthentication(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	forged, err := api.IssueToken([]byte("another-secret-another-secret-!!"), "nurse-x", "X", pyxis.RoleNurse, time.Hour, time.Now())
	require.NoError(t, err)
	expired, err := api.IssueToken(e2e.secret, "nurse-x", "X", pyxis.RoleNurse, time.Minute, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	noExp, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "nurse-x", "role": "nurse"}).SignedString(e2e.secret)
	require.NoError(t, err)
	badRole, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "x", "role": "surgeon", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(e2e.secret)
	require.NoError(t, err)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "x", "role": "admin", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)

	body := map[string]any{"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": "M1"}, "priority": "stat",
		"items": []map[string]any{{"medication_id": f.meds[0], "quantity": 1}}}
	for _, tc := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"no token", "GET", "/v1/requests", "", http.StatusUnauthorized},
		{"garbage token", "GET", "/v1/requests", "not.a.jwt", http.StatusUnauthorized},
		{"wrong secret", "GET", "/v1/requests", forged, http.StatusUnauthorized},
		{"expired", "GET", "/v1/requests", expired, http.StatusUnauthorized},
		{"no expiry", "GET", "/v1/requests", noExp, http.StatusUnauthorized},
		{"unknown role", "GET", "/v1/requests", badRole, http.StatusUnauthorized},
		{"alg none", "GET", "/v1/requests", none, http.StatusUnauthorized},
		{"technician creates", "POST", "/v1/requests", c.token("tech", pyxis.RoleTechnician), http.StatusForbidden},
		{"pharmacist creates", "POST", "/v1/requests", c.token("ph", pyxis.RolePharmacist), http.StatusForbidden},
		{"technician reads requests", "GET", "/v1/requests", c.token("tech", pyxis.RoleTechnician), http.StatusForbidden},
		// A nurse never approves; of a request that does not exist (or she may not see) she
		// learns only that: 404, as on every route of such a request.
		{"nurse approves", "POST", "/v1/requests/medreq-01J00000000000000000000000/approve", c.token("n", pyxis.RoleNurse), http.StatusNotFound},
		{"nurse sets stock", "PUT", fmt.Sprintf("/v1/cabinets/%d/stock/%d", f.cabinetID, f.meds[0]), c.token("n", pyxis.RoleNurse), http.StatusForbidden},
		{"pharmacist adds medication", "POST", "/v1/medications", c.token("ph", pyxis.RolePharmacist), http.StatusForbidden},
		{"nurse lists requests", "GET", "/v1/requests", c.token("n", pyxis.RoleNurse), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b any
			if tc.method != "GET" {
				b = body
			}
			// One body for every route: only the token is the point here.
			status, resp := c.malformed().do(tc.method, tc.path, tc.token, b)
			assert.Equal(t, tc.want, status, resp)
			if tc.want >= 400 {
				errBody := resp["error"].(map[string]any)
				assert.NotEmpty(t, errBody["code"])
				assert.NotEmpty(t, errBody["message"])
			}
		})
	}
}

func TestRequestAsOwnerOnlyPharmacistMayApprove(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-self", pyxis.RoleNurse)
	id := c.create(f, nurse, 1)
	c.waitStatus(id, nurse, "awaiting_approval")
	// A pharmacist token with the requester's subject: the requester never approves their own.
	self := c.token("nurse-self", pyxis.RolePharmacist)
	status, body := c.do("POST", "/v1/requests/"+id+"/approve", self, nil)
	assert.Equal(t, http.StatusForbidden, status, body)
}

// TestBadInputStartsAndWritesNothing sends each kind of bad create request and checks the
// answer and that no request, workflow or reservation came of it.
func TestBadInputStartsAndWritesNothing(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-bad", pyxis.RoleNurse)
	item := func(med int64, qty int) map[string]any { return map[string]any{"medication_id": med, "quantity": qty} }
	valid := func(items ...map[string]any) map[string]any {
		return map[string]any{"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": "M-1", "bed": "1"}, "priority": "urgent", "items": items}
	}
	many := make([]map[string]any, 51)
	for i := range many {
		many[i] = item(int64(1_000_000+i), 1)
	}
	withCabinet := valid(item(f.meds[0], 1))
	withCabinet["cabinet_id"] = 987654321

	for _, tc := range []struct {
		name  string
		body  any
		want  int
		code  string
		field string
	}{
		{"malformed JSON", `{"cabinet_id": `, http.StatusBadRequest, "invalid_json", ""},
		{"not an object", `[1,2]`, http.StatusBadRequest, "invalid_json", ""},
		{"empty body", ``, http.StatusBadRequest, "invalid_json", ""},
		{"unknown field", `{"cabinet_id": 1, "quantitiy": 2}`, http.StatusBadRequest, "invalid_json", "quantitiy"},
		{"wrong type", `{"cabinet_id": "one"}`, http.StatusBadRequest, "invalid_json", "cabinet_id"},
		{"empty items", valid(), http.StatusUnprocessableEntity, "validation_failed", "items"},
		{"zero quantity", valid(item(f.meds[0], 0)), http.StatusUnprocessableEntity, "validation_failed", "items[0].quantity"},
		{"negative quantity", valid(item(f.meds[0], -3)), http.StatusUnprocessableEntity, "validation_failed", "items[0].quantity"},
		{"51 lines", valid(many...), http.StatusUnprocessableEntity, "validation_failed", "items"},
		{"duplicate line", valid(item(f.meds[0], 1), item(f.meds[0], 2)), http.StatusUnprocessableEntity, "validation_failed", "items[1].medication_id"},
		{"bad priority", map[string]any{"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": "M"}, "priority": "asap", "items": []any{item(f.meds[0], 1)}}, http.StatusUnprocessableEntity, "validation_failed", "priority"},
		{"no MRN", map[string]any{"cabinet_id": f.cabinetID, "priority": "stat", "items": []any{item(f.meds[0], 1)}}, http.StatusUnprocessableEntity, "validation_failed", "patient.mrn"},
		{"unknown medication", valid(item(f.meds[0], 1), item(999999999, 1)), http.StatusNotFound, "not_found", "items[1].medication_id"},
		{"unknown cabinet", withCabinet, http.StatusNotFound, "not_found", "cabinet_id"},
		{"over 1 MiB", `{"cabinet_id": 1, "patient": {"mrn": "` + strings.Repeat("x", api.MaxBodyBytes) + `"}}`, http.StatusRequestEntityTooLarge, "payload_too_large", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, resp := c.malformed().do("POST", "/v1/requests", nurse, tc.body)
			require.Equal(t, tc.want, status, resp)
			errBody := resp["error"].(map[string]any)
			assert.Equal(t, tc.code, errBody["code"])
			if tc.field != "" {
				assert.Contains(t, fmt.Sprint(errBody["details"]), tc.field)
			}
		})
	}

	status, list := c.do("GET", fmt.Sprintf("/v1/requests?cabinet_id=%d", f.cabinetID), nurse, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, list["data"], "no request was recorded")
	onHand, reserved := c.stock(f, f.meds[0])
	assert.Equal(t, []int{5, 0}, []int{onHand, reserved}, "nothing was reserved")
	resp, err := e2e.tc.ListWorkflow(t.Context(), listRequest(fmt.Sprintf("CabinetCode=%q", f.cabinetCode)))
	require.NoError(t, err)
	assert.Empty(t, resp.GetExecutions(), "no workflow was started")
}

func TestListFiltersAndPaginates(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(50)
	nurse := c.token("nurse-list", pyxis.RoleNurse)
	var ids []string
	for range 5 {
		ids = append(ids, c.create(f, nurse, 1))
	}
	for _, id := range ids {
		c.waitStatus(id, nurse, "awaiting_approval")
	}
	// The list reads the projection, which follows the workflow's state a moment later.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		status, body := c.do("GET", fmt.Sprintf("/v1/requests?cabinet_id=%d&status=awaiting_approval", f.cabinetID), nurse, nil)
		if assert.Equal(ct, http.StatusOK, status) {
			assert.Len(ct, body["data"], len(ids))
		}
	}, 10*time.Second, 100*time.Millisecond)
	var seen []string
	cursor := ""
	for page := 0; page < 5; page++ {
		path := fmt.Sprintf("/v1/requests?cabinet_id=%d&status=awaiting_approval&limit=2", f.cabinetID)
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		status, body := c.do("GET", path, nurse, nil)
		require.Equal(t, http.StatusOK, status, body)
		for _, r := range body["data"].([]any) {
			seen = append(seen, r.(map[string]any)["id"].(string))
		}
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	// Newest first: the reverse of creation order.
	want := make([]string, len(ids))
	for i, id := range ids {
		want[len(ids)-1-i] = id
	}
	assert.Equal(t, want, seen)

	for _, q := range []string{"status=bogus", "limit=0", "limit=1000", "cabinet_id=abc", "cursor=%21%21"} {
		status, body := c.malformed().do("GET", "/v1/requests?"+q, nurse, nil)
		assert.Equal(t, http.StatusBadRequest/100, status/100, "%s: %v", q, body)
	}
}

func TestCatalogueAndStock(t *testing.T) {
	c := newAPI(t, testConfig())
	admin := c.token("admin-cat", pyxis.RoleAdmin)
	tech := c.token("tech-cat", pyxis.RoleTechnician)
	f := c.fixture(2)

	status, body := c.do("POST", "/v1/medications", admin, map[string]any{"code": fmt.Sprintf("%s-M0", f.cabinetCode), "name": "dup"})
	assert.Equal(t, http.StatusConflict, status, body)
	status, body = c.do("POST", "/v1/medications", admin, map[string]any{"code": "", "name": ""})
	assert.Equal(t, http.StatusUnprocessableEntity, status, body)
	status, body = c.do("POST", "/v1/cabinets", admin, map[string]any{"code": f.cabinetCode, "name": "dup", "driver": "sim"})
	assert.Equal(t, http.StatusConflict, status, body)
	status, body = c.malformed().do("POST", "/v1/cabinets", admin, map[string]any{"code": "X-" + f.cabinetCode, "name": "n", "status": "broken", "driver": "sim"})
	assert.Equal(t, http.StatusUnprocessableEntity, status, body)

	stockPath := fmt.Sprintf("/v1/cabinets/%d/stock/%d", f.cabinetID, f.meds[0])
	status, body = c.malformed().do("PUT", stockPath, tech, map[string]any{"on_hand": 12})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "par_level is required: %v", body)
	status, body = c.malformed().do("PUT", stockPath, tech, map[string]any{"on_hand": -1, "par_level": 3})
	assert.Equal(t, http.StatusUnprocessableEntity, status, body)
	status, body = c.do("PUT", fmt.Sprintf("/v1/cabinets/%d/stock/%d", f.cabinetID, 999999999), tech, map[string]any{"on_hand": 1, "par_level": 1})
	assert.Equal(t, http.StatusNotFound, status, body)
	status, body = c.do("GET", "/v1/cabinets/999999999/stock", tech, nil)
	assert.Equal(t, http.StatusNotFound, status, body)

	// Reserve 2, then try to count the pocket below what is reserved.
	nurse := c.token("nurse-cat", pyxis.RoleNurse)
	id := c.create(f, nurse, 2)
	c.waitStatus(id, nurse, "awaiting_approval")
	status, body = c.do("PUT", stockPath, tech, map[string]any{"on_hand": 1, "par_level": 2})
	assert.Equal(t, http.StatusConflict, status, body)
	status, body = c.do("PUT", stockPath, tech, map[string]any{"on_hand": 8, "par_level": 4})
	require.Equal(t, http.StatusOK, status, body)
	assert.EqualValues(t, 6, body["available"])

	status, body = c.do("GET", "/v1/medications", nurse, nil)
	require.Equal(t, http.StatusOK, status)
	assert.NotEmpty(t, body["data"])
	status, body = c.do("GET", "/v1/cabinets", nurse, nil)
	require.Equal(t, http.StatusOK, status)
	assert.NotEmpty(t, body["data"])
}

func TestHealthAndReadiness(t *testing.T) {
	c := newAPI(t, testConfig())
	status, body := c.do("GET", "/healthz", "", nil)
	assert.Equal(t, http.StatusOK, status, body)
	status, body = c.do("GET", "/readyz", "", nil)
	assert.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, map[string]any{"postgres": "ok", "temporal": "ok"}, body["checks"])
	status, body = c.malformed().do("GET", "/v1/nowhere", c.token("a", pyxis.RoleAdmin), nil)
	assert.Equal(t, http.StatusNotFound, status, body)
}
