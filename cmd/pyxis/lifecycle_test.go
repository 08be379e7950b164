package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/workflows"
)

func TestHappyPathEndsDispensedWithStockConsumedAndFullAudit(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(10)
	nurse := c.token("nurse-happy", workflows.RoleNurse)
	pharmacist := c.token("pharm-happy", workflows.RolePharmacist)

	id := c.create(f, nurse, 3)
	require.Regexp(t, `^medreq-[0-9A-Z]{26}$`, id)
	c.waitStatus(id, nurse, "awaiting_approval")
	onHand, reserved := c.stock(f, f.meds[0])
	assert.Equal(t, []int{10, 3}, []int{onHand, reserved})

	// Ops can find it in the visibility store by its search attributes, without patient data.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp, err := e2e.tc.ListWorkflow(context.Background(), listRequest(
			fmt.Sprintf(`RequestStatus="awaiting_approval" AND CabinetCode=%q AND Priority="stat" AND RequestedBy="nurse-happy"`, f.cabinetCode)))
		if assert.NoError(ct, err) && assert.Len(ct, resp.GetExecutions(), 1) {
			assert.Equal(ct, id, resp.GetExecutions()[0].GetExecution().GetWorkflowId())
		}
	}, 15*time.Second, 200*time.Millisecond)

	status, body := c.do("POST", "/v1/requests/"+id+"/approve", pharmacist, map[string]any{"note": "checked allergies"})
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "approved", body["status"])
	c.waitStatus(id, nurse, "ready_at_cabinet")
	assert.True(t, e2e.sim.Authorized(id), "the cabinet holds the authorization")

	status, body = c.do("POST", fmt.Sprintf("/v1/cabinets/%d/events", f.cabinetID), nurse,
		map[string]any{"type": "withdrawn", "request_id": id})
	require.Equal(t, http.StatusAccepted, status, body)
	state := c.waitStatus(id, nurse, "dispensed")

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{7, 0}, []int{onHand, reserved}, "consumed: on_hand down by 3, nothing reserved")
	}, 10*time.Second, 100*time.Millisecond)

	approvals := state["approvals"].([]any)
	require.Len(t, approvals, 1)
	assert.Equal(t, "pharm-happy", approvals[0].(map[string]any)["actor"].(map[string]any)["id"])
	var actors []string
	for _, tr := range state["transitions"].([]any) {
		actors = append(actors, tr.(map[string]any)["actor"].(map[string]any)["id"].(string))
	}
	assert.Equal(t, []string{"nurse-happy", "system", "pharm-happy", "system", "nurse-happy"}, actors)

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, []string{"submitted", "stock_reserved", "approved", "authorized_at_cabinet", "withdrawn"}, c.auditActions(id, pharmacist))
	}, 10*time.Second, 100*time.Millisecond)

	status, list := c.do("GET", fmt.Sprintf("/v1/requests?cabinet_id=%d", f.cabinetID), pharmacist, nil)
	require.Equal(t, http.StatusOK, status)
	rows := list["data"].([]any)
	require.Len(t, rows, 1)
	assert.Equal(t, "dispensed", rows[0].(map[string]any)["status"])
	c.requireProjectionMatchesWorkflow(id, pharmacist)
	captureHistory(t, id, "commands_dispensed")
}

func TestRejectReleasesStock(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-rej", workflows.RoleNurse)
	pharmacist := c.token("pharm-rej", workflows.RolePharmacist)
	id := c.create(f, nurse, 2)
	c.waitStatus(id, nurse, "awaiting_approval")

	status, body := c.do("POST", "/v1/requests/"+id+"/reject", pharmacist, map[string]any{})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "a rejection needs a reason: %v", body)

	status, body = c.do("POST", "/v1/requests/"+id+"/reject", pharmacist, map[string]any{"reason": "duplicate therapy"})
	require.Equal(t, http.StatusAccepted, status, body)
	state := c.waitStatus(id, nurse, "rejected")
	assert.Equal(t, "duplicate therapy", state["reason"])
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{5, 0}, []int{onHand, reserved})
	}, 10*time.Second, 100*time.Millisecond)
	c.requireProjectionMatchesWorkflow(id, pharmacist)
	captureHistory(t, id, "commands_rejected")
}

func TestCancelByOwnNurseOnly(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-own", workflows.RoleNurse)
	other := c.token("nurse-other", workflows.RoleNurse)
	id := c.create(f, nurse, 1)
	c.waitStatus(id, nurse, "awaiting_approval")

	status, body := c.do("POST", "/v1/requests/"+id+"/cancel", other, map[string]any{"reason": "not mine"})
	assert.Equal(t, http.StatusForbidden, status, body)

	status, body = c.do("POST", "/v1/requests/"+id+"/cancel", nurse, map[string]any{"reason": "patient discharged"})
	require.Equal(t, http.StatusAccepted, status, body)
	c.waitStatus(id, nurse, "cancelled")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		_, reserved := c.stock(f, f.meds[0])
		assert.Zero(ct, reserved)
	}, 10*time.Second, 100*time.Millisecond)
	status, _ = c.do("POST", "/v1/requests/"+id+"/cancel", nurse, nil)
	assert.Equal(t, http.StatusConflict, status, "a finished request cannot be cancelled again")
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureHistory(t, id, "commands_cancelled")
}

func TestApprovalDeadlineEscalatesThenExpires(t *testing.T) {
	cfg := testConfig()
	cfg.ApprovalTimeouts[workflows.PriorityStat] = 2 * time.Second
	c := newAPI(t, cfg)
	f := c.fixture(4)
	nurse := c.token("nurse-exp", workflows.RoleNurse)
	id := c.create(f, nurse, 4)

	state := c.waitStatus(id, nurse, "expired")
	assert.Equal(t, true, state["escalated"])
	assert.Contains(t, state["reason"], "no pharmacist decision")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, []string{"submitted", "stock_reserved", "escalated", "approval_deadline_passed"}, c.auditActions(id, nurse))
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{4, 0}, []int{onHand, reserved})
	}, 10*time.Second, 100*time.Millisecond)
	assert.False(t, e2e.sim.Authorized(id))
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureHistory(t, id, "commands_approval_expired")
}

func TestWithdrawalWindowExpiresAndRevokes(t *testing.T) {
	cfg := testConfig()
	cfg.WithdrawalTimeout = 2 * time.Second
	c := newAPI(t, cfg)
	f := c.fixture(3)
	nurse := c.token("nurse-wd", workflows.RoleNurse)
	pharmacist := c.token("pharm-wd", workflows.RolePharmacist)
	id := c.create(f, nurse, 1)
	c.waitStatus(id, nurse, "awaiting_approval")
	status, body := c.do("POST", "/v1/requests/"+id+"/approve", pharmacist, nil)
	require.Equal(t, http.StatusAccepted, status, body)
	c.waitStatus(id, nurse, "ready_at_cabinet")
	require.True(t, e2e.sim.Authorized(id))

	c.waitStatus(id, nurse, "expired")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.False(ct, e2e.sim.Authorized(id), "authorization withdrawn from the cabinet")
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{3, 0}, []int{onHand, reserved})
	}, 10*time.Second, 100*time.Millisecond)
	status, _ = c.do("POST", fmt.Sprintf("/v1/cabinets/%d/events", f.cabinetID), nurse, map[string]any{"type": "withdrawn", "request_id": id})
	assert.Equal(t, http.StatusConflict, status, "a late withdrawal report is refused")
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureHistory(t, id, "commands_withdrawal_expired")
}

func TestCabinetFailureFailsRequestAndReleases(t *testing.T) {
	for _, tc := range []struct {
		fault  cabinet.Fault
		reason string
	}{
		{cabinet.FaultRefuse, "cabinet_refused"},
		{cabinet.FaultOffline, "cabinet_unreachable"},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			c := newAPI(t, testConfig())
			f := c.fixture(6)
			e2e.sim.SetFault(f.cabinetCode, tc.fault)
			t.Cleanup(func() { e2e.sim.SetFault(f.cabinetCode, cabinet.FaultNone) })
			nurse := c.token("nurse-cf", workflows.RoleNurse)
			pharmacist := c.token("pharm-cf", workflows.RolePharmacist)
			id := c.create(f, nurse, 2)
			c.waitStatus(id, nurse, "awaiting_approval")
			status, body := c.do("POST", "/v1/requests/"+id+"/approve", pharmacist, nil)
			require.Equal(t, http.StatusAccepted, status, body)

			state := c.waitStatus(id, nurse, "failed")
			assert.Equal(t, tc.reason, state["reason_code"])
			assert.NotContains(t, state["reason"], "127.0.0.1", "no internals in a reason")
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				onHand, reserved := c.stock(f, f.meds[0])
				assert.Equal(ct, []int{6, 0}, []int{onHand, reserved})
			}, 10*time.Second, 100*time.Millisecond)
			c.requireProjectionMatchesWorkflow(id, nurse)
			captureHistory(t, id, "commands_cabinet_"+string(tc.fault))
		})
	}
}

func TestDoubleApprovalIsRefusedWith409(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-dbl", workflows.RoleNurse)
	p1 := c.token("pharm-one", workflows.RolePharmacist)
	p2 := c.token("pharm-two", workflows.RolePharmacist)
	id := c.create(f, nurse, 1)

	c.waitStatus(id, nurse, "awaiting_approval")
	status, _ := c.do("POST", "/v1/requests/"+id+"/approve", p1, nil)
	require.Equal(t, http.StatusAccepted, status)
	status, body := c.do("POST", "/v1/requests/"+id+"/approve", p2, nil)
	assert.Equal(t, http.StatusConflict, status, body)
	assert.Equal(t, "invalid_state", body["error"].(map[string]any)["code"])

	state := c.waitStatus(id, nurse, "ready_at_cabinet")
	assert.Len(t, state["approvals"], 1, "the refused approval changed nothing")

	status, _ = c.do("POST", "/v1/requests/medreq-01J00000000000000000000000/approve", p1, nil)
	assert.Equal(t, http.StatusNotFound, status)
	status, _ = c.do("POST", "/v1/requests/not-a-request/approve", p1, nil)
	assert.Equal(t, http.StatusNotFound, status)
}

func TestIdempotencyKeyReturnsTheSameRequest(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-idem", workflows.RoleNurse)

	first := c.create(f, nurse, 1, "Idempotency-Key", "order-42")
	second := c.create(f, nurse, 1, "Idempotency-Key", "order-42")
	assert.Equal(t, first, second)

	status, body := c.do("POST", "/v1/requests", nurse, map[string]any{
		"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": "MRN-778899", "bed": "12A"},
		"priority": "stat", "items": []map[string]any{{"medication_id": f.meds[0], "quantity": 2}},
	}, "Idempotency-Key", "order-42")
	assert.Equal(t, http.StatusUnprocessableEntity, status, body)

	c.waitStatus(first, nurse, "awaiting_approval")
	status, list := c.do("GET", fmt.Sprintf("/v1/requests?cabinet_id=%d", f.cabinetID), nurse, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, list["data"], 1, "one request, however often it was sent")
	_, reserved := c.stock(f, f.meds[0])
	assert.Equal(t, 1, reserved)
}

// TestConcurrentRequestsNeverOversell sends 100 requests for one unit each at a pocket that
// holds 10: exactly 10 must reach approval and the ledger must stay consistent.
func TestConcurrentRequestsNeverOversell(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(10)
	nurse := c.token("nurse-rush", workflows.RoleNurse)

	const n = 100
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body := c.doRaw("POST", "/v1/requests", nurse, map[string]any{
				"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": fmt.Sprintf("MRN-%03d", i)},
				"priority": "routine", "items": []map[string]any{{"medication_id": f.meds[0], "quantity": 1}},
			})
			if status != http.StatusCreated {
				errs <- fmt.Sprintf("%d: %s", status, body)
				return
			}
			ids[i] = string(body)
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}

	counts := map[string]int{}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		status, list := c.do("GET", fmt.Sprintf("/v1/requests?cabinet_id=%d&limit=200", f.cabinetID), nurse, nil)
		if !assert.Equal(ct, http.StatusOK, status) {
			return
		}
		counts = map[string]int{}
		for _, r := range list["data"].([]any) {
			row := r.(map[string]any)
			counts[row["status"].(string)]++
			if row["status"] == "failed" {
				assert.Contains(ct, row["reason"], "insufficient stock")
			}
		}
		assert.Equal(ct, map[string]int{"awaiting_approval": 10, "failed": 90}, counts)
	}, 90*time.Second, 500*time.Millisecond)

	onHand, reserved := c.stock(f, f.meds[0])
	assert.Equal(t, []int{10, 10}, []int{onHand, reserved})
	captured := false
	for i, raw := range ids {
		var created map[string]any
		require.NoError(t, json.Unmarshal([]byte(raw), &created))
		id := created["id"].(string)
		if i < 5 {
			c.requireProjectionMatchesWorkflow(id, nurse)
		}
		if req, err := e2e.store.GetRequest(context.Background(), id); !captured && err == nil && req.Status == "failed" {
			c.requireProjectionMatchesWorkflow(id, nurse)
			captureHistory(t, id, "commands_failed_insufficient_stock")
			captured = true
		}
	}
	held, err := e2e.store.HeldReservations(context.Background(), f.cabinetID, f.meds[0])
	require.NoError(t, err)
	assert.EqualValues(t, 10, held, "reserved equals the sum of held reservations")
}

func listRequest(query string) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{Query: query}
}
