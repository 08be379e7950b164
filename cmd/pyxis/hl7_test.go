package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/workflows"
)

// hl7Cabinet is a cabinet of its own commanded over HL7: the cabinet simulator on the wire,
// reporting to the project's MLLP listener, which applies reports through the intake.
type hl7Cabinet struct {
	fixture
	sim *cabsim.Sim
}

func (c *apiClient) hl7Cabinet(format string, withdrawAfter time.Duration, onHand int) hl7Cabinet {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c.t.Cleanup(cancel)
	listener, err := listenMLLP(config{MLLPAddr: "127.0.0.1:0"}, e2e.intake)
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

	admin := c.token("admin-1", workflows.RoleAdmin)
	code := fmt.Sprintf("HL7-%d-%d", c.s.seq.Add(1), time.Now().UnixNano()%1e9)
	status, cab := c.do("POST", "/v1/cabinets", admin, map[string]any{"code": code, "name": "HL7 cabinet", "unit": "ICU", "driver": "hl7", "address": sim.Addr(),
		"report_sources": []string{"127.0.0.1/32"}})
	require.Equal(c.t, http.StatusCreated, status, cab)
	f := fixture{cabinetID: int64(cab["id"].(float64)), cabinetCode: code}
	status, med := c.do("POST", "/v1/medications", admin, map[string]any{"code": code + "-M0", "name": "Ondansetron", "unit": "ampoule"})
	require.Equal(c.t, http.StatusCreated, status, med)
	f.meds = []int64{int64(med["id"].(float64))}
	status, row := c.do("PUT", fmt.Sprintf("/v1/cabinets/%d/stock/%d", f.cabinetID, f.meds[0]), c.token("tech-1", workflows.RoleTechnician),
		map[string]any{"on_hand": onHand, "par_level": 0})
	require.Equal(c.t, http.StatusOK, status, row)
	return hl7Cabinet{fixture: f, sim: sim}
}

func (c *apiClient) approveOnce(id string) {
	c.t.Helper()
	status, body := c.do("POST", "/v1/requests/"+id+"/approve", c.token("pharm-hl7", workflows.RolePharmacist), nil)
	require.Equal(c.t, http.StatusAccepted, status, body)
}

// The whole lifecycle over HL7, in both report shapes: approve → RDE^O11 → ACK AA → the
// cabinet's report (RDS^O13, or OMS^O05 with ZPM-1 V) → dispensed, stock consumed.
func TestLifecycleOverHL7(t *testing.T) {
	for _, format := range []string{cabsim.FormatRDS, cabsim.FormatPADE} {
		t.Run(format, func(t *testing.T) {
			c := newAPI(t, testConfig())
			cab := c.hl7Cabinet(format, 200*time.Millisecond, 6)
			nurse := c.token("nurse-hl7", workflows.RoleNurse)
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
			captureHistory(t, id, "steps_dispensed_over_hl7_"+format)
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
	nurse := c.token("nurse-dup", workflows.RoleNurse)
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
	cfg := testConfig()
	cfg.CabinetAttempts = 4
	c := newAPI(t, cfg)
	cab := c.hl7Cabinet(cabsim.FormatRDS, 200*time.Millisecond, 5)
	slow, err := cabsim.ParseFaults([]string{"slow=1500ms"}) // beyond the harness's 1s ACK timeout
	require.NoError(t, err)
	cab.sim.SetFaults(slow)
	nurse := c.token("nurse-retry", workflows.RoleNurse)
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
