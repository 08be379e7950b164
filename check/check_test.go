package check

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// world is a system in which every promise holds: a cabinet with one medication, a request
// awaiting approval (wait, 2 units reserved) and one dispensed (done, 3 units taken), both
// with their workflows, and the cabinet applied each authorization once. Worlds share a
// database (each checked within its own cabinet), but for the tests that break what every
// world shares (the audit chain, the table's own constraints): they get one of their own.
type world struct {
	t        *testing.T
	pool     *pgxpool.Pool
	store    *db.Store
	temporal *fakeTemporal
	opts     Options
	cabinet  int64
	med      int64
	// wait and done are the two requests' ids.
	wait, done string
	// deadline is wait's approval deadline.
	deadline time.Time
}

// shared is the database the worlds share (TestMain).
var shared struct {
	seq  atomic.Int64
	pool func() (*pgxpool.Pool, error)
}

// newWorld makes a world in the shared database.
func newWorld(t *testing.T) *world {
	t.Helper()
	pool, err := shared.pool()
	require.NoError(t, err)
	return newWorldOn(t, pool)
}

// newWorldOn makes a world in the database of pool.
func newWorldOn(t *testing.T, pool *pgxpool.Pool) *world {
	t.Helper()
	ctx := t.Context()
	n := shared.seq.Add(1)
	w := &world{t: t, pool: pool, store: db.NewStore(pool), deadline: time.Now().Add(time.Hour),
		wait: fmt.Sprintf("medreq-%d-wait", n), done: fmt.Sprintf("medreq-%d-done", n)}
	cab, err := w.store.CreateCabinet(ctx, db.NewCabinet{Code: fmt.Sprintf("CAB-%d", n), Name: "Ward cabinet", Unit: "W1", Driver: "sim"})
	require.NoError(t, err)
	med, err := w.store.CreateMedication(ctx, db.NewMedication{Code: fmt.Sprintf("AMOX-%d", n), Name: "Amoxicillin", Unit: "cap"})
	require.NoError(t, err)
	_, err = w.store.SetStock(ctx, cab.ID, med.ID, 10, 5, pyxis.Actor{ID: "tech-1", Role: "technician"})
	require.NoError(t, err)
	w.cabinet, w.med = cab.ID, med.ID
	w.admit(w.wait, 2)
	w.admit(w.done, 3)
	system := pyxis.Actor{ID: "system", Role: "system"}
	_, err = w.store.RecordStep(ctx, pyxis.Step{RequestID: w.done, Stock: pyxis.StockRelease,
		Vends: []pyxis.Vend{{CabinetID: cab.ID, Lines: []pyxis.Line{{MedicationID: med.ID, Quantity: 3}}, ReportID: "rep-" + w.done, Actor: system, Source: "cabinet", At: time.Now()}},
		Transitions: []pyxis.Transition{
			{RequestID: w.done, Seq: 3, From: "awaiting_approval", Status: "approved", At: time.Now(), Actor: pyxis.Actor{ID: "pharm-1", Role: "pharmacist"}},
			{RequestID: w.done, Seq: 4, From: "approved", Status: "ready_at_cabinet", At: time.Now(), Actor: system},
			{RequestID: w.done, Seq: 5, From: "ready_at_cabinet", Status: "dispensed", At: time.Now(), Actor: system},
		}})
	require.NoError(t, err)
	w.temporal = &fakeTemporal{workflows: map[string]fakeWorkflow{
		w.wait: {status: "awaiting_approval", started: time.Now()},
		w.done: {status: "dispensed", closed: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, started: time.Now()},
	}}
	w.opts = Options{
		Namespace: "default", StuckAfter: time.Minute, Settle: time.Millisecond, Scope: db.CheckScope{CabinetIDs: []int64{cab.ID}},
		Authorizations: func(context.Context) (map[string]int, error) { return map[string]int{w.done: 1}, nil },
	}
	// As the sealer of a running system would, within a second.
	_, err = w.store.SealAudit(ctx)
	require.NoError(t, err)
	return w
}

// admit records a request for qty units, reserved, awaiting approval.
func (w *world) admit(id string, qty int32) {
	w.t.Helper()
	lines := []pyxis.Line{{MedicationID: w.med, Quantity: qty}}
	nurse := pyxis.Actor{ID: "nurse-1", Role: "nurse"}
	system := pyxis.Actor{ID: "system", Role: "system"}
	res, err := w.store.Admit(w.t.Context(), pyxis.Admission{
		RequestID: id, CabinetID: w.cabinet, Lines: lines,
		Submitted: pyxis.Transition{RequestID: id, Seq: 1, Status: "submitted", At: time.Now(), Actor: nurse,
			Header: &pyxis.RequestHeader{Requester: nurse, Patient: pyxis.Patient{MRN: "MRN-1"}, CabinetID: w.cabinet, Priority: "stat", Lines: lines, RequiredApprovals: 1}},
		Reserved: pyxis.Transition{RequestID: id, Seq: 2, From: "submitted", Status: "awaiting_approval", Action: "stock_reserved",
			At: time.Now(), Actor: system, ApprovalDeadline: &w.deadline},
		Refused: pyxis.Transition{RequestID: id, Seq: 2, From: "submitted", Status: "failed", Action: "reserve_failed", At: time.Now(), Actor: system},
	})
	require.NoError(w.t, err)
	require.Nil(w.t, res.Short)
}

// exec runs SQL that breaks a promise, as a superuser past the append-only triggers.
func (w *world) exec(sql string, args ...any) {
	w.t.Helper()
	conn, err := w.pool.Acquire(w.t.Context())
	require.NoError(w.t, err)
	defer conn.Release()
	_, err = conn.Exec(w.t.Context(), "SET session_replication_role = replica")
	require.NoError(w.t, err)
	_, err = conn.Exec(w.t.Context(), sql, args...)
	require.NoError(w.t, err)
	_, err = conn.Exec(w.t.Context(), "SET session_replication_role = DEFAULT")
	require.NoError(w.t, err)
}

// check runs the checker over the world.
func (w *world) check() Report {
	w.t.Helper()
	rep, err := Run(w.t.Context(), w.store, w.temporal, w.opts)
	require.NoError(w.t, err)
	return rep
}

// only requires that rep found exactly one violation, of kind, about subject, and returns it.
func only(t *testing.T, rep Report, kind, subject string) Violation {
	t.Helper()
	require.Len(t, rep.Violations, 1, rep.Summary())
	v := rep.Violations[0]
	assert.Equal(t, kind, v.Kind, rep.Summary())
	assert.Equal(t, subject, v.Subject, rep.Summary())
	assert.Equal(t, map[string]int{kind: 1}, rep.Counts)
	assert.False(t, rep.OK())
	return v
}

func TestEveryPromiseHeld(t *testing.T) {
	t.Parallel()
	rep := newWorld(t).check()
	assert.True(t, rep.OK(), rep.Summary())
	assert.Equal(t, 2, rep.Requests)
	assert.Equal(t, 2, rep.Workflows)
	assert.Equal(t, "requests=2 workflows=2 lost=0 duplicated=0 stuck=0 ledger=ok audit=ok", rep.Summary())
}

// Lost: a request of the projection without its workflow, a workflow without its request, a
// status that differs once settled, stock still held by an ended request, a report given up on.
func TestLostIsReported(t *testing.T) {
	t.Parallel()
	t.Run("no workflow", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		delete(w.temporal.workflows, w.wait)
		rep := w.check()
		only(t, rep, NoWorkflow, w.wait)
		assert.Equal(t, 1, rep.Lost)
	})
	t.Run("no projection", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		ghost := w.wait + "-ghost"
		w.temporal.workflows[ghost] = fakeWorkflow{status: "awaiting_approval", started: time.Now().Add(-time.Hour)}
		rep := w.check()
		only(t, rep, NoProjection, ghost)
		assert.Equal(t, 1, rep.Lost)
	})
	t.Run("a workflow that just started has no row yet", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.temporal.workflows[w.wait+"-new"] = fakeWorkflow{status: "submitted", started: time.Now()}
		assert.True(t, w.check().OK())
	})
	t.Run("status differs", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.temporal.workflows[w.wait] = fakeWorkflow{status: "approved", started: time.Now()}
		rep := w.check()
		v := only(t, rep, StatusDiffers, w.wait)
		assert.Equal(t, "projection awaiting_approval, workflow approved", v.Detail)
		assert.Equal(t, 1, rep.Lost, "a transition one side lost")
	})
	t.Run("stock not settled", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.exec("UPDATE medication_requests SET status = 'rejected' WHERE id = $1", w.wait)
		w.temporal.workflows[w.wait] = fakeWorkflow{status: "rejected", closed: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, started: time.Now()}
		rep := w.check()
		only(t, rep, StockNotSettled, w.wait)
		assert.Equal(t, 1, rep.Lost)
	})
	t.Run("report given up on", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		id := w.report("MSG-1")
		require.NoError(t, w.store.SettleReport(t.Context(), id, true, "failed", "unknown order"))
		rep := w.check()
		only(t, rep, ReportFailed, "cabinet inbox")
		assert.Equal(t, 1, rep.Lost)
	})
}

// report accepts a cabinet report into the inbox and returns its id.
func (w *world) report(controlID string) int64 {
	w.t.Helper()
	hash := sha256.Sum256([]byte(controlID))
	_, err := w.store.AcceptReport(w.t.Context(), db.InboxReport{
		CabinetID: w.cabinet, MessageControlID: controlID, ContentHash: hash[:], Kind: "V",
		Report: []byte(`{}`), Raw: "MSH|", Peer: "127.0.0.1",
	})
	require.NoError(w.t, err)
	pending, err := w.store.PendingReports(w.t.Context(), 10)
	require.NoError(w.t, err)
	for _, r := range pending {
		if r.MessageControlID == controlID {
			return r.ID
		}
	}
	w.t.Fatalf("report %s not pending", controlID)
	return 0
}

// Duplicated: an authorization applied twice at the cabinet, a dispensed request that took
// other than what was vended.
func TestDuplicatedIsReported(t *testing.T) {
	t.Parallel()
	t.Run("authorization applied twice", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.opts.Authorizations = func(context.Context) (map[string]int, error) { return map[string]int{w.done: 2}, nil }
		rep := w.check()
		only(t, rep, DoubleAuthorize, w.done)
		assert.Equal(t, 1, rep.Duplicated)
	})
	t.Run("took other than vended", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		// The withdrawal report said 5; the ledger took 3.
		w.exec(`UPDATE request_transitions SET vended = '[{"medication_id": 1, "quantity": 5}]' WHERE request_id = $1 AND to_status = 'dispensed'`, w.done)
		rep := w.check()
		v := only(t, rep, VendMismatch, w.done)
		assert.Contains(t, v.Detail, "took 3 units")
		assert.Equal(t, 1, rep.Duplicated)
	})
	t.Run("the cabinet's count cannot be read", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.opts.Authorizations = func(context.Context) (map[string]int, error) { return nil, errors.New("connection refused") }
		_, err := Run(t.Context(), w.store, w.temporal, w.opts)
		assert.ErrorContains(t, err, "connection refused", "a check that could not be made is an error, not a pass")
	})
}

// The ledger: each rule of the pocket invariant, broken alone.
func TestEachLedgerRuleIsReported(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sql string
		// dropBounds lifts the database's own CHECK on the levels, which the checker watches
		// behind it.
		dropBounds bool
	}{
		{"reserved is not what the reservations hold", "UPDATE cabinet_stock SET reserved = reserved + 1 WHERE cabinet_id = $1", false},
		{"on_hand is not the ledger's balance", "UPDATE cabinet_stock SET on_hand = on_hand - 1 WHERE cabinet_id = $1", false},
		{"reserved below zero", "UPDATE cabinet_stock SET reserved = -1 WHERE cabinet_id = $1", true},
		{"reserved beyond on_hand", "UPDATE cabinet_stock SET reserved = on_hand + 1 WHERE cabinet_id = $1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			if tc.dropBounds {
				w = newWorldOn(t, dbtest.NewPool(t))
				w.exec("ALTER TABLE cabinet_stock DROP CONSTRAINT stock_reserved_within_on_hand")
			}
			w.exec(tc.sql, w.cabinet)
			rep := w.check()
			found := 0
			for _, v := range rep.Violations {
				if v.Kind == PocketLedger {
					found++
				}
			}
			assert.Equal(t, 1, found, rep.Summary())
			assert.False(t, rep.LedgerOK)
			assert.Contains(t, rep.Summary(), "ledger=broken")
		})
	}
}

func TestABrokenAuditChainIsReported(t *testing.T) {
	t.Parallel()
	w := newWorldOn(t, dbtest.NewPool(t))
	w.exec("UPDATE audit_log SET actor_id = 'someone-else' WHERE id = (SELECT min(id) FROM audit_log)")
	rep := w.check()
	only(t, rep, AuditBroken, rep.Violations[0].Subject)
	assert.False(t, rep.AuditOK)
	assert.Contains(t, rep.Summary(), "audit=broken")
}

// An audit entry written but not sealed is not a violation for db.UnsealedAfter; after that
// it is one, until it is sealed.
func TestAnUnsealedAuditEntryIsReported(t *testing.T) {
	t.Parallel()
	w := newWorldOn(t, dbtest.NewPool(t))
	ctx := t.Context()
	require.NoError(t, w.store.AppendAudit(ctx, pyxis.AuditEntry{Actor: pyxis.Actor{ID: "tech-1", Role: "technician"}, Action: "left_unsealed"}, ""))
	rep := w.check()
	assert.True(t, rep.OK(), "just written: %s", rep.Summary())

	var id int64
	require.NoError(t, w.pool.QueryRow(ctx, "SELECT id FROM audit_log WHERE action = 'left_unsealed'").Scan(&id))
	w.exec("UPDATE audit_log SET written_at = written_at - interval '6 seconds' WHERE id = $1", id)
	rep = w.check()
	v := only(t, rep, AuditUnsealed, fmt.Sprintf("audit entry %d", id))
	assert.Contains(t, v.Detail, "1 audit entries not sealed more than 5s after they were written")
	assert.False(t, rep.AuditOK)
	assert.Contains(t, rep.Summary(), "audit=broken")

	_, err := w.store.SealAudit(ctx)
	require.NoError(t, err)
	rep = w.check()
	assert.True(t, rep.OK(), rep.Summary())
}

// Stuck: a deadline long passed, a step not recorded, an activity retrying, a workflow task
// failing, a report left in the inbox; and a workflow that cannot be described is reported,
// not skipped.
func TestStuckIsReported(t *testing.T) {
	t.Parallel()
	t.Run("approval deadline long passed", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.opts.Now = func() time.Time { return w.deadline.Add(2 * w.opts.StuckAfter) }
		rep := w.check()
		v := only(t, rep, Stuck, w.wait)
		assert.Contains(t, v.Detail, "past its approval deadline")
		assert.Equal(t, 1, rep.StuckCount)
	})
	t.Run("a step not recorded", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.exec("UPDATE medication_requests SET status = 'approved', updated_at = now() - interval '1 hour' WHERE id = $1", w.wait)
		w.temporal.workflows[w.wait] = fakeWorkflow{status: "approved", started: time.Now()}
		v := only(t, w.check(), Stuck, w.wait)
		assert.Contains(t, v.Detail, "approved for")
	})
	t.Run("an activity retrying", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.temporal.describe = func(id string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
			return retrying(time.Now().Add(-time.Hour)), nil
		}
		v := only(t, w.check(), Stuck, w.wait)
		assert.Contains(t, v.Detail, "activity DispenseOrder retrying (attempt 4)")
	})
	t.Run("a workflow task failing", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.temporal.describe = func(string) (*workflowservice.DescribeWorkflowExecutionResponse, error) { return failingTask(), nil }
		v := only(t, w.check(), Stuck, w.wait)
		assert.Contains(t, v.Detail, "workflow task failing")
	})
	t.Run("a report left in the inbox", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.report("MSG-2")
		w.exec("UPDATE cabinet_inbox SET received_at = now() - interval '1 hour' WHERE cabinet_id = $1", w.cabinet)
		rep := w.check()
		only(t, rep, Stuck, "cabinet inbox")
		assert.Equal(t, 1, rep.StuckCount)
	})
	t.Run("a workflow that cannot be described", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.temporal.describe = func(string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
			return nil, errors.New("deadline exceeded")
		}
		rep := w.check()
		v := only(t, rep, Unverified, w.wait)
		assert.Contains(t, v.Detail, "deadline exceeded")
		assert.Equal(t, 1, rep.StuckCount, "not shown to be moving")
	})
}

// Every kind the checker reports has a class, so that no violation goes uncounted.
func TestEveryKindHasAClass(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds() {
		assert.NotEmpty(t, Class(k), k)
	}
	assert.Empty(t, Class("something_new"))
}
