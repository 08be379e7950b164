package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/check"
	"github.com/medreq/pyxis/db"
)

// checkCabinets runs the invariant checker over the given cabinets only (other tests share
// the stack), with the simulator's authorization counts when there is one.
func checkCabinets(t *testing.T, sim *cabsim.Sim, cabs ...fixture) check.Report {
	t.Helper()
	o := check.Options{Namespace: e2e.namespace, StuckAfter: time.Minute, Settle: 20 * time.Second}
	for _, f := range cabs {
		o.Scope.CabinetIDs = append(o.Scope.CabinetIDs, f.cabinetID)
		o.CabinetCodes = append(o.CabinetCodes, f.cabinetCode)
	}
	if sim != nil {
		o.Authorizations = func(context.Context) (map[string]int, error) {
			out := map[string]int{}
			for _, oc := range sim.Orders() {
				out[oc.RequestID] = oc.Applied
			}
			return out, nil
		}
	}
	rep, err := check.Run(context.Background(), e2e.store, e2e.tc, o)
	require.NoError(t, err)
	return rep
}

// After requests of every ending, over HL7, every invariant holds.
func TestCheckerFindsEveryInvariantHeld(t *testing.T) {
	c := newAPI(t, testConfig())
	cab := c.hl7Cabinet(cabsim.FormatRDS, 100*time.Millisecond, 20)
	nurse := c.token("nurse-chk", pyxis.RoleNurse)
	pharmacist := c.token("pharm-chk", pyxis.RolePharmacist)
	dispensed := c.create(cab.fixture, nurse, 2)
	rejected := c.create(cab.fixture, nurse, 1)
	waiting := c.create(cab.fixture, nurse, 1)
	for _, id := range []string{dispensed, rejected, waiting} {
		c.waitStatus(id, nurse, "awaiting_approval")
	}
	c.approveOnce(dispensed)
	status, body := c.do("POST", "/v1/requests/"+rejected+"/reject", pharmacist, map[string]any{"reason": "duplicate"})
	require.Equal(t, 202, status, body)
	c.waitStatus(dispensed, nurse, "dispensed")
	c.waitStatus(rejected, nurse, "rejected")

	rep := checkCabinets(t, cab.sim, cab.fixture)
	assert.True(t, rep.OK(), rep.Summary())
	assert.Equal(t, 3, rep.Requests)
	assert.Contains(t, rep.Summary(), "lost=0 duplicated=0 stuck=0 ledger=ok audit=ok")
}

// The checker notices each kind of broken promise it is for.
func TestCheckerFindsBrokenInvariants(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(10, 10)
	nurse := c.token("nurse-chk2", pyxis.RoleNurse)
	id := c.create(f, nurse, 2)
	c.waitStatus(id, nurse, "awaiting_approval")
	ctx := context.Background()

	// A reservation the pocket does not count, a projection row without a workflow, and a
	// cabinet that applied an authorization twice.
	_, err := e2e.pool.Exec(ctx, "UPDATE cabinet_stock SET reserved = reserved + 1 WHERE cabinet_id = $1 AND medication_id = $2", f.cabinetID, f.meds[1])
	require.NoError(t, err)
	const ghost = "medreq-01J0000000000000000000GHST"
	_, err = e2e.store.RecordStep(ctx, pyxis.Step{RequestID: ghost, Transitions: []pyxis.Transition{{
		RequestID: ghost, Seq: 1, Status: "submitted", At: time.Now(), Actor: pyxis.Actor{ID: "nurse-chk2", Role: "nurse"},
		Header: &pyxis.RequestHeader{Requester: pyxis.Actor{ID: "nurse-chk2"}, Patient: pyxis.Patient{MRN: "MRN-X"}, CabinetID: f.cabinetID, Priority: "stat", Lines: []pyxis.Line{{MedicationID: f.meds[0], Quantity: 1}}},
	}}})
	require.NoError(t, err)
	o := check.Options{Namespace: e2e.namespace, StuckAfter: time.Minute, Settle: 2 * time.Second,
		Scope: db.CheckScope{CabinetIDs: []int64{f.cabinetID}}, CabinetCodes: []string{f.cabinetCode},
		Authorizations: func(context.Context) (map[string]int, error) { return map[string]int{id: 2}, nil },
	}
	rep, err := check.Run(ctx, e2e.store, e2e.tc, o)
	require.NoError(t, err)
	assert.False(t, rep.OK())
	assert.Equal(t, 1, rep.Counts[check.PocketLedger], rep.Summary())
	assert.Equal(t, 1, rep.Counts[check.NoWorkflow], rep.Summary())
	assert.Equal(t, 1, rep.Counts[check.DoubleAuthorize], rep.Summary())
	assert.False(t, rep.LedgerOK)
	assert.Equal(t, 1, rep.Lost)
	assert.Equal(t, 1, rep.Duplicated)

	// Mend the pocket for the tests after this one.
	_, err = e2e.pool.Exec(ctx, "UPDATE cabinet_stock SET reserved = reserved - 1 WHERE cabinet_id = $1 AND medication_id = $2", f.cabinetID, f.meds[1])
	require.NoError(t, err)
}
