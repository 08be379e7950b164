package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/cabinet"
)

// Orders and revocations that outlive an outage (issue 16): a cabinet that does not answer
// delays an order until the withdrawal window closes, and the request shows the wait.

// waitDelivery waits until the request shows a cabinet command waiting with at least
// attempts failed attempts, and returns the view.
func (c *apiClient) waitDelivery(id, token string, command apiclient.CabinetDeliveryCommand, attempts int32) apiclient.RequestView {
	c.t.Helper()
	var last apiclient.RequestView
	require.EventuallyWithT(c.t, func(ct *assert.CollectT) {
		resp, err := c.api.GetRequestWithResponse(c.t.Context(), id, &apiclient.GetRequestParams{}, as(token))
		if !assert.NoError(ct, err) || !assert.Equal(ct, http.StatusOK, resp.StatusCode()) {
			return
		}
		last = *resp.JSON200
		if assert.NotNil(ct, last.CabinetDelivery, "no cabinet_delivery") {
			assert.Equal(ct, command, last.CabinetDelivery.Command)
			assert.GreaterOrEqual(ct, last.CabinetDelivery.Attempts, attempts)
		}
	}, 30*time.Second, 100*time.Millisecond, "request %s never showed %d attempts of %s; last: %+v", id, attempts, command, last)
	return last
}

// An order to a cabinet that is offline waits it out: the request stays approved, shows
// cabinet_delivery (attempts, the last error, since when), and once the cabinet is back the
// order is acknowledged, the wait is gone from the view, and the nurse withdraws.
func TestOrderWaitsOutACabinetOutage(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(4)
	e2e.sim.SetFault(f.cabinetCode, cabinet.FaultOffline)
	t.Cleanup(func() { e2e.sim.SetFault(f.cabinetCode, cabinet.FaultNone) })
	nurse := c.token("nurse-outage", pyxis.RoleNurse)
	id := c.create(f, nurse, 1)
	c.waitStatus(id, nurse, "awaiting_approval")
	approvedAt := time.Now()
	c.approve(id, c.token("pharm-outage", pyxis.RolePharmacist))

	view := c.waitDelivery(id, nurse, apiclient.Authorize, 3)
	assert.Equal(t, apiclient.RequestStatus("approved"), view.Status)
	assert.Equal(t, "the cabinet could not be reached", view.CabinetDelivery.LastError)
	assert.WithinDuration(t, approvedAt, view.CabinetDelivery.Since, 10*time.Second)
	assert.False(t, e2e.sim.Authorized(id))

	e2e.sim.SetFault(f.cabinetCode, cabinet.FaultNone)
	ready := c.waitStatus(id, nurse, "ready_at_cabinet")
	assert.Nil(t, ready.CabinetDelivery, "acknowledged: nothing waits")
	require.NotNil(t, ready.WithdrawalDeadline)
	assert.WithinDuration(t, approvedAt.Add(testConfig().WithdrawalTimeout), *ready.WithdrawalDeadline, 10*time.Second,
		"the window runs from the first attempt")
	require.True(t, e2e.sim.Authorized(id))

	resp, err := c.api.ReportCabinetEventWithResponse(t.Context(), f.cabinetID,
		apiclient.CabinetEventBody{Type: apiclient.Withdrawn, RequestId: id}, as(nurse))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, resp.StatusCode(), "%s", resp.Body)
	c.waitStatus(id, nurse, "dispensed")
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureHistory(t, id, "v0.2.0_dispensed_after_cabinet_outage")
}

// An order the cabinet never acknowledges ends cabinet_unreachable when the withdrawal
// window closes, not before: its stock is released, and the revoke it gets (three attempts
// once the window is closed) is audited as failed.
func TestOrderEndsUnreachableWhenTheWindowCloses(t *testing.T) {
	cfg := testConfig()
	cfg.WithdrawalTimeout = 4 * time.Second
	c := newAPI(t, cfg)
	f := c.fixture(4)
	e2e.sim.SetFault(f.cabinetCode, cabinet.FaultOffline)
	t.Cleanup(func() { e2e.sim.SetFault(f.cabinetCode, cabinet.FaultNone) })
	nurse := c.token("nurse-window", pyxis.RoleNurse)
	id := c.create(f, nurse, 2)
	c.waitStatus(id, nurse, "awaiting_approval")
	approvedAt := time.Now()
	c.approve(id, c.token("pharm-window", pyxis.RolePharmacist))

	c.waitDelivery(id, nurse, apiclient.Authorize, 2)
	state := c.waitStatus(id, nurse, "failed")
	assert.GreaterOrEqual(t, time.Since(approvedAt), 3*time.Second, "failed before the window closed")
	assert.Equal(t, ptr("cabinet_unreachable"), state.ReasonCode)
	require.NotNil(t, state.Reason)
	assert.Equal(t, "the cabinet did not acknowledge the order within the withdrawal window (4s)", *state.Reason)
	assert.Nil(t, state.CabinetDelivery, "the request ended: nothing waits")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{4, 0}, []int{onHand, reserved})
		assert.Equal(ct, []string{"submitted", "stock_reserved", "approved", "revoke_failed", "cabinet_failed"}, c.auditActions(id, nurse))
	}, 10*time.Second, 100*time.Millisecond)
	assert.False(t, strings.Contains(*state.Reason, "127.0.0.1"))
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureHistory(t, id, "v0.2.0_cabinet_unreachable_window_closed")
}

// A cancel is retried until the cabinet takes it: the request shows cancelled at once and
// the revoke waiting, the authorization stays at the offline cabinet meanwhile (and the
// stock held), and once the cabinet is back the authorization is withdrawn and the stock
// released.
func TestCancelRetriedUntilTheCabinetTakesIt(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(4)
	t.Cleanup(func() { e2e.sim.SetFault(f.cabinetCode, cabinet.FaultNone) })
	nurse := c.token("nurse-revoke", pyxis.RoleNurse)
	id := c.create(f, nurse, 1)
	c.waitStatus(id, nurse, "awaiting_approval")
	c.approve(id, c.token("pharm-revoke", pyxis.RolePharmacist))
	c.waitStatus(id, nurse, "ready_at_cabinet")
	require.True(t, e2e.sim.Authorized(id))

	e2e.sim.SetFault(f.cabinetCode, cabinet.FaultOffline)
	resp, err := c.api.CancelRequestWithResponse(t.Context(), id, apiclient.ReasonBody{Reason: ptr("patient discharged")}, as(nurse))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, resp.StatusCode(), "%s", resp.Body)
	view := c.waitDelivery(id, nurse, apiclient.Revoke, 4)
	assert.Equal(t, apiclient.RequestStatus("cancelled"), view.Status)
	assert.True(t, e2e.sim.Authorized(id), "the offline cabinet still holds it")
	onHand, reserved := c.stock(f, f.meds[0])
	assert.Equal(t, []int{4, 1}, []int{onHand, reserved}, "held while the cabinet may still dispense it")

	e2e.sim.SetFault(f.cabinetCode, cabinet.FaultNone)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.False(ct, e2e.sim.Authorized(id), "authorization withdrawn from the cabinet")
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{4, 0}, []int{onHand, reserved})
	}, 60*time.Second, 100*time.Millisecond)
	assert.Nil(t, c.waitStatus(id, nurse, "cancelled").CabinetDelivery)
	assert.NotContains(t, c.auditActions(id, nurse), "revoke_failed")
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureHistory(t, id, "v0.2.0_cancel_retried_until_acknowledged")
}

// A request whose order waits out an outage may be cancelled meanwhile: the delivery stops,
// the request is cancelled with its stock released, and the cabinet, back later, holds
// nothing of it.
func TestCancelWhileTheOrderWaitsOutAnOutage(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(4)
	e2e.sim.SetFault(f.cabinetCode, cabinet.FaultOffline)
	t.Cleanup(func() { e2e.sim.SetFault(f.cabinetCode, cabinet.FaultNone) })
	nurse := c.token("nurse-stop", pyxis.RoleNurse)
	id := c.create(f, nurse, 1)
	c.waitStatus(id, nurse, "awaiting_approval")
	c.approve(id, c.token("pharm-stop", pyxis.RolePharmacist))
	c.waitDelivery(id, nurse, apiclient.Authorize, 2)

	resp, err := c.api.CancelRequestWithResponse(t.Context(), id, apiclient.ReasonBody{Reason: ptr("patient discharged")}, as(nurse))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, resp.StatusCode(), "%s", resp.Body)
	e2e.sim.SetFault(f.cabinetCode, cabinet.FaultNone)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{4, 0}, []int{onHand, reserved})
	}, 30*time.Second, 100*time.Millisecond)
	state := c.waitStatus(id, nurse, "cancelled")
	assert.Nil(t, state.CabinetDelivery)
	assert.False(t, e2e.sim.Authorized(id))
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureHistory(t, id, "v0.2.0_cancelled_while_cabinet_unreachable")
}
