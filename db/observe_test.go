package db_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// observed collects what a store's observer is told.
type observed struct {
	mu   sync.Mutex
	seen []db.RecordedTransition
}

func (o *observed) observe(t db.RecordedTransition) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, t)
}

func (o *observed) statuses() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, t := range o.seen {
		out = append(out, t.From+">"+t.Status)
	}
	return out
}

func TestObserverIsToldOfEachTransitionOnce(t *testing.T) {
	t.Parallel()
	var o observed
	s := newStore(t).WithTransitionObserver(o.observe)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	a := admission(f, "req-observed", 3)
	for range 2 { // a retry after the commit tells nothing again
		_, err := s.Admit(ctx, a)
		require.NoError(t, err)
	}
	assert.Equal(t, []string{">submitted", "submitted>awaiting_approval"}, o.statuses())

	approve := pyxis.Step{RequestID: "req-observed", Transitions: []pyxis.Transition{
		{RequestID: "req-observed", Seq: 3, From: "awaiting_approval", Status: "approved", At: t0.Add(90 * time.Second), Actor: pyxis.Actor{ID: "p", Role: "pharmacist"}},
	}}
	dispense := pyxis.Step{RequestID: "req-observed", Stock: pyxis.StockRelease, Vends: []pyxis.Vend{{CabinetID: f.cabinet.ID, Lines: a.Lines,
		Actor: pyxis.Actor{ID: "n", Role: "nurse"}, Source: db.SourceAPI, At: t0.Add(5 * time.Minute)}}, Transitions: []pyxis.Transition{
		{RequestID: "req-observed", Seq: 4, From: "approved", Status: "ready_at_cabinet", At: t0.Add(91 * time.Second), Actor: pyxis.Actor{ID: "system", Role: "system"}},
		{RequestID: "req-observed", Seq: 5, From: "ready_at_cabinet", Status: "dispensed", At: t0.Add(5 * time.Minute), Actor: pyxis.Actor{ID: "n", Role: "nurse"}},
	}}
	for _, st := range []pyxis.Step{approve, dispense, dispense, approve} {
		_, err := s.RecordStep(ctx, st)
		require.NoError(t, err)
	}
	// A step of a transition alone, twice.
	late := pyxis.Transition{RequestID: "req-observed", Seq: 6, From: "dispensed", Status: "dispensed", Action: "note", At: t0.Add(6 * time.Minute), Actor: pyxis.Actor{ID: "system", Role: "system"}}
	require.NoError(t, record(t, s, late))
	require.NoError(t, record(t, s, late))

	assert.Equal(t, []string{">submitted", "submitted>awaiting_approval", "awaiting_approval>approved",
		"approved>ready_at_cabinet", "ready_at_cabinet>dispensed", "dispensed>dispensed"}, o.statuses())
	for _, tr := range o.seen {
		assert.Equal(t, "stat", tr.Priority, "the request's priority")
		assert.True(t, t0.Equal(tr.Created), "submitted at t0")
		assert.True(t, t0.Equal(tr.AwaitingSince), "awaiting approval since its admission")
	}
	assert.True(t, t0.Add(5*time.Minute).Equal(o.seen[4].At))
}

func TestObserverNotToldOfWhatRolledBack(t *testing.T) {
	t.Parallel()
	var o observed
	s := newStore(t).WithTransitionObserver(o.observe)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	_, err := s.Admit(ctx, admission(f, "req-rolled", 3))
	require.NoError(t, err)
	// A step whose stock change fails (nothing to consume twice is fine; an unknown change
	// is refused): its transitions are not recorded, and nobody is told of them.
	_, err = s.RecordStep(ctx, pyxis.Step{RequestID: "req-rolled", Stock: "teleport", Transitions: []pyxis.Transition{
		{RequestID: "req-rolled", Seq: 3, From: "awaiting_approval", Status: "cancelled", At: t0, Actor: pyxis.Actor{ID: "n", Role: "nurse"}},
	}})
	require.Error(t, err)
	assert.Equal(t, []string{">submitted", "submitted>awaiting_approval"}, o.statuses())
}

func TestOperationalGauges(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	g, err := s.OperationalGauges(ctx, time.Now())
	require.NoError(t, err)
	base := g

	// Two requests waiting for approval, deadlines at t0+1h (admission) in the past.
	for i := range 2 {
		_, err := s.Admit(ctx, admission(f, fmt.Sprintf("req-gauge-%d", i), 1))
		require.NoError(t, err)
	}
	g, err = s.OperationalGauges(ctx, t0.Add(2*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, base.AwaitingApprovalPastDeadline+2, g.AwaitingApprovalPastDeadline)
	assert.Zero(t, g.ReadyAtCabinetPastDeadline)
	assert.Equal(t, g.AuditHeadSeq, base.AuditHeadSeq, "the admissions' audit entries wait for the sealer")
	_, err = s.SealAudit(ctx)
	require.NoError(t, err)
	g, err = s.OperationalGauges(ctx, t0.Add(30*time.Minute))
	require.NoError(t, err)
	assert.Greater(t, g.AuditHeadSeq, base.AuditHeadSeq, "the admissions were audited and sealed")
	g, err = s.OperationalGauges(ctx, t0.Add(30*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, base.AwaitingApprovalPastDeadline, g.AwaitingApprovalPastDeadline, "not past a deadline an hour after t0")

	// A count that differs opens a discrepancy.
	_, err = s.RecordCount(ctx, db.Count{CabinetID: f.cabinet.ID, MedicationID: f.medA.ID, Counted: 5, Actor: testActor, Source: db.SourceAPI})
	require.NoError(t, err)
	g, err = s.OperationalGauges(ctx, time.Now())
	require.NoError(t, err)
	assert.Equal(t, base.OpenDiscrepancies+1, g.OpenDiscrepancies)
	var tasks int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM refill_tasks WHERE status = 'open'").Scan(&tasks))
	assert.Equal(t, tasks, g.OpenRestockTasks)
}

func TestVerifyAuditSinceACheckpoint(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	ctx := testCtx(t)
	appendN := func(n int) {
		for i := range n {
			require.NoError(t, s.AppendAudit(ctx, pyxis.AuditEntry{Actor: pyxis.Actor{ID: "t1", Role: "technician"}, Action: "stock_set",
				Details: map[string]any{"on_hand": i}}, ""))
		}
		_, err := s.SealAudit(ctx)
		require.NoError(t, err)
	}
	appendN(4)
	full := verifyOK(t, s)
	require.NotZero(t, full.Checkpoint.ID)
	assert.Equal(t, full.HeadSeq, full.Checkpoint.Seq, "a full walk ends at the head")

	appendN(3)
	v, err := s.VerifyAuditSince(ctx, full.Checkpoint)
	require.NoError(t, err)
	assert.True(t, v.OK, v.Reason)
	assert.Equal(t, 3, v.Entries, "only the entries written since")
	assert.Equal(t, full.Checkpoint.Seq+3, v.Checkpoint.Seq)
	again, err := s.VerifyAuditSince(ctx, v.Checkpoint)
	require.NoError(t, err)
	assert.True(t, again.OK)
	assert.Zero(t, again.Entries, "nothing new")

	rows, err := pool.Query(ctx, "SELECT id FROM audit_log ORDER BY id")
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	tamper := func(sql string, args ...any) {
		conn, err := pool.Acquire(ctx)
		require.NoError(t, err)
		defer conn.Release()
		_, err = conn.Exec(ctx, "SET session_replication_role = replica")
		require.NoError(t, err)
		_, err = conn.Exec(ctx, sql, args...)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "SET session_replication_role = DEFAULT")
		require.NoError(t, err)
	}
	// An entry after the checkpoint altered: found incrementally.
	appendN(2)
	last := v.Checkpoint
	tamper(`UPDATE audit_log SET details = '{"on_hand": 999}' WHERE id = (SELECT max(id) FROM audit_log)`)
	v, err = s.VerifyAuditSince(ctx, last)
	require.NoError(t, err)
	assert.False(t, v.OK)
	assert.Contains(t, v.Reason, "altered")

	// The checkpoint entry itself altered: found too.
	tamper(`UPDATE audit_log SET actor_id = 'someone-else' WHERE id = $1`, last.ID)
	v, err = s.VerifyAuditSince(ctx, last)
	require.NoError(t, err)
	assert.False(t, v.OK)
	assert.Equal(t, last.ID, v.FirstBrokenID, v.Reason)

	// An entry before the checkpoint: only a full walk finds it (why the verifier runs one
	// now and then).
	tamper(`UPDATE audit_log SET actor_id = 'someone-else' WHERE id = $1`, ids[0])
	v, err = s.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.False(t, v.OK)
	assert.Equal(t, ids[0], v.FirstBrokenID)
}
