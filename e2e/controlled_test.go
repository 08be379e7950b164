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

// controlledMedication adds a medication of the given controlled list, stocked in the fixture's
// cabinet, and returns its id.
func (c *apiClient) controlledMedication(f fixture, list string, onHand int) int64 {
	c.t.Helper()
	admin := c.token("admin-1", pyxis.RoleAdmin)
	status, med := c.do("POST", "/v1/medications", admin, map[string]any{
		"code": fmt.Sprintf("%s-%s-%d", f.cabinetCode, list, c.s.seq.Add(1)), "name": "Controlled " + list, "unit": "ampoule", "controlled_list": list,
	})
	require.Equal(c.t, http.StatusCreated, status, med)
	assert.Equal(c.t, true, med["controlled"], "controlled is derived from the list")
	id := int64(med["id"].(float64))
	c.stockControlled(f, id, onHand, onHand)
	return id
}

// stockControlled creates a controlled medication's pocket empty, with its par level, and
// loads onHand units into it, witnessed: the only way a controlled pocket fills.
func (c *apiClient) stockControlled(f fixture, med int64, onHand, parLevel int) {
	c.t.Helper()
	tech := c.token("tech-1", pyxis.RoleTechnician)
	status, row := c.do("PUT", fmt.Sprintf("/v1/cabinets/%d/stock/%d", f.cabinetID, med), tech,
		map[string]any{"on_hand": 0, "par_level": parLevel})
	require.Equal(c.t, http.StatusOK, status, row)
	if onHand > 0 {
		status, row = c.do("POST", fmt.Sprintf("/v1/cabinets/%d/loads", f.cabinetID), tech,
			map[string]any{"medication_id": med, "quantity": onHand})
		require.Equal(c.t, http.StatusAccepted, status, row)
		status, row = c.do("POST", fmt.Sprintf("/v1/loads/%d/witness", int64(row["id"].(float64))),
			c.token("tech-witness", pyxis.RoleTechnician), nil)
		require.Equal(c.t, http.StatusOK, status, row)
	}
}

func TestControlledMedicationNeedsTwoDifferentPharmacists(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	morphine := c.controlledMedication(f, "A1", 5)
	nurse := c.token("nurse-ctl", pyxis.RoleNurse)
	p1 := c.pharmacist("pharm-ctl-1")
	p2 := c.pharmacist("pharm-ctl-2")

	status, body := c.do("POST", "/v1/requests", nurse, map[string]any{
		"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": "MRN-CTL-1", "bed": "3"}, "priority": "urgent",
		"items": []map[string]any{{"medication_id": f.meds[0], "quantity": 1}, {"medication_id": morphine, "quantity": 1}},
	})
	require.Equal(t, http.StatusCreated, status, body)
	id := body["id"].(string)
	assert.EqualValues(t, 2, body["required_approvals"])
	c.waitStatus(id, nurse, "awaiting_approval")

	// A pharmacist the directory knows only from her token (no registration) could be
	// anyone's second account: she does not count as one of the two.
	status, body = c.do("POST", "/v1/requests/"+id+"/approve", c.token("pharm-ctl-jit", pyxis.RolePharmacist), nil)
	assert.Equal(t, http.StatusForbidden, status, body)
	assert.Contains(t, body["error"].(map[string]any)["message"], "professional registration")

	status, body = c.do("POST", "/v1/requests/"+id+"/approve", p1, map[string]any{"note": "first check"})
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "awaiting_approval", body["status"], "one approval of two")

	status, body = c.do("POST", "/v1/requests/"+id+"/approve", p1, nil)
	assert.Equal(t, http.StatusConflict, status, body)
	assert.Equal(t, "duplicate_approval", body["error"].(map[string]any)["code"])

	status, body = c.do("POST", "/v1/requests/"+id+"/approve", c.token("nurse-other", pyxis.RoleNurse), nil)
	assert.Equal(t, http.StatusNotFound, status, "a nurse never approves, and one who may not see the request learns nothing of it: %v", body)
	status, body = c.do("POST", "/v1/requests/"+id+"/approve", nurse, nil)
	assert.Equal(t, http.StatusForbidden, status, "a nurse never approves, not even her own: %v", body)

	status, body = c.do("POST", "/v1/requests/"+id+"/approve", p2, nil)
	require.Equal(t, http.StatusAccepted, status, body)
	state := c.waitStatus(id, nurse, "ready_at_cabinet")
	require.NotNil(t, state.Approvals)
	assert.Len(t, *state.Approvals, 2)

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		// The refusal is audited by the API at once, the first approval by the workflow's
		// next activity: their order may vary, the entries may not.
		assert.ElementsMatch(ct, []string{"submitted", "stock_reserved", "approval_recorded", "approval_refused", "approved", "authorized_at_cabinet"},
			c.auditActions(id, p2))
	}, 10*time.Second, 100*time.Millisecond)
	c.requireProjectionMatchesWorkflow(id, p2)
	captureRunningHistory(t, id, "dual_approval_ready")
}

func TestUncontrolledAndLowerListsNeedOneApproval(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	c1 := c.controlledMedication(f, "C1", 5) // not a dual-approval list by default
	nurse := c.token("nurse-c1", pyxis.RoleNurse)
	status, body := c.do("POST", "/v1/requests", nurse, map[string]any{
		"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": "MRN-C1"}, "priority": "routine",
		"items": []map[string]any{{"medication_id": c1, "quantity": 1}},
	})
	require.Equal(t, http.StatusCreated, status, body)
	assert.EqualValues(t, 1, body["required_approvals"])

	admin := c.token("admin-1", pyxis.RoleAdmin)
	status, body = c.malformed().do("POST", "/v1/medications", admin, map[string]any{"code": "BAD-LIST-" + f.cabinetCode, "name": "x", "controlled_list": "Z9"})
	assert.Equal(t, http.StatusUnprocessableEntity, status, body)
	status, body = c.do("POST", "/v1/medications", admin, map[string]any{"code": "NO-LIST-" + f.cabinetCode, "name": "x", "controlled": true})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "controlled needs its list: %v", body)
}

// Two accounts of one professional registration are one pharmacist: the registration the
// users directory holds goes with each approval, and the second approval under it is refused
// (409 duplicate_approval); a pharmacist of another registration completes the request.
func TestDualApprovalNeedsTwoRegistrations(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	morphine := c.controlledMedication(f, "A1", 5)
	nurse := c.token("nurse-reg", pyxis.RoleNurse)
	admin := c.token("admin-1", pyxis.RoleAdmin)
	for id, reg := range map[string]string{"pharm-reg-a": "CRF-SP 1111", "pharm-reg-a2": "CRF-SP 1111", "pharm-reg-b": "CRF-SP 2222"} {
		status, body := c.do("POST", "/v1/users", admin, map[string]any{"id": id, "name": id, "role": "pharmacist", "registration": reg})
		require.Equal(t, http.StatusCreated, status, body)
	}
	status, body := c.do("POST", "/v1/requests", nurse, map[string]any{
		"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": "MRN-REG-1", "bed": "3"}, "priority": "urgent",
		"items": []map[string]any{{"medication_id": morphine, "quantity": 1}},
	})
	require.Equal(t, http.StatusCreated, status, body)
	id := body["id"].(string)
	c.waitStatus(id, nurse, "awaiting_approval")

	status, body = c.do("POST", "/v1/requests/"+id+"/approve", c.token("pharm-reg-a", pyxis.RolePharmacist), nil)
	require.Equal(t, http.StatusAccepted, status, body)
	status, body = c.do("POST", "/v1/requests/"+id+"/approve", c.token("pharm-reg-a2", pyxis.RolePharmacist), nil)
	require.Equal(t, http.StatusConflict, status, body)
	assert.Equal(t, "duplicate_approval", body["error"].(map[string]any)["code"])
	status, body = c.do("POST", "/v1/requests/"+id+"/approve", c.token("pharm-reg-b", pyxis.RolePharmacist), nil)
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "approved", body["status"])
	regs := []string{}
	for _, a := range body["approvals"].([]any) {
		regs = append(regs, a.(map[string]any)["registration"].(string))
	}
	assert.Equal(t, []string{"CRF-SP 1111", "CRF-SP 2222"}, regs)
	// A read of the request from the projection names the same registrations.
	c.requireProjectionMatchesWorkflow(id, nurse)
}
