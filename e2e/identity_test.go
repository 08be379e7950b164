package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
)

// TestDeactivatedPharmacistDoesNotCountTowardDualApproval runs a request that needs two
// pharmacists on the real stack: the first approver is deactivated before the second
// approval arrives, so the second does not complete it; a third, active pharmacist does.
func TestDeactivatedPharmacistDoesNotCountTowardDualApproval(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	morphine := c.controlledMedication(f, "A1", 5)
	nurse := c.token("nurse-void", pyxis.RoleNurse)
	first, second, third := c.pharmacist("pharm-void-1"), c.pharmacist("pharm-void-2"), c.pharmacist("pharm-void-3")
	admin := c.token("admin-1", pyxis.RoleAdmin)

	status, body := c.do("POST", "/v1/requests", nurse, map[string]any{
		"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": "MRN-VOID-1", "bed": "4"}, "priority": "urgent",
		"items": []map[string]any{{"medication_id": morphine, "quantity": 1}},
	})
	require.Equal(t, http.StatusCreated, status, body)
	id := body["id"].(string)
	c.waitStatus(id, nurse, "awaiting_approval")
	status, body = c.do("POST", "/v1/requests/"+id+"/approve", first, map[string]any{"note": "first check"})
	require.Equal(t, http.StatusAccepted, status, body)
	require.Equal(t, "awaiting_approval", body["status"])
	// The API learns the first approval from the projection.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Contains(ct, c.auditActions(id, nurse), "approval_recorded")
	}, 10*time.Second, 50*time.Millisecond)

	status, body = c.do("PATCH", "/v1/users/pharm-void-1", admin, map[string]any{"active": false})
	require.Equal(t, http.StatusOK, status, body)
	status, _ = c.do("GET", "/v1/requests/"+id, first, nil)
	assert.Equal(t, http.StatusUnauthorized, status, "a deactivated pharmacist's token is refused")

	status, body = c.do("POST", "/v1/requests/"+id+"/approve", second, nil)
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "awaiting_approval", body["status"], "the deactivated pharmacist's approval no longer counts")
	approvals := body["approvals"].([]any)
	require.Len(t, approvals, 1)
	assert.Equal(t, "pharm-void-2", approvals[0].(map[string]any)["actor"].(map[string]any)["id"])

	status, body = c.do("POST", "/v1/requests/"+id+"/approve", third, nil)
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "approved", body["status"])
	c.waitStatus(id, nurse, "ready_at_cabinet")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, []string{"submitted", "stock_reserved", "approval_recorded", "approval_voided", "approval_recorded", "approved", "authorized_at_cabinet"},
			c.auditActions(id, nurse))
	}, 10*time.Second, 100*time.Millisecond)
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureRunningHistory(t, id, "dual_approval_voided")
}

// TestNeedToKnowAndAccessLogEndToEnd reads a request over the real stack as nurses of its
// cabinet's unit and of none, and finds the reads in the access log.
func TestNeedToKnowAndAccessLogEndToEnd(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5) // its cabinet is on "Test unit"
	owner := c.token("nurse-ntk-owner", pyxis.RoleNurse)
	id := c.create(f, owner, 1)
	c.waitStatus(id, owner, "awaiting_approval")
	admin := c.token("admin-1", pyxis.RoleAdmin)
	status, body := c.do("POST", "/v1/users", admin, map[string]any{"id": "nurse-ntk-unit", "name": "Unit Nurse", "role": "nurse", "unit": "Test unit"})
	require.Equal(t, http.StatusCreated, status, body)
	colleague, stranger := c.token("nurse-ntk-unit", pyxis.RoleNurse), c.token("nurse-ntk-stranger", pyxis.RoleNurse)

	status, body = c.do("GET", "/v1/requests/"+id, colleague, nil, "X-Request-ID", "e2e-ntk-read")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "MRN-778899", body["patient"].(map[string]any)["mrn"])
	status, body = c.do("GET", "/v1/requests/"+id, stranger, nil)
	assert.Equal(t, http.StatusNotFound, status, body)
	assert.NotContains(t, fmt.Sprint(body), "MRN")
	status, body = c.do("GET", "/v1/requests/"+id+"/audit", stranger, nil)
	assert.Equal(t, http.StatusNotFound, status, body)
	status, body = c.do("GET", fmt.Sprintf("/v1/requests?cabinet_id=%d", f.cabinetID), stranger, nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Empty(t, body["data"])

	status, body = c.do("GET", "/v1/access-log?request_id="+id+"&actor_id=nurse-ntk-unit", admin, nil)
	require.Equal(t, http.StatusOK, status, body)
	entries := body["data"].([]any)
	require.Len(t, entries, 1)
	e := entries[0].(map[string]any)
	assert.Equal(t, "request.read", e["action"])
	assert.Equal(t, "e2e-ntk-read", e["x_request_id"])
	assert.Equal(t, "127.0.0.1", e["client_ip"])
}
