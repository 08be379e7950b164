package e2e

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

	"github.com/medreq/pyxis"
	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/cabinet"
)

func TestHappyPathEndsDispensedWithStockConsumedAndFullAudit(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(10)
	nurse := c.token("nurse-happy", pyxis.RoleNurse)
	pharmacist := c.token("pharm-happy", pyxis.RolePharmacist)

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

	ctx := t.Context()
	approved, err := c.api.ApproveRequestWithResponse(ctx, id, apiclient.NoteBody{Note: ptr("checked allergies")}, as(pharmacist))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, approved.StatusCode(), "%s", approved.Body)
	assert.Equal(t, apiclient.RequestStatusApproved, approved.JSON202.Status)
	c.waitStatus(id, nurse, "ready_at_cabinet")
	assert.True(t, e2e.sim.Authorized(id), "the cabinet holds the authorization")

	withdrawn, err := c.api.ReportCabinetEventWithResponse(ctx, f.cabinetID,
		apiclient.CabinetEventBody{Type: apiclient.Withdrawn, RequestId: id}, as(nurse))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, withdrawn.StatusCode(), "%s", withdrawn.Body)
	state := c.waitStatus(id, nurse, "dispensed")

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{7, 0}, []int{onHand, reserved}, "consumed: on_hand down by 3, nothing reserved")
	}, 10*time.Second, 100*time.Millisecond)

	require.NotNil(t, state.Approvals)
	require.Len(t, *state.Approvals, 1)
	assert.Equal(t, "pharm-happy", (*state.Approvals)[0].Actor.Id)
	var actors []string
	for _, tr := range *state.Transitions {
		actors = append(actors, tr.Actor.Id)
	}
	assert.Equal(t, []string{"nurse-happy", "system", "pharm-happy", "system", "nurse-happy"}, actors)

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, []string{"submitted", "stock_reserved", "approved", "authorized_at_cabinet", "withdrawn"}, c.auditActions(id, pharmacist))
	}, 10*time.Second, 100*time.Millisecond)

	list, err := c.api.ListRequestsWithResponse(ctx, &apiclient.ListRequestsParams{CabinetId: &f.cabinetID}, as(pharmacist))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, list.StatusCode())
	require.Len(t, list.JSON200.Data, 1)
	assert.Equal(t, apiclient.RequestStatusDispensed, list.JSON200.Data[0].Status)
	c.requireProjectionMatchesWorkflow(id, pharmacist)
	captureHistory(t, id, "dispensed")
}

func TestRejectReleasesStock(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-rej", pyxis.RoleNurse)
	pharmacist := c.token("pharm-rej", pyxis.RolePharmacist)
	id := c.create(f, nurse, 2)
	c.waitStatus(id, nurse, "awaiting_approval")

	reject := func(reason *string) *apiclient.RejectRequestResponse {
		resp, err := c.api.RejectRequestWithResponse(t.Context(), id, apiclient.ReasonBody{Reason: reason}, as(pharmacist))
		require.NoError(t, err)
		return resp
	}
	resp := reject(nil)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode(), "a rejection needs a reason: %s", resp.Body)

	resp = reject(ptr("duplicate therapy"))
	require.Equal(t, http.StatusAccepted, resp.StatusCode(), "%s", resp.Body)
	state := c.waitStatus(id, nurse, "rejected")
	assert.Equal(t, ptr("duplicate therapy"), state.Reason)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{5, 0}, []int{onHand, reserved})
	}, 10*time.Second, 100*time.Millisecond)
	c.requireProjectionMatchesWorkflow(id, pharmacist)
	captureHistory(t, id, "rejected")
}

func TestCancelByOwnNurseOnly(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-own", pyxis.RoleNurse)
	other := c.token("nurse-other", pyxis.RoleNurse)
	id := c.create(f, nurse, 1)
	c.waitStatus(id, nurse, "awaiting_approval")

	cancel := func(token string, reason *string) *apiclient.CancelRequestResponse {
		resp, err := c.api.CancelRequestWithResponse(t.Context(), id, apiclient.ReasonBody{Reason: reason}, as(token))
		require.NoError(t, err)
		return resp
	}
	// A nurse who may not see the request (not hers, not her unit's) is told it does not exist.
	resp := cancel(other, ptr("not mine"))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode(), "%s", resp.Body)

	resp = cancel(nurse, ptr("patient discharged"))
	require.Equal(t, http.StatusAccepted, resp.StatusCode(), "%s", resp.Body)
	c.waitStatus(id, nurse, "cancelled")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		_, reserved := c.stock(f, f.meds[0])
		assert.Zero(ct, reserved)
	}, 10*time.Second, 100*time.Millisecond)
	status, _ := c.do("POST", "/v1/requests/"+id+"/cancel", nurse, nil)
	assert.Equal(t, http.StatusConflict, status, "a finished request cannot be cancelled again (no body at all)")
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureHistory(t, id, "cancelled")
}

func TestApprovalDeadlineEscalatesThenExpires(t *testing.T) {
	cfg := testConfig()
	cfg.ApprovalTimeouts[pyxis.PriorityStat] = 2 * time.Second
	c := newAPI(t, cfg)
	f := c.fixture(4)
	nurse := c.token("nurse-exp", pyxis.RoleNurse)
	id := c.create(f, nurse, 4)

	state := c.waitStatus(id, nurse, "expired")
	assert.True(t, state.Escalated)
	require.NotNil(t, state.Reason)
	assert.Contains(t, *state.Reason, "no pharmacist decision")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, []string{"submitted", "stock_reserved", "escalated", "approval_deadline_passed"}, c.auditActions(id, nurse))
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{4, 0}, []int{onHand, reserved})
	}, 10*time.Second, 100*time.Millisecond)
	assert.False(t, e2e.sim.Authorized(id))
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureHistory(t, id, "approval_expired")
}

func TestWithdrawalWindowExpiresAndRevokes(t *testing.T) {
	cfg := testConfig()
	cfg.WithdrawalTimeout = 2 * time.Second
	c := newAPI(t, cfg)
	f := c.fixture(3)
	nurse := c.token("nurse-wd", pyxis.RoleNurse)
	pharmacist := c.token("pharm-wd", pyxis.RolePharmacist)
	id := c.create(f, nurse, 1)
	c.waitStatus(id, nurse, "awaiting_approval")
	c.approve(id, pharmacist)
	c.waitStatus(id, nurse, "ready_at_cabinet")
	require.True(t, e2e.sim.Authorized(id))

	c.waitStatus(id, nurse, "expired")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.False(ct, e2e.sim.Authorized(id), "authorization withdrawn from the cabinet")
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{3, 0}, []int{onHand, reserved})
	}, 10*time.Second, 100*time.Millisecond)
	late, err := c.api.ReportCabinetEventWithResponse(t.Context(), f.cabinetID,
		apiclient.CabinetEventBody{Type: apiclient.Withdrawn, RequestId: id}, as(nurse))
	require.NoError(t, err)
	assert.Equal(t, http.StatusConflict, late.StatusCode(), "a late withdrawal report is refused")
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureHistory(t, id, "withdrawal_expired")
}

// A withdrawal in two reports: the first names one of the two lines (the request stays ready
// at the cabinet, partially withdrawn, that line consumed), the second, naming none, the rest
// as ordered (dispensed).
func TestWithdrawalInTwoReports(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(10, 10)
	nurse := c.token("nurse-part", pyxis.RoleNurse)
	resp, err := c.api.CreateRequestWithResponse(t.Context(), &apiclient.CreateRequestParams{}, apiclient.CreateRequestBody{
		CabinetId: f.cabinetID, Patient: apiclient.PatientBody{Mrn: "MRN-778899", Bed: ptr("12A")}, Priority: apiclient.Urgent,
		Items: []apiclient.ItemBody{{MedicationId: f.meds[0], Quantity: 2}, {MedicationId: f.meds[1], Quantity: 1}},
	}, as(nurse))
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode(), "%s", resp.Body)
	id := resp.JSON201.Id
	c.waitStatus(id, nurse, "awaiting_approval")
	c.approve(id, c.token("pharm-part", pyxis.RolePharmacist))
	c.waitStatus(id, nurse, "ready_at_cabinet")

	first, err := c.api.ReportCabinetEventWithResponse(t.Context(), f.cabinetID, apiclient.CabinetEventBody{Type: apiclient.Withdrawn,
		RequestId: id, Lines: &[]apiclient.ItemBody{{MedicationId: f.meds[0], Quantity: 2}}}, as(nurse))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, first.StatusCode(), "%s", first.Body)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.EqualValues(ct, 8, requireLedger(ct, f, f.meds[0]), "the first line left the cabinet")
	}, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, apiclient.RequestStatus("ready_at_cabinet"), c.waitStatus(id, nurse, "ready_at_cabinet").Status)

	rest, err := c.api.ReportCabinetEventWithResponse(t.Context(), f.cabinetID,
		apiclient.CabinetEventBody{Type: apiclient.Withdrawn, RequestId: id}, as(nurse))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, rest.StatusCode(), "%s", rest.Body)
	c.waitStatus(id, nurse, "dispensed")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.EqualValues(ct, 8, requireLedger(ct, f, f.meds[0]))
		assert.EqualValues(ct, 9, requireLedger(ct, f, f.meds[1]), "the rest as ordered")
		assert.Equal(ct, []string{"submitted", "stock_reserved", "approved", "authorized_at_cabinet", "partially_withdrawn", "withdrawn"},
			c.auditActions(id, nurse))
	}, 10*time.Second, 100*time.Millisecond)
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureHistory(t, id, "withdrawal_in_two_reports")
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
			cfg := testConfig()
			// An unreachable cabinet is retried until the withdrawal window closes.
			cfg.WithdrawalTimeout = 3 * time.Second
			c := newAPI(t, cfg)
			f := c.fixture(6)
			e2e.sim.SetFault(f.cabinetCode, tc.fault)
			t.Cleanup(func() { e2e.sim.SetFault(f.cabinetCode, cabinet.FaultNone) })
			nurse := c.token("nurse-cf", pyxis.RoleNurse)
			pharmacist := c.token("pharm-cf", pyxis.RolePharmacist)
			id := c.create(f, nurse, 2)
			c.waitStatus(id, nurse, "awaiting_approval")
			c.approve(id, pharmacist)

			state := c.waitStatus(id, nurse, "failed")
			assert.Equal(t, ptr(tc.reason), state.ReasonCode)
			require.NotNil(t, state.Reason)
			assert.NotContains(t, *state.Reason, "127.0.0.1", "no internals in a reason")
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				onHand, reserved := c.stock(f, f.meds[0])
				assert.Equal(ct, []int{6, 0}, []int{onHand, reserved})
			}, 10*time.Second, 100*time.Millisecond)
			c.requireProjectionMatchesWorkflow(id, nurse)
			captureHistory(t, id, "cabinet_"+string(tc.fault))
		})
	}
}

func TestDoubleApprovalIsRefusedWith409(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-dbl", pyxis.RoleNurse)
	p1 := c.token("pharm-one", pyxis.RolePharmacist)
	p2 := c.token("pharm-two", pyxis.RolePharmacist)
	id := c.create(f, nurse, 1)

	c.waitStatus(id, nurse, "awaiting_approval")
	c.approve(id, p1)
	second, err := c.api.ApproveRequestWithResponse(t.Context(), id, apiclient.NoteBody{}, as(p2))
	require.NoError(t, err)
	assert.Equal(t, http.StatusConflict, second.StatusCode(), "%s", second.Body)
	require.NotNil(t, second.JSON409)
	assert.Equal(t, apiclient.ErrorCodeInvalidState, second.JSON409.Error.Code)

	state := c.waitStatus(id, nurse, "ready_at_cabinet")
	assert.Len(t, *state.Approvals, 1, "the refused approval changed nothing")

	unknown, err := c.api.ApproveRequestWithResponse(t.Context(), "medreq-01J00000000000000000000000", apiclient.NoteBody{}, as(p1))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, unknown.StatusCode())
	// Not a request id at all: the document's pattern refuses it, the server answers 404.
	status, _ := c.malformed().do("POST", "/v1/requests/not-a-request/approve", p1, nil)
	assert.Equal(t, http.StatusNotFound, status)
}

func TestIdempotencyKeyReturnsTheSameRequest(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-idem", pyxis.RoleNurse)

	first := c.create(f, nurse, 1, "Idempotency-Key", "order-42")
	second := c.create(f, nurse, 1, "Idempotency-Key", "order-42")
	assert.Equal(t, first, second)

	reused, err := c.api.CreateRequestWithResponse(t.Context(), &apiclient.CreateRequestParams{IdempotencyKey: ptr("order-42")},
		apiclient.CreateRequestBody{
			CabinetId: f.cabinetID, Patient: apiclient.PatientBody{Mrn: "MRN-778899", Bed: ptr("12A")},
			Priority: apiclient.Stat, Items: []apiclient.ItemBody{{MedicationId: f.meds[0], Quantity: 2}},
		}, as(nurse))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, reused.StatusCode(), "%s", reused.Body)
	require.NotNil(t, reused.JSON422)
	assert.Equal(t, apiclient.ErrorCodeIdempotencyKeyReused, reused.JSON422.Error.Code)

	c.waitStatus(first, nurse, "awaiting_approval")
	list, err := c.api.ListRequestsWithResponse(t.Context(), &apiclient.ListRequestsParams{CabinetId: &f.cabinetID}, as(nurse))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, list.StatusCode())
	assert.Len(t, list.JSON200.Data, 1, "one request, however often it was sent")
	_, reserved := c.stock(f, f.meds[0])
	assert.Equal(t, 1, reserved)
}

// TestConcurrentRequestsNeverOversell sends 100 requests for one unit each at a pocket that
// holds 10: exactly 10 must reach approval and the ledger must stay consistent.
func TestConcurrentRequestsNeverOversell(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(10)
	nurse := c.token("nurse-rush", pyxis.RoleNurse)

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
		list, err := c.api.ListRequestsWithResponse(context.Background(),
			&apiclient.ListRequestsParams{CabinetId: &f.cabinetID, Limit: ptr(200)}, as(nurse))
		if !assert.NoError(ct, err) || !assert.Equal(ct, http.StatusOK, list.StatusCode()) {
			return
		}
		counts = map[string]int{}
		for _, row := range list.JSON200.Data {
			counts[string(row.Status)]++
			if row.Status == apiclient.RequestStatusFailed && assert.NotNil(ct, row.Reason) {
				assert.Contains(ct, *row.Reason, "insufficient stock")
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
			captureHistory(t, id, "failed_insufficient_stock")
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

// approve approves a request as token and requires the workflow to take it.
func (c *apiClient) approve(id, token string) {
	c.t.Helper()
	resp, err := c.api.ApproveRequestWithResponse(c.t.Context(), id, apiclient.NoteBody{}, as(token))
	require.NoError(c.t, err)
	require.Equal(c.t, http.StatusAccepted, resp.StatusCode(), "%s", resp.Body)
}
