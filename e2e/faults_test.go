package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/faultsuite"
	"github.com/medreq/pyxis/faultsuite/verdict"
)

// The fault scenarios of issue 13, each on a system of its own: a private Postgres cluster,
// Temporal on a SQLite file in this process, `pyxis api` and `pyxis worker` as processes
// (this test binary re-executed as main), the simulated cabinet behind two proxies. Each
// puts 200 requests through every status, injects its fault, heals it, waits for every
// request to end and checks every invariant; `pyxis-dev loadtest --fault NAME` runs the same.

// testLogWriter hands each line written to it to t.Log.
type testLogWriter struct {
	t  *testing.T
	mu sync.Mutex
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func runFaultTest(t *testing.T, name string, requests int, checkSettle time.Duration, sabotage func(ctx context.Context, databaseURL string) error) verdict.Result {
	// The sabotaged run fails on purpose: nothing to keep.
	t.Helper()
	if testing.Short() {
		t.Skip("a fault scenario starts a whole system")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res, err := faultsuite.Run(ctx, faultsuite.Config{
		Scenario: name, Requests: requests, Exe: os.Args[0], Env: []string{execMainEnv + "=1"},
		Log: &testLogWriter{t: t}, SettleWithin: 4 * time.Minute, CheckSettle: checkSettle, BeforeVerdict: sabotage, DiscardData: sabotage != nil,
	})
	require.NoError(t, err)
	fmt.Println(res.Line())
	t.Log(res.Line())
	t.Logf("settle=%s took=%s", res.Settle.Round(100*time.Millisecond), res.Took.Round(100*time.Millisecond))
	for _, n := range append(append([]string{}, res.Problems...), res.Notes...) {
		t.Log("  " + n)
	}
	return res
}

func testFaultScenario(t *testing.T, name string) {
	res := runFaultTest(t, name, 200, 0, nil)
	assert.Equal(t, 200, res.Requests)
	assert.Positive(t, res.Faults, "no fault was injected")
	assert.Zero(t, res.Lost, "lost")
	assert.Zero(t, res.Duplicated, "duplicated")
	assert.Zero(t, res.Stuck, "stuck")
	assert.True(t, res.LedgerOK, "ledger")
	assert.True(t, res.AuditOK, "audit")
	assert.Empty(t, res.Problems)
	assert.True(t, res.OK(), res.Line())
}

func TestFaultWorkerKill(t *testing.T)         { testFaultScenario(t, "worker-kill") }
func TestFaultPostgresRestart(t *testing.T)    { testFaultScenario(t, "postgres-restart") }
func TestFaultTemporalRestart(t *testing.T)    { testFaultScenario(t, "temporal-restart") }
func TestFaultCabinetOfflineLong(t *testing.T) { testFaultScenario(t, "cabinet-offline-long") }
func TestFaultCabinetOfflineShort(t *testing.T) {
	testFaultScenario(t, "cabinet-offline-short")
}
func TestFaultAPIKill(t *testing.T)   { testFaultScenario(t, "api-kill") }
func TestFaultMLLPKill(t *testing.T)  { testFaultScenario(t, "mllp-kill") }
func TestFaultPartition(t *testing.T) { testFaultScenario(t, "partition") }

// Two replicas of each process, one of each killed: the line must read lost=0 duplicated=0
// stuck=0, the inbox applier fail over within 5s and the cut waiting reads be answered by the
// other api (problems otherwise).
func TestFaultReplicaKill(t *testing.T) { testFaultScenario(t, "replica-kill") }

// TestFaultVerdictShowsBrokenInvariants breaks invariants after a small run settles (a
// request's projection says failed where its workflow dispensed it; a pocket's on_hand moved
// outside the ledger): the verdict must count them, so a scenario can fail.
func TestFaultVerdictShowsBrokenInvariants(t *testing.T) {
	res := runFaultTest(t, "cabinet-offline-short", 20, 2*time.Second, func(ctx context.Context, databaseURL string) error {
		conn, err := pgx.Connect(ctx, databaseURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `UPDATE medication_requests SET status = 'failed'
			WHERE id = (SELECT id FROM medication_requests WHERE status = 'dispensed' ORDER BY id LIMIT 1)`); err != nil {
			return err
		}
		_, err = conn.Exec(ctx, `UPDATE cabinet_stock SET on_hand = on_hand - 1
			WHERE (cabinet_id, medication_id) = (SELECT cabinet_id, medication_id FROM cabinet_stock ORDER BY 1, 2 LIMIT 1)`)
		return err
	})
	assert.False(t, res.OK(), res.Line())
	assert.Positive(t, res.Lost, "a request the projection shows failed must count as lost")
	assert.False(t, res.LedgerOK, "on_hand moved outside the ledger")
	assert.Contains(t, res.Line(), "ledger=broken")
}

// The scenarios are the ten README's Reliability section describes, each found by its name.
func TestFaultScenarioNames(t *testing.T) {
	require.ErrorContains(t, faultsuite.CheckName("nope"), "no fault scenario")
	assert.Equal(t, []string{"worker-kill", "postgres-restart", "temporal-restart", "cabinet-offline-long",
		"cabinet-offline-short", "api-kill", "mllp-kill", "partition", "replica-kill", "no-fault"}, faultsuite.Names())
	for _, name := range faultsuite.Names() {
		assert.NoError(t, faultsuite.CheckName(name))
	}
}
