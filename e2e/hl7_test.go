package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/service"
	"github.com/medreq/pyxis/workflows"
)

// hl7Cabinet is a cabinet of its own commanded over HL7: the cabinet simulator on the wire,
// reporting to the project's MLLP listener, which applies reports through the intake.
type hl7Cabinet struct {
	fixture
	sim *cabsim.Sim
	// listener is the address of the MLLP listener the cabinet reports to.
	listener string
}

// listenerConfig is the listener's configuration as `pyxis api` reads it with nothing set.
func listenerConfig(t *testing.T) service.Config {
	t.Helper()
	cfg, err := service.LoadConfig(func(string) string { return "" })
	require.NoError(t, err)
	cfg.MLLPAddr = "127.0.0.1:0"
	return cfg
}

func (c *apiClient) hl7Cabinet(format string, withdrawAfter time.Duration, onHand int) hl7Cabinet {
	c.t.Helper()
	return c.hl7CabinetOn(listenerConfig(c.t), format, withdrawAfter, onHand)
}

// hl7CabinetOn is hl7Cabinet with a listener of the given configuration.
func (c *apiClient) hl7CabinetOn(cfg service.Config, format string, withdrawAfter time.Duration, onHand int) hl7Cabinet {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c.t.Cleanup(cancel)
	listener, err := service.ListenMLLP(cfg, e2e.intake, e2e.store)
	require.NoError(c.t, err)
	go func() { _ = listener.Serve(ctx) }()
	c.t.Cleanup(func() { _ = listener.Close() })

	sim, err := cabsim.New(cabsim.Config{
		Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", ReportTo: listener.Addr().String(),
		WithdrawAfter: withdrawAfter, ReportFormat: format,
	})
	require.NoError(c.t, err)
	require.NoError(c.t, sim.Start(ctx))
	c.t.Cleanup(func() { _ = sim.Close() })

	admin := c.token("admin-1", pyxis.RoleAdmin)
	code := fmt.Sprintf("HL7-%d-%d", c.s.seq.Add(1), time.Now().UnixNano()%1e9)
	status, cab := c.do("POST", "/v1/cabinets", admin, map[string]any{"code": code, "name": "HL7 cabinet", "unit": "ICU", "driver": "hl7", "address": sim.Addr(),
		"report_sources": []string{"127.0.0.1/32"}})
	require.Equal(c.t, http.StatusCreated, status, cab)
	f := fixture{cabinetID: int64(cab["id"].(float64)), cabinetCode: code}
	status, med := c.do("POST", "/v1/medications", admin, map[string]any{"code": code + "-M0", "name": "Ondansetron", "unit": "ampoule"})
	require.Equal(c.t, http.StatusCreated, status, med)
	f.meds = []int64{int64(med["id"].(float64))}
	status, row := c.do("PUT", fmt.Sprintf("/v1/cabinets/%d/stock/%d", f.cabinetID, f.meds[0]), c.token("tech-1", pyxis.RoleTechnician),
		map[string]any{"on_hand": onHand, "par_level": 0})
	require.Equal(c.t, http.StatusOK, status, row)
	return hl7Cabinet{fixture: f, sim: sim, listener: listener.Addr().String()}
}

func (c *apiClient) approveOnce(id string) {
	c.t.Helper()
	resp, err := c.api.ApproveRequestWithResponse(c.t.Context(), id, apiclient.NoteBody{}, as(c.token("pharm-hl7", pyxis.RolePharmacist)))
	require.NoError(c.t, err)
	require.Equal(c.t, http.StatusAccepted, resp.StatusCode(), "%s", resp.Body)
}

// The whole lifecycle over HL7, in both report shapes: approve → RDE^O11 → ACK AA → the
// cabinet's report (RDS^O13, or OMS^O05 with ZPM-1 V) → dispensed, stock consumed.
func TestLifecycleOverHL7(t *testing.T) {
	for _, format := range []string{cabsim.FormatRDS, cabsim.FormatPADE} {
		t.Run(format, func(t *testing.T) {
			c := newAPI(t, testConfig())
			cab := c.hl7Cabinet(format, 200*time.Millisecond, 6)
			nurse := c.token("nurse-hl7", pyxis.RoleNurse)
			id := c.create(cab.fixture, nurse, 2)
			c.waitStatus(id, nurse, "awaiting_approval")
			c.approveOnce(id)

			c.waitStatus(id, nurse, "dispensed")
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				assert.Equal(ct, 6-2, int(requireLedger(ct, cab.fixture, cab.meds[0])))
			}, 10*time.Second, 100*time.Millisecond)
			st := cab.sim.Stats()
			assert.Equal(t, 1, st.OrdersAccepted)
			assert.Equal(t, 1, st.ReportsSent)
			c.requireProjectionMatchesWorkflow(id, nurse)
			captureHistory(t, id, "dispensed_over_hl7_"+format)
		})
	}
}

// A cabinet that sends its withdrawal report twice (same MSH-10) is acknowledged both times
// and the stock is consumed once.
func TestDuplicateReportConsumesOnce(t *testing.T) {
	c := newAPI(t, testConfig())
	cab := c.hl7Cabinet(cabsim.FormatRDS, 200*time.Millisecond, 5)
	faults, err := cabsim.ParseFaults([]string{"duplicate"})
	require.NoError(t, err)
	cab.sim.SetFaults(faults)
	nurse := c.token("nurse-dup", pyxis.RoleNurse)
	id := c.create(cab.fixture, nurse, 3)
	c.waitStatus(id, nurse, "awaiting_approval")
	c.approveOnce(id)
	c.waitStatus(id, nurse, "dispensed")

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		st := cab.sim.Stats()
		assert.Equal(ct, 1, st.ReportsSent)
		assert.Zero(ct, st.ReportsFailed, "both copies were acknowledged")
		assert.Equal(ct, 5-3, int(requireLedger(ct, cab.fixture, cab.meds[0])), "consumed once")
	}, 10*time.Second, 100*time.Millisecond)
}

// An authorization whose ACK comes too late is resent by Temporal's retry with the same
// control id: the cabinet acknowledges it and counts it once.
func TestRetriedAuthorizationCountedOnce(t *testing.T) {
	c := newAPI(t, testConfig())
	cab := c.hl7Cabinet(cabsim.FormatRDS, 200*time.Millisecond, 5)
	slow, err := cabsim.ParseFaults([]string{"slow=1500ms"}) // beyond the harness's 1s ACK timeout
	require.NoError(t, err)
	cab.sim.SetFaults(slow)
	nurse := c.token("nurse-retry", pyxis.RoleNurse)
	id := c.create(cab.fixture, nurse, 1)
	c.waitStatus(id, nurse, "awaiting_approval")
	c.approveOnce(id)

	// The first NW is accepted but answered too late; heal the cabinet for the retry.
	require.Eventually(t, func() bool { return cab.sim.Stats().OrdersAccepted == 1 }, 10*time.Second, 10*time.Millisecond)
	cab.sim.SetFaults(cabsim.Faults{})

	c.waitStatus(id, nurse, "dispensed")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		st := cab.sim.Stats()
		assert.Equal(ct, 1, st.OrdersAccepted)
		assert.GreaterOrEqual(ct, st.DuplicatesRecognised, 1, "the resent authorization was recognised")
		assert.Equal(ct, 1, st.ReportsSent, "one withdrawal, reported once")
		assert.Equal(ct, 5-1, int(requireLedger(ct, cab.fixture, cab.meds[0])))
	}, 10*time.Second, 100*time.Millisecond)
}

// The order the cabinet receives carries the patient's name, the priority and, per line, the
// medication's strength and form (the HL7 grammar itself is tested in cabinet/hl7).
func TestOrderCarriesPatientNameAndPriorityOverHL7(t *testing.T) {
	c := newAPI(t, testConfig())
	cab := c.hl7Cabinet(cabsim.FormatRDS, 0, 5)
	nurse := c.token("nurse-pid", pyxis.RoleNurse)
	status, body := c.do("POST", "/v1/requests", nurse, map[string]any{
		"cabinet_id": cab.cabinetID, "priority": "urgent",
		"patient": map[string]any{"mrn": "MRN-PID-5", "bed": "4", "name": map[string]any{"family": "Souza", "given": "Maria"}},
		"items":   []map[string]any{{"medication_id": cab.meds[0], "quantity": 2}},
	})
	require.Equal(t, http.StatusCreated, status, body)
	id := body["id"].(string)
	assert.Equal(t, map[string]any{"family": "Souza", "given": "Maria"}, body["patient"].(map[string]any)["name"])
	c.waitStatus(id, nurse, "awaiting_approval")
	c.approveOnce(id)
	c.waitStatus(id, nurse, "ready_at_cabinet")

	o, ok := cab.sim.Order(id)
	require.True(t, ok)
	assert.Equal(t, []string{"Souza", "Maria", "urgent"}, []string{o.PatientFamily, o.PatientGiven, o.Priority})
	require.Len(t, o.Lines, 1)
	assert.EqualValues(t, 2, o.Lines[0].Quantity)
	c.requireProjectionMatchesWorkflow(id, nurse)
}

// A vend that differs from the order is consumed as the cabinet counted it, line by line, and
// opens a discrepancy; the request is dispensed once every line was vended.
func TestVendDifferentFromOrderOverHL7(t *testing.T) {
	for _, format := range []string{cabsim.FormatRDS, cabsim.FormatPADE} {
		t.Run(format, func(t *testing.T) {
			c := newAPI(t, testConfig())
			cab := c.hl7Cabinet(format, 0, 10)
			nurse := c.token("nurse-odd", pyxis.RoleNurse)
			id := c.create(cab.fixture, nurse, 2)
			c.waitStatus(id, nurse, "awaiting_approval")
			c.approveOnce(id)
			c.waitStatus(id, nurse, "ready_at_cabinet")

			three := int32(3)
			_, err := cab.sim.Withdraw(context.Background(), id, []cabsim.VendLine{{Amount: &three}})
			require.NoError(t, err)
			state := c.waitStatus(id, nurse, "dispensed")
			assert.Equal(t, &[]apiclient.ItemBody{{MedicationId: cab.meds[0], Quantity: 3}}, state.Vended)
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				assert.EqualValues(ct, 7, requireLedger(ct, cab.fixture, cab.meds[0]), "three left the cabinet")
				ds := c.discrepancies(cab.fixture, "open")
				if assert.Len(ct, ds, 1) {
					assert.Equal(ct, "over_vend", ds[0]["kind"])
					assert.EqualValues(ct, 2, ds[0]["expected"])
					assert.EqualValues(ct, 3, ds[0]["actual"])
				}
			}, 10*time.Second, 100*time.Millisecond)
			c.requireProjectionMatchesWorkflow(id, nurse)
			captureHistory(t, id, "vend_different_over_"+format)
		})
	}
}

// A vend for an order this system never made (an override at the cabinet) is acknowledged,
// leaves the ledger, and waits for a pharmacist's review.
func TestOverrideVendOverHL7IsReviewed(t *testing.T) {
	c := newAPI(t, testConfig())
	cab := c.hl7Cabinet(cabsim.FormatRDS, 0, 4)
	code := c.medicationCode(cab.fixture, cab.meds[0])
	one := int32(1)
	_, err := cab.sim.Override(context.Background(), cab.cabinetCode, "OVR-2291", []cabsim.VendLine{{MedicationCode: code, Amount: &one}})
	require.NoError(t, err, "acknowledged AA")

	var review map[string]any
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		rs := c.overrides(cab.fixture)
		if assert.Len(ct, rs, 1) {
			review = rs[0]
		}
	}, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, "OVR-2291", review["order_ref"])
	assert.Equal(t, "unknown_order", review["cause"])
	assert.EqualValues(t, 3, requireLedger(t, cab.fixture, cab.meds[0]))

	pharmacist := c.token("pharm-ovr", pyxis.RolePharmacist)
	path := fmt.Sprintf("/v1/overrides/%d/review", num(review["id"]))
	status, body := c.do("POST", path, pharmacist, map[string]any{"outcome": "not_justified"})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "a finding against it needs a note: %v", body)
	status, body = c.do("POST", path, c.token("nurse-ovr", pyxis.RoleNurse), map[string]any{"outcome": "justified"})
	assert.Equal(t, http.StatusForbidden, status, body)
	status, body = c.do("POST", path, pharmacist, map[string]any{"outcome": "justified", "note": "code blue, bed 4"})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "reviewed", body["status"])
	status, _ = c.do("POST", path, pharmacist, map[string]any{"outcome": "justified"})
	assert.Equal(t, http.StatusConflict, status)
}

// A report from a peer the cabinet does not list is refused AR and changes nothing; allowing
// the network lets the next resend through.
func TestReportFromAnUnlistedPeerIsRefused(t *testing.T) {
	c := newAPI(t, testConfig())
	cab := c.hl7Cabinet(cabsim.FormatRDS, 0, 4)
	admin := c.token("admin-1", pyxis.RoleAdmin)
	status, body := c.do("PUT", fmt.Sprintf("/v1/cabinets/%d/report-sources", cab.cabinetID), admin, map[string]any{"report_sources": []string{"10.20.4.0/24"}})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, []any{"10.20.4.0/24"}, body["report_sources"])

	code := c.medicationCode(cab.fixture, cab.meds[0])
	one := int32(1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := cab.sim.Override(ctx, cab.cabinetCode, "", []cabsim.VendLine{{MedicationCode: code, Amount: &one}})
	require.Error(t, err, "never acknowledged AA")
	assert.EqualValues(t, 4, requireLedger(t, cab.fixture, cab.meds[0]))
	assert.Empty(t, c.overrides(cab.fixture))

	status, body = c.do("PUT", fmt.Sprintf("/v1/cabinets/%d/report-sources", cab.cabinetID), admin, map[string]any{"report_sources": []string{"not-a-network"}})
	assert.Equal(t, http.StatusUnprocessableEntity, status, body)
}

// A medication newly stocked at an HL7 cabinet is sent to its item master, and a change of it
// reaches every HL7 cabinet that stocks it.
func TestMedicationChangeReachesTheItemMaster(t *testing.T) {
	c := newAPI(t, testConfig())
	cab := c.hl7Cabinet(cabsim.FormatRDS, 0, 4)
	admin := c.token("admin-1", pyxis.RoleAdmin)
	// The pocket hl7Cabinet made is new: the cabinet learns the medication before any order.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var names []string
		for _, it := range cab.sim.Items() {
			if it.Code == cab.cabinetCode+"-M0" {
				names = append(names, it.Name)
			}
		}
		assert.Equal(ct, []string{"Ondansetron"}, names)
	}, 15*time.Second, 100*time.Millisecond)
	captureHistory(t, workflows.ItemSyncWorkflowID(cab.cabinetID, cab.meds[0]), "item_sync_new_pocket")

	status, body := c.do("PATCH", fmt.Sprintf("/v1/medications/%d", cab.meds[0]), admin, map[string]any{"strength": "4 mg/2 mL", "form": "ampoule"})
	require.Equal(t, http.StatusOK, status, body)
	code := body["code"].(string)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var got []string
		for _, it := range cab.sim.Items() {
			if it.Code == code {
				got = append(got, it.Strength, it.Form)
			}
		}
		assert.Equal(ct, []string{"4 mg/2 mL", "ampoule"}, got)
	}, 15*time.Second, 100*time.Millisecond)
	status, body = c.malformed().do("PATCH", fmt.Sprintf("/v1/medications/%d", cab.meds[0]), admin, map[string]any{"controlled_list": "Z9"})
	assert.Equal(t, http.StatusUnprocessableEntity, status, body)
}
