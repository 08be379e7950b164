package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet/cabsim"
)

// Each door has its own report ids: a nurse's REST report gets an id the server makes
// (rest-<uuid>), whatever X-Request-ID she sends, so she cannot take the id the cabinet will
// report under. And the cabinet's vend that comes after her report (she said one of two; the
// cabinet counted three) is applied by the rules of every vend: the short line and the
// over-vend both open, whichever report came first.
func TestCabinetVendAfterARESTReportOpensItsOverVend(t *testing.T) {
	c := newAPI(t, testConfig())
	cab := c.hl7Cabinet(cabsim.FormatRDS, 0, 10)
	nurse := c.token("nurse-door", pyxis.RoleNurse)
	id := c.create(cab.fixture, nurse, 2)
	c.waitStatus(id, nurse, "awaiting_approval")
	c.approveOnce(id)
	c.waitStatus(id, nurse, "ready_at_cabinet")

	status, body := c.do("POST", fmt.Sprintf("/v1/cabinets/%d/events", cab.cabinetID), nurse, map[string]any{
		"type": "withdrawn", "request_id": id, "lines": []map[string]any{{"medication_id": cab.meds[0], "quantity": 1}},
	}, "X-Request-ID", "MSG-THE-CABINETS-NEXT")
	require.Equal(t, http.StatusAccepted, status, body)
	c.waitStatus(id, nurse, "dispensed")
	var reportIDs []string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		d, err := e2e.store.GetRequestDetail(context.Background(), id)
		require.NoError(ct, err)
		reportIDs = nil
		for _, tr := range d.Transitions {
			if tr.ReportID != "" {
				reportIDs = append(reportIDs, tr.ReportID)
			}
		}
		assert.Len(ct, reportIDs, 1, "the projection has the withdrawal")
	}, 10*time.Second, 50*time.Millisecond)
	assert.True(t, strings.HasPrefix(reportIDs[0], "rest-"), "the server's id, not the caller's: %s", reportIDs[0])

	three := int32(3)
	_, err := cab.sim.Withdraw(context.Background(), id, []cabsim.VendLine{{Amount: &three}})
	require.NoError(t, err, "acknowledged AA")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.EqualValues(ct, 6, requireLedger(ct, cab.fixture, cab.meds[0]), "one, then three, left the cabinet")
		kinds := map[string][2]float64{}
		for _, d := range c.discrepancies(cab.fixture, "open") {
			kinds[d["kind"].(string)] = [2]float64{d["expected"].(float64), d["actual"].(float64)}
		}
		assert.Equal(ct, map[string][2]float64{"short_vend": {2, 1}, "over_vend": {0, 3}}, kinds)
	}, 15*time.Second, 100*time.Millisecond)
}
