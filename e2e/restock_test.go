package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/medreq/pyxis"
	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/workflows"
)

// These end-to-end tests drive stock keeping through the cabinet intake (as the HL7 listener
// does) and the API, against the shared Temporal server, worker and database.

// reporter sends cabinet reports the way the HL7 listener hands them over: from this machine
// (the fixtures' cabinets allow 127.0.0.1), into the inbox of the stack's intake, whose
// applier applies them.
type reporter struct{ in *intake.Intake }

func newIntake() reporter { return reporter{in: e2e.intake} }

// errReportFailed is what HandleEvent returns for a report the applier gave up on.
var errReportFailed = errors.New("report failed")

// HandleEvent answers as the listener would (nil: AA), then waits until the report was
// applied: it returns errReportFailed, with the reason, when the applier gave it up.
func (r reporter) HandleEvent(ctx context.Context, e cabinet.Event) error {
	_, err := r.apply(ctx, e)
	return err
}

// apply is HandleEvent returning the report's outcome as well (applied, duplicate, unmatched).
func (r reporter) apply(ctx context.Context, e cabinet.Event) (string, error) {
	peer := mllp.Peer{Addr: netip.MustParseAddrPort("127.0.0.1:40000")}
	if err := r.in.HandleEvent(mllp.WithPeer(ctx, peer), e); err != nil {
		return "", err
	}
	cab, err := e2e.store.GetCabinetByCode(ctx, e.CabinetCode)
	if err != nil {
		return "", err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := e2e.store.InboxReportState(ctx, cab.ID, e.MessageControlID)
		switch {
		case err != nil:
			return "", err
		case st.State == "applied":
			return st.Outcome, nil
		case st.State == "failed":
			return st.Outcome, fmt.Errorf("%w: %s", errReportFailed, st.LastError)
		case time.Now().After(deadline):
			return "", fmt.Errorf("report %s still %s after 30s: %s", e.MessageControlID, st.State, st.LastError)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// vend builds a vend report of qty of the fixture's first medication for order.
func (c *apiClient) vend(f fixture, msgID, order string, qty int32) cabinet.Event {
	c.t.Helper()
	return cabinet.Event{
		MessageControlID: msgID, Kind: cabinet.EventVend, CabinetCode: f.cabinetCode, RequestID: order,
		Lines: []cabinet.EventLine{{MedicationCode: c.medicationCode(f, f.meds[0]), Amount: cabinet.CountOf(qty)}},
	}
}

// event builds a cabinet report of the fixture's cabinet with a fresh message control id.
func (c *apiClient) event(f fixture, kind cabinet.EventKind, med int64, amount int32) cabinet.Event {
	c.t.Helper()
	return cabinet.Event{
		MessageControlID: fmt.Sprintf("MSG-%d-%d", c.s.seq.Add(1), time.Now().UnixNano()%1e6),
		Kind:             kind,
		CabinetCode:      f.cabinetCode,
		MedicationCode:   c.medicationCode(f, med),
		Drawer:           "2",
		Pocket:           "B",
		Amount:           cabinet.CountOf(amount),
		User:             "cab-user-7",
		At:               time.Now().UTC().Truncate(time.Second),
	}
}

func (c *apiClient) medicationCode(f fixture, med int64) string {
	c.t.Helper()
	rows, err := e2e.store.ListStock(context.Background(), f.cabinetID)
	require.NoError(c.t, err)
	for _, r := range rows {
		if r.MedicationID == med {
			return r.MedicationCode
		}
	}
	c.t.Fatalf("medication %d not stocked in cabinet %d", med, f.cabinetID)
	return ""
}

// requireLedger checks 0 <= reserved <= on_hand, reserved == the held reservations, and that
// the stock ledger sums to on_hand; it returns on_hand.
func requireLedger(t require.TestingT, f fixture, med int64) int32 {
	ctx := context.Background()
	rows, err := e2e.store.ListStock(ctx, f.cabinetID)
	require.NoError(t, err)
	for _, r := range rows {
		if r.MedicationID != med {
			continue
		}
		held, err := e2e.store.HeldReservations(ctx, f.cabinetID, med)
		require.NoError(t, err)
		balance, err := e2e.store.MovementBalance(ctx, f.cabinetID, med)
		require.NoError(t, err)
		require.GreaterOrEqual(t, r.Reserved, int32(0))
		require.LessOrEqual(t, r.Reserved, r.OnHand)
		require.Equal(t, held, r.Reserved, "reserved equals the held reservations")
		require.Equal(t, r.OnHand, balance, "the stock ledger sums to on_hand")
		return r.OnHand
	}
	require.Fail(t, "pocket not stocked")
	return 0
}

// readyRequest creates a request for qty of the fixture's first medication and brings it to
// ready_at_cabinet.
func (c *apiClient) readyRequest(f fixture, qty int) string {
	c.t.Helper()
	nurse := c.token("nurse-rs", pyxis.RoleNurse)
	id := c.create(f, nurse, qty)
	c.waitStatus(id, nurse, "awaiting_approval")
	status, body := c.do("POST", "/v1/requests/"+id+"/approve", c.token("pharm-rs", pyxis.RolePharmacist), nil)
	require.Equal(c.t, http.StatusAccepted, status, body)
	c.waitStatus(id, nurse, "ready_at_cabinet")
	return id
}

// refills lists the refill tasks of the fixture's cabinet.
func (c *apiClient) refills(f fixture, status string) []map[string]any {
	c.t.Helper()
	code, body := c.do("GET", fmt.Sprintf("/v1/refills?status=%s&cabinet_id=%d", status, f.cabinetID), c.token("tech-rs", pyxis.RoleTechnician), nil)
	require.Equal(c.t, http.StatusOK, code, body)
	var out []map[string]any
	for _, r := range body["data"].([]any) {
		out = append(out, r.(map[string]any))
	}
	return out
}

// openRefill waits for the one open refill task of the fixture's cabinet and returns it.
func (c *apiClient) openRefill(f fixture) map[string]any {
	c.t.Helper()
	var task map[string]any
	require.EventuallyWithT(c.t, func(ct *assert.CollectT) {
		open := c.refills(f, "open")
		if assert.Len(ct, open, 1) {
			task = open[0]
		}
	}, 30*time.Second, 100*time.Millisecond, "no open refill task")
	return task
}

// discrepancies lists the fixture cabinet's discrepancies of a status.
func (c *apiClient) discrepancies(f fixture, status string) []map[string]any {
	c.t.Helper()
	code, body := c.do("GET", fmt.Sprintf("/v1/discrepancies?status=%s&cabinet_id=%d", status, f.cabinetID), c.token("pharm-rs", pyxis.RolePharmacist), nil)
	require.Equal(c.t, http.StatusOK, code, body)
	var out []map[string]any
	for _, r := range body["data"].([]any) {
		out = append(out, r.(map[string]any))
	}
	return out
}

func (c *apiClient) movementKinds(f fixture, med int64) []string {
	c.t.Helper()
	ms, err := e2e.store.ListMovements(context.Background(), f.cabinetID, med)
	require.NoError(c.t, err)
	var out []string
	for _, m := range ms {
		out = append(out, m.Kind)
	}
	return out
}

func num(v any) int { return int(v.(float64)) }

func TestRestockBelowParCompletedByCabinetLoad(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(10) // par level 10
	in := newIntake()
	ctx := context.Background()

	id := c.readyRequest(f, 4)
	require.NoError(t, in.HandleEvent(ctx, c.vend(f, "RDS-"+id, id, 4)))
	c.waitStatus(id, c.token("nurse-rs", pyxis.RoleNurse), "dispensed")

	task := c.openRefill(f)
	assert.Equal(t, 4, num(task["requested_quantity"]), "par 10 - on_hand 6")
	assert.Equal(t, f.meds[0], int64(num(task["medication_id"])))
	assert.Equal(t, f.cabinetCode, task["cabinet_code"])
	assert.NotEmpty(t, task["since"])
	assert.EqualValues(t, 6, requireLedger(t, f, f.meds[0]))

	load := c.event(f, cabinet.EventLoad, f.meds[0], 4)
	require.NoError(t, in.HandleEvent(ctx, load))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		done := c.refills(f, "done")
		if assert.Len(ct, done, 1) {
			assert.Equal(ct, 4, num(done[0]["loaded_quantity"]))
			assert.Equal(ct, "cab-user-7", done[0]["completed_by"])
		}
	}, 30*time.Second, 100*time.Millisecond)
	assert.EqualValues(t, 10, requireLedger(t, f, f.meds[0]))
	assert.Empty(t, c.refills(f, "open"))

	require.NoError(t, in.HandleEvent(ctx, load), "a resent load report is acknowledged")
	assert.EqualValues(t, 10, requireLedger(t, f, f.meds[0]), "and counted once")
	assert.Equal(t, []string{"adjusted", "dispensed", "loaded"}, c.movementKinds(f, f.meds[0]))

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		desc, err := e2e.tc.DescribeWorkflowExecution(ctx, workflows.RestockWorkflowID(f.cabinetID, f.meds[0]), "")
		if assert.NoError(ct, err) {
			assert.Equal(ct, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())
		}
	}, 10*time.Second, 100*time.Millisecond)
	captureHistory(t, id, "dispensed_starts_restock")
	captureHistory(t, workflows.RestockWorkflowID(f.cabinetID, f.meds[0]), "restock_confirmed_by_cabinet_load")

	// With no refill open, a load is a load of its own.
	require.NoError(t, in.HandleEvent(ctx, c.event(f, cabinet.EventLoad, f.meds[0], 2)))
	assert.EqualValues(t, 12, requireLedger(t, f, f.meds[0]))
}

func TestRefillConfirmedThroughAPI(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5) // par level 5
	nurse := c.token("nurse-rs", pyxis.RoleNurse)
	tech := c.token("tech-rs", pyxis.RoleTechnician)

	first := c.readyRequest(f, 2)
	status, body := c.do("POST", fmt.Sprintf("/v1/cabinets/%d/events", f.cabinetID), nurse, map[string]any{"type": "withdrawn", "request_id": first})
	require.Equal(t, http.StatusAccepted, status, body)
	task := c.openRefill(f)
	assert.Equal(t, 2, num(task["requested_quantity"]))

	// A second dispense while the restock is open joins it: one restock per pocket.
	second := c.readyRequest(f, 1)
	require.NoError(t, newIntake().HandleEvent(context.Background(), c.vend(f, "RDS-"+second, second, 1)))
	c.waitStatus(second, nurse, "dispensed")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{2, 0}, []int{onHand, reserved})
	}, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, task["id"], c.openRefill(f)["id"])

	path := fmt.Sprintf("/v1/refills/%d/confirm", num(task["id"]))
	for _, tc := range []struct {
		token string
		body  any
		want  int
	}{
		{tech, map[string]any{"quantity": 0}, http.StatusUnprocessableEntity},
		{tech, map[string]any{}, http.StatusUnprocessableEntity},
		{tech, map[string]any{"quantity": workflows.MaxRefillQuantity + 1}, http.StatusUnprocessableEntity},
		{tech, map[string]any{"quantity": 3, "extra": 1}, http.StatusBadRequest},
		{nurse, map[string]any{"quantity": 3}, http.StatusForbidden},
		{c.token("pharm-rs", pyxis.RolePharmacist), map[string]any{"quantity": 3}, http.StatusForbidden},
	} {
		// Bodies outside the document on purpose; the answers are still checked.
		status, body := c.malformed().do("POST", path, tc.token, tc.body)
		assert.Equal(t, tc.want, status, body)
	}
	status, body = c.do("POST", "/v1/refills/999999999/confirm", tech, map[string]any{"quantity": 3})
	assert.Equal(t, http.StatusNotFound, status, body)

	status, body = c.do("POST", path, tech, map[string]any{"quantity": 3})
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "confirmed", body["status"])
	assert.Equal(t, 3, num(body["loaded_quantity"]))
	status, body = c.do("POST", path, tech, map[string]any{"quantity": 3})
	assert.Equal(t, http.StatusConflict, status, "a second confirmation is refused: %v", body)
	assert.Equal(t, "invalid_state", body["error"].(map[string]any)["code"])

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		done := c.refills(f, "done")
		if assert.Len(ct, done, 1) {
			assert.Equal(ct, 3, num(done[0]["loaded_quantity"]))
			assert.Equal(ct, "tech-rs", done[0]["completed_by"])
		}
	}, 30*time.Second, 100*time.Millisecond)
	assert.EqualValues(t, 5, requireLedger(t, f, f.meds[0]))
	status, body = c.do("POST", path, tech, map[string]any{"quantity": 3})
	assert.Equal(t, http.StatusConflict, status, "a done task cannot be confirmed: %v", body)
	captureHistory(t, workflows.RestockWorkflowID(f.cabinetID, f.meds[0]), "restock_confirmed_by_api")

	status, body = c.malformed().do("GET", "/v1/refills?status=pending", tech, nil)
	assert.Equal(t, http.StatusUnprocessableEntity, status, body)
}

func TestCountMismatchRecordedAndResolved(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(10)
	in := newIntake()
	tech := c.token("tech-rs", pyxis.RoleTechnician)
	pharmacist := c.token("pharm-rs", pyxis.RolePharmacist)
	counts := fmt.Sprintf("/v1/cabinets/%d/counts", f.cabinetID)

	status, body := c.do("POST", counts, tech, map[string]any{"medication_id": f.meds[0], "count": 10})
	require.Equal(t, http.StatusCreated, status, body)
	assert.Nil(t, body["discrepancy"], "a matching count records nothing to resolve")
	assert.Equal(t, 10, num(body["on_hand"]))

	status, body = c.do("POST", counts, tech, map[string]any{"medication_id": f.meds[0], "count": 8})
	require.Equal(t, http.StatusCreated, status, body)
	d := body["discrepancy"].(map[string]any)
	assert.Equal(t, "count_mismatch", d["kind"])
	assert.Equal(t, []int{10, 8}, []int{num(d["expected"]), num(d["actual"])})
	assert.Equal(t, "open", d["status"])
	assert.EqualValues(t, 10, requireLedger(t, f, f.meds[0]), "a count never overwrites on_hand")

	for _, tc := range []struct {
		path  string
		token string
		body  any
		want  int
	}{
		{counts, c.token("nurse-rs", pyxis.RoleNurse), map[string]any{"medication_id": f.meds[0], "count": 8}, http.StatusForbidden},
		{counts, tech, map[string]any{"medication_id": f.meds[0], "count": -1}, http.StatusUnprocessableEntity},
		{counts, tech, map[string]any{"medication_id": f.meds[0]}, http.StatusUnprocessableEntity},
		{counts, tech, map[string]any{"medication_id": 999999999, "count": 1}, http.StatusNotFound},
		{"/v1/cabinets/999999999/counts", tech, map[string]any{"medication_id": f.meds[0], "count": 1}, http.StatusNotFound},
	} {
		status, body := c.malformed().do("POST", tc.path, tc.token, tc.body)
		assert.Equal(t, tc.want, status, body)
	}

	// The cabinet's own count, reported twice, records one discrepancy.
	count := c.event(f, cabinet.EventCount, f.meds[0], 0)
	count.Expected, count.Actual = cabinet.CountOf(10), cabinet.CountOf(9)
	require.NoError(t, in.HandleEvent(context.Background(), count))
	require.NoError(t, in.HandleEvent(context.Background(), count))
	open := c.discrepancies(f, "open")
	require.Len(t, open, 2)
	assert.Equal(t, []int{10, 9}, []int{num(open[0]["expected"]), num(open[0]["actual"])})
	assert.Equal(t, "B", open[0]["details"].(map[string]any)["pocket"])

	status, _ = c.do("GET", "/v1/discrepancies", tech, nil)
	assert.Equal(t, http.StatusForbidden, status, "technicians count; pharmacists resolve")
	status, _ = c.malformed().do("GET", "/v1/discrepancies?status=closed", pharmacist, nil)
	assert.Equal(t, http.StatusUnprocessableEntity, status)

	resolve := fmt.Sprintf("/v1/discrepancies/%d/resolve", num(d["id"]))
	status, body = c.malformed().do("POST", resolve, pharmacist, map[string]any{"set_on_hand": 8})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "a reason is required: %v", body)
	status, _ = c.do("POST", resolve, tech, map[string]any{"reason": "recounted"})
	assert.Equal(t, http.StatusForbidden, status)
	status, body = c.do("POST", resolve, pharmacist, map[string]any{"reason": "recounted with the technician: 2 ampoules broken", "set_on_hand": 8})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "resolved", body["status"])
	assert.Equal(t, "pharm-rs", body["resolved_by"])
	assert.EqualValues(t, 8, requireLedger(t, f, f.meds[0]))
	status, body = c.do("POST", resolve, pharmacist, map[string]any{"reason": "again"})
	assert.Equal(t, http.StatusConflict, status, body)
	status, _ = c.do("POST", "/v1/discrepancies/999999999/resolve", pharmacist, map[string]any{"reason": "x"})
	assert.Equal(t, http.StatusNotFound, status)

	status, body = c.do("POST", fmt.Sprintf("/v1/discrepancies/%d/resolve", num(open[0]["id"])), pharmacist, map[string]any{"reason": "cabinet miscounted; confirmed 8 by hand"})
	require.Equal(t, http.StatusOK, status, body)
	assert.Empty(t, c.discrepancies(f, "open"))
	assert.Len(t, c.discrepancies(f, "resolved"), 2)
	assert.EqualValues(t, 8, requireLedger(t, f, f.meds[0]))
	assert.Equal(t, []string{"adjusted", "counted", "counted", "counted", "adjusted"}, c.movementKinds(f, f.meds[0]))
}

func TestUnwitnessedControlledWasteRecordedAndResolved(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	in := newIntake()
	ctx := context.Background()
	admin := c.token("admin-1", pyxis.RoleAdmin)
	status, med := c.do("POST", "/v1/medications", admin, map[string]any{
		"code": f.cabinetCode + "-FENT", "name": "Fentanyl 50 mcg/ml", "unit": "ampoule", "controlled_list": "A1",
	})
	require.Equal(t, http.StatusCreated, status, med)
	fentanyl := int64(num(med["id"]))
	c.stockControlled(f, fentanyl, 5, 2)

	unwitnessed := c.event(f, cabinet.EventWaste, fentanyl, 1)
	require.NoError(t, in.HandleEvent(ctx, unwitnessed))
	require.NoError(t, in.HandleEvent(ctx, unwitnessed), "a resent report is acknowledged")
	assert.EqualValues(t, 4, requireLedger(t, f, fentanyl), "and wasted once")

	witnessed := c.event(f, cabinet.EventWaste, fentanyl, 1)
	witnessed.Witness = "cab-user-8"
	require.NoError(t, in.HandleEvent(ctx, witnessed))
	// The cabinet's controlled class counts even for a medication the catalogue does not control.
	classed := c.event(f, cabinet.EventWaste, f.meds[0], 1)
	classed.ControlledClass = "II"
	require.NoError(t, in.HandleEvent(ctx, classed))

	open := c.discrepancies(f, "open")
	require.Len(t, open, 2)
	byMed := map[int64]map[string]any{}
	for _, d := range open {
		assert.Equal(t, "unwitnessed_controlled_waste", d["kind"])
		assert.Nil(t, d["expected"])
		byMed[int64(num(d["medication_id"]))] = d
	}
	require.Contains(t, byMed, fentanyl)
	assert.Equal(t, "cab-user-7", byMed[fentanyl]["details"].(map[string]any)["wasted_by"])
	require.Contains(t, byMed, f.meds[0])

	ms, err := e2e.store.ListMovements(ctx, f.cabinetID, fentanyl)
	require.NoError(t, err)
	require.Len(t, ms, 4, "the empty pocket's count, the witnessed load, two wastes")
	assert.Equal(t, "tech-witness", ms[1].WitnessID)
	assert.Empty(t, ms[2].WitnessID)
	assert.Equal(t, "cab-user-8", ms[3].WitnessID)
	assert.Equal(t, db.SourceCabinet, ms[3].Source)
	assert.Equal(t, int32(-1), ms[3].Quantity)

	// Never below zero or what is reserved: the report is refused with a clear error.
	// A report the ledger cannot take is acknowledged, then given up on, audited.
	err = in.HandleEvent(ctx, c.event(f, cabinet.EventWaste, fentanyl, 50))
	require.ErrorIs(t, err, errReportFailed)
	assert.Contains(t, err.Error(), "would leave -47 on hand")
	assert.EqualValues(t, 3, requireLedger(t, f, fentanyl))

	pharmacist := c.token("pharm-rs", pyxis.RolePharmacist)
	for _, d := range open {
		status, body := c.do("POST", fmt.Sprintf("/v1/discrepancies/%d/resolve", num(d["id"])), pharmacist,
			map[string]any{"reason": "witness signed the paper log; waste confirmed"})
		require.Equal(t, http.StatusOK, status, body)
		assert.Equal(t, "resolved", body["status"])
	}
	assert.Empty(t, c.discrepancies(f, "open"))
	assert.EqualValues(t, 3, requireLedger(t, f, fentanyl))
	assert.EqualValues(t, 4, requireLedger(t, f, f.meds[0]))
}

func TestIntakeDuplicateReportsCountedOnce(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(6)
	in := newIntake()
	ctx := context.Background()
	id := c.readyRequest(f, 2) // holds 2 of the 6

	ret := c.event(f, cabinet.EventReturn, f.meds[0], 3)
	ret.RequestID = id
	unload := c.event(f, cabinet.EventUnload, f.meds[0], 4)
	for range 3 {
		require.NoError(t, in.HandleEvent(ctx, ret))
		require.NoError(t, in.HandleEvent(ctx, unload))
	}
	assert.EqualValues(t, 5, requireLedger(t, f, f.meds[0]), "6 + 3 - 4")

	// An unload that would dig into the reservation is given up on; the cabinet's corrected
	// report (a new message) is applied. The same id with other content is a conflict.
	tooMuch := c.event(f, cabinet.EventUnload, f.meds[0], 4)
	err := in.HandleEvent(ctx, tooMuch)
	require.ErrorIs(t, err, errReportFailed)
	assert.Contains(t, err.Error(), "2 are reserved")
	onHand, reserved := c.stock(f, f.meds[0])
	assert.Equal(t, []int{5, 2}, []int{onHand, reserved})
	reused := tooMuch
	reused.Amount = cabinet.CountOf(3)
	var re *cabinet.ReportError
	require.ErrorAs(t, in.HandleEvent(ctx, reused), &re)
	assert.Equal(t, []string{cabinet.AckError, cabinet.ConditionDuplicateKey}, []string{re.Ack, re.Condition})
	corrected := c.event(f, cabinet.EventUnload, f.meds[0], 3)
	require.NoError(t, in.HandleEvent(ctx, corrected))
	assert.EqualValues(t, 2, requireLedger(t, f, f.meds[0]))

	ms, err := e2e.store.ListMovements(ctx, f.cabinetID, f.meds[0])
	require.NoError(t, err)
	require.Len(t, ms, 4)
	assert.Equal(t, id, ms[1].RequestID)
	assert.Equal(t, ret.MessageControlID, ms[1].CabinetMessageID)
	assert.Equal(t, "cab-user-7", ms[1].Actor.ID)
	assert.Equal(t, "cabinet", ms[1].Actor.Role)
	assert.Equal(t, ret.At, ms[1].At.UTC())
}

func TestIntakeVendCompletesRequestOnce(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(10)
	other := c.fixture(1)
	in := newIntake()
	ctx := context.Background()
	nurse := c.token("nurse-rs", pyxis.RoleNurse)

	id := c.readyRequest(f, 3)
	vend := c.vend(f, "RDS-1-"+id, id, 3)
	vend.User = "nurse-rs"
	out, err := in.apply(ctx, vend)
	require.NoError(t, err)
	assert.Equal(t, "applied", out)
	state := c.waitStatus(id, nurse, "dispensed")
	require.NotNil(t, state.Transitions)
	last := *state.Transitions
	assert.Equal(t, "nurse-rs", last[len(last)-1].Actor.Id, "the cabinet user withdrew it")
	assert.Equal(t, &[]apiclient.ItemBody{{MedicationId: f.meds[0], Quantity: 3}}, state.Vended)

	out, err = in.apply(ctx, vend)
	require.NoError(t, err, "a resent vend is acknowledged")
	assert.Equal(t, "applied", out, "and applied once: it is the same report")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		onHand, reserved := c.stock(f, f.meds[0])
		assert.Equal(ct, []int{7, 0}, []int{onHand, reserved}, "consumed once")
	}, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, []string{"adjusted", "dispensed"}, c.movementKinds(f, f.meds[0]))

	// Another report of this cabinet for the request once it is dispensed is applied to the
	// request by the rules of every vend: beyond the order, it opens an over_vend.
	again := c.vend(f, "RDS-2-"+id, id, 1)
	out, err = in.apply(ctx, again)
	require.NoError(t, err)
	assert.Equal(t, "late_vend", out)
	assert.EqualValues(t, 6, requireLedger(t, f, f.meds[0]))
	over := c.discrepancies(f, "open")
	require.Len(t, over, 1)
	assert.Equal(t, []any{"over_vend", float64(0), float64(1)}, []any{over[0]["kind"], over[0]["expected"], over[0]["actual"]})
	elsewhere := c.vend(other, "RDS-3-"+id, id, 1)
	out, err = in.apply(ctx, elsewhere)
	require.NoError(t, err)
	assert.Equal(t, "unmatched", out, "not a withdrawal this cabinet was authorized for")

	// A vend for a request still awaiting approval: the cabinet dispensed without an
	// authorization of this system.
	waiting := c.create(f, nurse, 1)
	c.waitStatus(waiting, nurse, "awaiting_approval")
	out, err = in.apply(ctx, c.vend(f, "RDS-"+waiting, waiting, 1))
	require.NoError(t, err)
	assert.Equal(t, "unmatched", out)

	reviews := c.overrides(f)
	require.Len(t, reviews, 1, "the vend of a request awaiting approval")
	for _, r := range reviews {
		assert.Equal(t, "request_not_ready", r["cause"])
		assert.Equal(t, "open", r["status"])
	}
}

func TestIntakeUnknownOrderAndBadReports(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(3)
	in := newIntake()
	ctx := context.Background()

	// A vend whose order this system does not know (another system's order, an override, no
	// order at all) is accepted, recorded, and reviewed.
	for i, order := range []string{"medreq-01J00000000000000000000000", "PHARM-4471", ""} {
		out, err := in.apply(ctx, c.vend(f, fmt.Sprintf("RDS-U%d", i), order, 1))
		require.NoError(t, err, order)
		assert.Equal(t, "unmatched", out, order)
	}
	assert.EqualValues(t, 0, requireLedger(t, f, f.meds[0]), "three units left the cabinet")
	causes := map[string]int{}
	for _, r := range c.overrides(f) {
		causes[r["cause"].(string)]++
	}
	assert.Equal(t, map[string]int{"unknown_order": 2, "no_order": 1}, causes)

	refused := func(e cabinet.Event, condition string) {
		t.Helper()
		var re *cabinet.ReportError
		require.ErrorAs(t, in.HandleEvent(ctx, e), &re)
		assert.Equal(t, []string{cabinet.AckError, condition}, []string{re.Ack, re.Condition}, re.Text)
	}
	e := c.event(f, cabinet.EventReturn, f.meds[0], 1)
	e.CabinetCode = "NO-SUCH-CABINET"
	refused(e, cabinet.ConditionUnknownKey)
	// A medication the catalogue does not know happened all the same: kept (AA), and parked
	// for review when applied, moving no stock (intake's parked tests).
	e = c.event(f, cabinet.EventReturn, f.meds[0], 1)
	e.MedicationCode = "NO-SUCH-DRUG"
	require.NoError(t, in.HandleEvent(ctx, e))
	e = c.event(f, cabinet.EventReturn, f.meds[0], 1)
	e.MessageControlID = ""
	refused(e, cabinet.ConditionRequiredField)
	refused(c.event(f, cabinet.EventReturn, f.meds[0], 0), cabinet.ConditionRequiredField)
	refused(c.event(f, cabinet.EventKind("X"), f.meds[0], 1), cabinet.ConditionTableValue)
	assert.EqualValues(t, 0, requireLedger(t, f, f.meds[0]), "nothing changed")
}

// overrides lists the override reviews of the fixture's cabinet.
func (c *apiClient) overrides(f fixture) []map[string]any {
	c.t.Helper()
	status, body := c.do("GET", fmt.Sprintf("/v1/overrides?cabinet_id=%d", f.cabinetID), c.token("pharm-rs", pyxis.RolePharmacist), nil)
	require.Equal(c.t, http.StatusOK, status, body)
	var out []map[string]any
	for _, r := range body["data"].([]any) {
		out = append(out, r.(map[string]any))
	}
	return out
}
