package e2e

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
)

// TestControlledRegisterReconcilesAfterMixedRun moves a controlled medication every way the
// regulation's register knows — received by a witnessed load, dispensed for a request, returned, wasted
// with a witness, loaded by a refill, counted — and checks the register of the period against
// the stock ledger and the pocket.
func TestControlledRegisterReconcilesAfterMixedRun(t *testing.T) {
	start := time.Now().UTC().Add(-time.Second)
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	morphine := c.controlledMedication(f, "A1", 10)
	nurse := c.token("nurse-reg", pyxis.RoleNurse)
	p1, p2 := c.pharmacist("pharm-reg-1"), c.pharmacist("pharm-reg-2")
	order := func(qty int) string {
		status, body := c.do("POST", "/v1/requests", nurse, map[string]any{
			"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": "MRN-REG", "bed": "9"}, "priority": "urgent",
			"items": []map[string]any{{"medication_id": morphine, "quantity": qty}},
		})
		require.Equal(t, http.StatusCreated, status, body)
		id := body["id"].(string)
		c.waitStatus(id, nurse, "awaiting_approval")
		return id
	}

	dispensed := order(2)
	for _, p := range []string{p1, p2} {
		status, body := c.do("POST", "/v1/requests/"+dispensed+"/approve", p, nil)
		require.Equal(t, http.StatusAccepted, status, body)
	}
	c.waitStatus(dispensed, nurse, "ready_at_cabinet")
	status, body := c.do("POST", fmt.Sprintf("/v1/cabinets/%d/events", f.cabinetID), nurse, map[string]any{"type": "withdrawn", "request_id": dispensed})
	require.Equal(t, http.StatusAccepted, status, body)
	c.waitStatus(dispensed, nurse, "dispensed")

	rejected := order(1)
	status, body = c.do("POST", "/v1/requests/"+rejected+"/reject", p1, map[string]any{"reason": "not indicated"})
	require.Equal(t, http.StatusAccepted, status, body)
	c.waitStatus(rejected, nurse, "rejected")

	in := newIntake()
	ctx := context.Background()
	ret := c.event(f, cabinet.EventReturn, morphine, 1)
	waste := c.event(f, cabinet.EventWaste, morphine, 1)
	waste.Witness = "nurse-witness-2"
	load := c.event(f, cabinet.EventLoad, morphine, 4)
	for _, e := range []cabinet.Event{ret, waste, load} {
		require.NoError(t, in.HandleEvent(ctx, e), "%s", e.Kind)
	}
	// 10 loaded in, 2 dispensed, 1 returned, 1 wasted, 4 loaded.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		onHand, reserved := c.stock(f, morphine)
		assert.Equal(ct, []int{12, 0}, []int{onHand, reserved})
	}, 15*time.Second, 100*time.Millisecond)
	count := c.event(f, cabinet.EventCount, morphine, 0)
	count.Actual, count.Expected = cabinet.CountOf(12), cabinet.CountOf(12)
	require.NoError(t, in.HandleEvent(ctx, count))

	to := time.Now().UTC().Add(time.Second)
	path := fmt.Sprintf("/v1/controlled/register?list=A1&from=%s&to=%s", start.Format(time.RFC3339), to.Format(time.RFC3339))
	status, reg := c.do("GET", path, p1, nil)
	require.Equal(t, http.StatusOK, status, reg)
	var page map[string]any
	for _, m := range reg["medications"].([]any) {
		if num(m.(map[string]any)["medication_id"]) == int(morphine) {
			page = m.(map[string]any)
		}
	}
	require.NotNil(t, page, "the medication has a page in the A1 register")
	assert.Equal(t, "A1", page["controlled_list"])
	assert.Equal(t, 0, num(page["opening_balance"]))
	onHand := requireLedger(t, f, morphine)
	assert.EqualValues(t, onHand, num(page["closing_balance"]), "the register closes at the pocket's on_hand")

	var kinds []string
	var last time.Time
	balance := num(page["opening_balance"])
	for _, raw := range page["movements"].([]any) {
		mv := raw.(map[string]any)
		kinds = append(kinds, mv["kind"].(string))
		at, err := time.Parse(time.RFC3339Nano, mv["at"].(string))
		require.NoError(t, err)
		assert.False(t, at.Before(last), "entries in time order")
		last = at
		balance += num(mv["quantity"])
		assert.Equal(t, balance, num(mv["balance_after"]), "running balance")
		switch mv["kind"] {
		case "dispensed":
			assert.Equal(t, dispensed, mv["request_id"])
			assert.Equal(t, -2, num(mv["quantity"]))
		case "wasted":
			assert.Equal(t, "nurse-witness-2", mv["witness_id"])
		}
	}
	// Cabinet reports carry the cabinet's own (second-precision) times, so entries of the same
	// second may interleave; the set is exact.
	// The pocket is created empty (a count of 0) and filled by a witnessed load.
	assert.ElementsMatch(t, []string{"counted", "loaded", "dispensed", "returned", "wasted", "loaded", "counted"}, kinds)

	// Outside its list, the medication does not appear; before the period, it had nothing.
	status, other := c.do("GET", fmt.Sprintf("/v1/controlled/register?list=B1&from=%s", start.Format(time.RFC3339)), p1, nil)
	require.Equal(t, http.StatusOK, status, other)
	for _, m := range other["medications"].([]any) {
		assert.NotEqual(t, int(morphine), num(m.(map[string]any)["medication_id"]))
	}

	status, raw := c.doRaw("GET", path+"&format=csv", p1, nil)
	require.Equal(t, http.StatusOK, status)
	rows, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	require.NoError(t, err)
	var mine [][]string
	for _, r := range rows[1:] {
		if r[1] == c.medicationCode(f, morphine) {
			mine = append(mine, r)
		}
	}
	require.Len(t, mine, len(kinds)+2, "opening, one row per movement, closing")
	assert.Equal(t, "opening_balance", mine[0][4])
	assert.Equal(t, []string{"closing_balance", fmt.Sprint(onHand)}, []string{mine[len(mine)-1][4], mine[len(mine)-1][6]})

	status, _ = c.do("GET", path, nurse, nil)
	assert.Equal(t, http.StatusForbidden, status, "nurses do not read the register")
	status, _ = c.do("GET", "/v1/controlled/register?list=Z9", p1, nil)
	assert.Equal(t, http.StatusUnprocessableEntity, status)
}
