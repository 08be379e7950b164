package db_test

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// admission is the first step of request id for qty units of medication A (and 1 of B),
// decided at t0 with the approval deadline an hour later.
func admission(f fixture, id string, qty int32) pyxis.Admission {
	deadline := t0.Add(time.Hour)
	lines := []pyxis.Line{{MedicationID: f.medA.ID, Quantity: qty}, {MedicationID: f.medB.ID, Quantity: 1}}
	nurse := pyxis.Actor{ID: "nurse-ana", Role: "nurse", Name: "Ana"}
	system := pyxis.Actor{ID: "system", Role: "system"}
	return pyxis.Admission{
		RequestID: id, CabinetID: f.cabinet.ID, Lines: lines,
		Submitted: pyxis.Transition{RequestID: id, Seq: 1, Status: "submitted", Action: "submitted", At: t0, Actor: nurse,
			Header: &pyxis.RequestHeader{Requester: pyxis.Actor{ID: "nurse-ana", Name: "Ana"}, Patient: pyxis.Patient{MRN: "MRN-9", Bed: "3"}, CabinetID: f.cabinet.ID, Priority: "stat", Lines: lines, RequiredApprovals: 2}},
		Reserved: pyxis.Transition{RequestID: id, Seq: 2, From: "submitted", Status: "awaiting_approval", Action: "stock_reserved",
			At: t0, Actor: system, ApprovalDeadline: &deadline},
		Refused: pyxis.Transition{RequestID: id, Seq: 2, From: "submitted", Status: "failed", Action: "reserve_failed", At: t0, Actor: system},
	}
}

// hold admits request id for lines at the fixture's cabinet, so that they are reserved, as
// every request's stock is held.
func hold(t testing.TB, s *db.Store, f fixture, id string, lines ...pyxis.Line) {
	t.Helper()
	a := admission(f, id, 1)
	a.Lines, a.Submitted.Header.Lines = lines, lines
	res, err := s.Admit(testCtx(t), a)
	require.NoError(t, err)
	require.Nil(t, res.Short, "%s: %s", id, res.Reason)
}

// record records transitions of one request in a step of their own, without a stock change.
func record(t testing.TB, s *db.Store, ts ...pyxis.Transition) error {
	t.Helper()
	_, err := s.RecordStep(testCtx(t), pyxis.Step{RequestID: ts[0].RequestID, Transitions: ts})
	return err
}

// withdrawn is the step of request id's withdrawal of lines, reported by the cabinet at t0+5m,
// with the rest released: what a dispensed request's last step holds.
func withdrawn(f fixture, id string, seq int32, lines ...pyxis.Line) pyxis.Step {
	at := t0.Add(5 * time.Minute)
	return pyxis.Step{RequestID: id, Stock: pyxis.StockRelease,
		Vends: []pyxis.Vend{{CabinetID: f.cabinet.ID, Lines: lines, ReportID: "RDS-" + id, Actor: vendingCabinet, Source: db.SourceCabinet, At: at}},
		Transitions: []pyxis.Transition{{RequestID: id, Seq: seq, From: "ready_at_cabinet", Status: "dispensed", Action: "withdrawn",
			At: at, Actor: vendingCabinet, Vended: lines}}}
}

func TestAdmitReservesAndRecordsInOneStep(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	a := admission(f, "req-admit", 3)

	res, err := s.Admit(ctx, a)
	require.NoError(t, err)
	assert.Nil(t, res.Short)
	// A retry after the commit (the reply was lost) reserves nothing more.
	res, err = s.Admit(ctx, a)
	require.NoError(t, err)
	assert.Nil(t, res.Short)
	assert.Equal(t, int32(3), requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
	assert.Equal(t, int32(1), requireInvariant(t, s, f.cabinet.ID, f.medB.ID).Reserved)

	d, err := s.GetRequestDetail(ctx, "req-admit")
	require.NoError(t, err)
	assert.True(t, d.Complete)
	assert.Equal(t, "awaiting_approval", d.Status)
	assert.Equal(t, int32(2), d.Seq)
	assert.Equal(t, int32(2), d.RequiredApprovals)
	require.NotNil(t, d.ApprovalDeadline)
	assert.True(t, t0.Add(time.Hour).Equal(*d.ApprovalDeadline))
	assert.Nil(t, d.WithdrawalDeadline)
	require.Len(t, d.Transitions, 2)
	assert.Equal(t, pyxis.Actor{ID: "nurse-ana", Role: "nurse", Name: "Ana"}, d.Transitions[0].Actor)
	assert.Equal(t, []string{"submitted", "stock_reserved"}, []string{d.Transitions[0].Action, d.Transitions[1].Action})
	assert.Equal(t, "submitted", d.Transitions[1].From)
	assert.ElementsMatch(t, []pyxis.Line{{MedicationID: f.medA.ID, Quantity: 3}, {MedicationID: f.medB.ID, Quantity: 1}}, d.Lines)

	audit, err := s.ListAudit(ctx, "req-admit")
	require.NoError(t, err)
	require.Len(t, audit, 2, "one audit entry per transition, once")
	verifyOK(t, s)
}

func TestAdmitShortRecordsTheRefusal(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 2)
	a := admission(f, "req-short", 5)

	// The refusal is worded by the shortage, for the nurse and the audit trail.
	short := fmt.Sprintf("insufficient stock of medication %d: requested 5, available 2", f.medA.ID)
	res, err := s.Admit(ctx, a)
	require.NoError(t, err, "too little stock is an outcome, not an error")
	require.NotNil(t, res.Short)
	assert.Equal(t, short, res.Reason)
	assert.Zero(t, requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
	assert.Zero(t, requireInvariant(t, s, f.cabinet.ID, f.medB.ID).Reserved)

	// Stock arrives; a retry of the same admission still answers what was recorded, and
	// reserves nothing: the request has failed.
	_, err = s.SetStock(ctx, f.cabinet.ID, f.medA.ID, 50, 5, testActor)
	require.NoError(t, err)
	res, err = s.Admit(ctx, a)
	require.NoError(t, err)
	require.NotNil(t, res.Short)
	assert.Equal(t, short, res.Reason)
	assert.Zero(t, requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)

	d, err := s.GetRequestDetail(ctx, "req-short")
	require.NoError(t, err)
	assert.Equal(t, "failed", d.Status)
	assert.Equal(t, short, d.Reason)
	require.Len(t, d.Transitions, 2)
	assert.Equal(t, "reserve_failed", d.Transitions[1].Action)
}

func TestAdmitRefusesMalformedSteps(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	cases := map[string]func(*pyxis.Admission){
		"no header":        func(a *pyxis.Admission) { a.Submitted.Header = nil },
		"other request":    func(a *pyxis.Admission) { a.Reserved.RequestID = "req-other" },
		"outcome seq":      func(a *pyxis.Admission) { a.Refused.Seq = 3 },
		"no time":          func(a *pyxis.Admission) { a.Reserved.At = time.Time{} },
		"unknown status":   func(a *pyxis.Admission) { a.Reserved.Status = "teleported" },
		"no lines":         func(a *pyxis.Admission) { a.Lines = nil },
		"unknown priority": func(a *pyxis.Admission) { a.Submitted.Header.Priority = "whenever" },
	}
	for name, change := range cases {
		a := admission(f, "req-bad", 1)
		change(&a)
		_, err := s.Admit(ctx, a)
		assert.ErrorIs(t, err, pyxis.ErrInvalid, name)
	}
	assert.Zero(t, requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved, "nothing half-written")
	_, err := s.GetRequestDetail(ctx, "req-bad")
	assert.ErrorIs(t, err, pyxis.ErrNotFound)
}

func TestRecordStepTakesTheWithdrawal(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	_, err := s.Admit(ctx, admission(f, "req-step", 4))
	require.NoError(t, err)
	pharm := pyxis.Actor{ID: "pharm-bo", Role: "pharmacist", Name: "Bo"}
	deadline := t0.Add(3 * time.Hour)
	steps := []pyxis.Step{
		{RequestID: "req-step", Transitions: []pyxis.Transition{
			{RequestID: "req-step", Seq: 3, From: "awaiting_approval", Status: "awaiting_approval", Action: "approval_recorded",
				Reason: "approval 1 of 2", At: t0.Add(time.Minute), Actor: pharm, Note: "renal dose checked"},
		}},
		{RequestID: "req-step", Transitions: []pyxis.Transition{
			{RequestID: "req-step", Seq: 4, From: "awaiting_approval", Status: "approved", Action: "approved", At: t0.Add(2 * time.Minute),
				Actor: pyxis.Actor{ID: "pharm-cy", Role: "pharmacist"}},
			{RequestID: "req-step", Seq: 5, From: "approved", Status: "ready_at_cabinet", Action: "authorized_at_cabinet",
				At: t0.Add(2 * time.Minute), Actor: pyxis.Actor{ID: "system", Role: "system"}, WithdrawalDeadline: &deadline},
		}},
		withdrawn(f, "req-step", 6, pyxis.Line{MedicationID: f.medA.ID, Quantity: 4}, pyxis.Line{MedicationID: f.medB.ID, Quantity: 1}),
	}
	// The workflow names the report on the transition it dispensed by, as on the vend.
	steps[2].Transitions[0].ReportID = steps[2].Vends[0].ReportID
	for _, st := range steps {
		_, err := s.RecordStep(ctx, st)
		require.NoError(t, err)
	}
	// The last step again, as a retry would send it: nothing is consumed twice.
	res, err := s.RecordStep(ctx, steps[2])
	require.NoError(t, err)
	assert.Empty(t, res.Consumed)

	a := requireInvariant(t, s, f.cabinet.ID, f.medA.ID)
	assert.Equal(t, []int32{6, 0}, []int32{a.OnHand, a.Reserved})
	d, err := s.GetRequestDetail(ctx, "req-step")
	require.NoError(t, err)
	assert.True(t, d.Complete)
	assert.Equal(t, "dispensed", d.Status)
	require.Len(t, d.Transitions, 6)
	assert.Equal(t, "renal dose checked", d.Transitions[2].Note)
	assert.Equal(t, pyxis.Actor{ID: "pharm-cy", Role: "pharmacist"}, d.Transitions[3].Actor)
	assert.Equal(t, "approval 1 of 2", d.Transitions[2].Reason)
	last := d.Transitions[5]
	assert.Equal(t, []any{int32(6), "ready_at_cabinet", "dispensed", "withdrawn", "RDS-req-step"},
		[]any{last.Seq, last.From, last.Status, last.Action, last.ReportID})
	assert.ElementsMatch(t, steps[2].Transitions[0].Vended, last.Vended)
	assert.True(t, steps[2].Transitions[0].At.Equal(last.At))
	lines := []pyxis.Line{{MedicationID: f.medA.ID, Quantity: 4}, {MedicationID: f.medB.ID, Quantity: 1}}
	slices.SortFunc(lines, func(a, b pyxis.Line) int { return cmp.Compare(a.MedicationID, b.MedicationID) })
	assert.Equal(t, lines, d.Lines, "the lines, by medication")
	require.NotNil(t, d.WithdrawalDeadline)
	assert.True(t, deadline.Equal(*d.WithdrawalDeadline))
	audit, err := s.ListAudit(ctx, "req-step")
	require.NoError(t, err)
	assert.Len(t, audit, 6)
	verifyOK(t, s)

	_, err = s.RecordStep(ctx, pyxis.Step{RequestID: "req-step", Transitions: []pyxis.Transition{steps[1].Transitions[1], steps[1].Transitions[0]}})
	assert.ErrorIs(t, err, pyxis.ErrInvalid, "transitions out of order")
}

// A run cancelled while its admission was still in the database: the cancellation's release
// settles the request first, and the late admission must then hold nothing.
func TestReleaseSettlesBeforeALateAdmission(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)

	res, err := s.RecordStep(ctx, pyxis.Step{RequestID: "req-late", Stock: pyxis.StockRelease})
	require.NoError(t, err)
	assert.Empty(t, res.Released)
	_, err = s.Admit(ctx, admission(f, "req-late", 2))
	require.ErrorIs(t, err, pyxis.ErrSettled)
	assert.Zero(t, requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
	assert.Zero(t, requireInvariant(t, s, f.cabinet.ID, f.medB.ID).Reserved)
}

// Admissions racing a release of the same request, over and over: whichever commits first,
// nothing stays reserved.
func TestAdmissionRacingReleaseLeaksNothing(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 1000)
	var wg sync.WaitGroup
	for i := range 40 {
		id := fmt.Sprintf("req-race-%d", i)
		wg.Go(func() {
			_, err := s.Admit(ctx, admission(f, id, 1))
			if err != nil {
				assert.ErrorIs(t, err, pyxis.ErrSettled)
			}
		})
		wg.Go(func() {
			_, err := s.RecordStep(ctx, pyxis.Step{RequestID: id, Stock: pyxis.StockRelease})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Zero(t, requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
	assert.Zero(t, requireInvariant(t, s, f.cabinet.ID, f.medB.ID).Reserved)
}

// Many admissions on one pocket at once: exactly what is on hand is reserved, the rest are
// refused, and nothing deadlocks.
func TestConcurrentAdmissionsOnOnePocket(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 100)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		admitted int
	)
	for i := range 150 {
		wg.Go(func() {
			a := admission(f, fmt.Sprintf("req-hot-%d", i), 1)
			a.Lines = a.Lines[:1]
			a.Submitted.Header.Lines = a.Lines
			res, err := s.Admit(ctx, a)
			if assert.NoError(t, err) && res.Short == nil {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 100, admitted)
	assert.Equal(t, int32(100), requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
	verifyOK(t, s)
}

// Requests recorded before the projection kept transitions are not complete: reads of them
// go to the workflow.
func TestRequestDetailOfALegacyRow(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	submit(t, s, f, "req-old", "nurse-1", t0)
	d, err := s.GetRequestDetail(ctx, "req-old")
	require.NoError(t, err)
	assert.True(t, d.Complete)

	// As migration 0005 leaves a row it found.
	_, err = pool.Exec(ctx, "UPDATE medication_requests SET has_transitions = false WHERE id = 'req-old'")
	require.NoError(t, err)
	d, err = s.GetRequestDetail(ctx, "req-old")
	require.NoError(t, err)
	assert.False(t, d.Complete)
}

func BenchmarkAdmitAndWithdraw(b *testing.B) {
	s := newStore(b)
	ctx := testCtx(b)
	f := seed(b, s, 100_000)
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench-%d", i)
		if _, err := s.Admit(ctx, admission(f, id, 1)); err != nil {
			b.Fatal(err)
		}
		if _, err := s.RecordStep(ctx, withdrawn(f, id, 3, pyxis.Line{MedicationID: f.medA.ID, Quantity: 1}, pyxis.Line{MedicationID: f.medB.ID, Quantity: 1})); err != nil {
			b.Fatal(err)
		}
	}
}
