package db_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// submit records the first transition of a request.
func submit(t *testing.T, s *db.Store, f fixture, id, requester string, at time.Time) {
	t.Helper()
	require.NoError(t, record(t, s, pyxis.Transition{
		RequestID: id,
		Seq:       1,
		Status:    "submitted",
		At:        at,
		Actor:     pyxis.Actor{ID: requester, Role: "nurse"},
		Action:    "request.submitted",
		Details:   map[string]any{"lines": 2},
		Header:    &pyxis.RequestHeader{Requester: pyxis.Actor{ID: requester, Name: "Nina"}, Patient: pyxis.Patient{MRN: "MRN-1", Bed: "12B"}, CabinetID: f.cabinet.ID, Priority: "urgent", Lines: []pyxis.Line{{MedicationID: f.medB.ID, Quantity: 1}, {MedicationID: f.medA.ID, Quantity: 2}}},
	}))
}

func TestRecordTransitions(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)

	submit(t, s, f, "req-1", "u1", t0)
	submit(t, s, f, "req-1", "u1", t0) // a retried activity
	got, err := s.GetRequest(ctx, "req-1")
	require.NoError(t, err)
	assert.Equal(t, "submitted", got.Status)
	assert.Equal(t, "CAB-1", got.CabinetCode)
	assert.Equal(t, pyxis.PriorityUrgent, got.Priority)
	assert.True(t, got.CreatedAt.Equal(t0))
	assert.Equal(t, []pyxis.Line{{MedicationID: f.medA.ID, Quantity: 2}, {MedicationID: f.medB.ID, Quantity: 1}}, got.Lines)

	approve := pyxis.Transition{
		RequestID: "req-1", Seq: 3, Status: "approved", Reason: "ok",
		At: t0.Add(2 * time.Minute), Actor: pyxis.Actor{ID: "p1", Role: "pharmacist"},
	}
	require.NoError(t, record(t, s, approve))
	require.NoError(t, record(t, s, approve))
	// A late delivery of an older transition is audited but does not move the request back.
	require.NoError(t, record(t, s, pyxis.Transition{
		RequestID: "req-1", Seq: 2, Status: "awaiting_approval",
		At: t0.Add(time.Minute), Actor: pyxis.Actor{ID: "system", Role: "system"},
	}))

	got, err = s.GetRequest(ctx, "req-1")
	require.NoError(t, err)
	assert.Equal(t, "approved", got.Status)
	assert.Equal(t, "ok", got.Reason)
	assert.True(t, got.UpdatedAt.Equal(approve.At))

	audit, err := s.ListAudit(ctx, "req-1")
	require.NoError(t, err)
	require.Len(t, audit, 3, "one audit row per transition, however often it is recorded")
	assert.Equal(t, "request.submitted", audit[0].Action)
	assert.Equal(t, map[string]any{"lines": float64(2)}, audit[0].Details)
	assert.Equal(t, pyxis.Actor{ID: "u1", Role: "nurse"}, audit[0].Actor)
	assert.Equal(t, "approved", audit[1].Action, "an empty Action defaults to the status")
	assert.Equal(t, map[string]any{}, audit[1].Details)
	assert.Equal(t, "awaiting_approval", audit[2].Action)

	err = record(t, s, pyxis.Transition{RequestID: "ghost", Seq: 2, Status: "approved", At: t0})
	assert.ErrorIs(t, err, pyxis.ErrNotFound)
	err = record(t, s, pyxis.Transition{RequestID: "req-1", Seq: 9, Status: "teleported", At: t0})
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
	_, err = s.GetRequest(ctx, "ghost")
	assert.ErrorIs(t, err, pyxis.ErrNotFound)
}

func TestAppendAudit(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	e := pyxis.AuditEntry{At: t0, Actor: pyxis.Actor{ID: "system", Role: "system"}, Action: "request.escalated",
		RequestID: "req-9", Details: map[string]any{"after": "15m"}}

	require.NoError(t, s.AppendAudit(ctx, e, "req-9/escalated"))
	require.NoError(t, s.AppendAudit(ctx, e, "req-9/escalated"))
	require.NoError(t, s.AppendAudit(ctx, pyxis.AuditEntry{Actor: pyxis.Actor{ID: "t1", Role: "technician"}, Action: "stock.set"}, ""))
	require.NoError(t, s.AppendAudit(ctx, pyxis.AuditEntry{Actor: pyxis.Actor{ID: "t1", Role: "technician"}, Action: "stock.set"}, ""))

	audit, err := s.ListAudit(ctx, "req-9")
	require.NoError(t, err)
	require.Len(t, audit, 1)
	assert.Equal(t, "15m", audit[0].Details["after"])
	assert.True(t, audit[0].At.Equal(t0))
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	ctx := testCtx(t)
	require.NoError(t, s.AppendAudit(ctx, pyxis.AuditEntry{Actor: pyxis.Actor{ID: "a", Role: "admin"}, Action: "x", RequestID: "r"}, ""))

	_, err := pool.Exec(ctx, "UPDATE audit_log SET action = 'forged'")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "append-only")
	_, err = pool.Exec(ctx, "DELETE FROM audit_log")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "append-only")
}

func TestListRequests(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	other, err := s.CreateCabinet(ctx, db.NewCabinet{Code: "CAB-2", Name: "Ward 2 cabinet", Driver: "sim"})
	require.NoError(t, err)

	// Seven requests; two share a created_at so the id breaks the tie.
	for i := range 7 {
		submit(t, s, f, fmt.Sprintf("req-%d", i), fmt.Sprintf("u%d", i%2), t0.Add(time.Duration(min(i, 5))*time.Minute))
	}
	require.NoError(t, record(t, s, pyxis.Transition{RequestID: "req-2", Seq: 2, Status: "awaiting_approval", At: t0.Add(time.Hour)}))
	require.NoError(t, record(t, s, pyxis.Transition{RequestID: "other", Seq: 1, Status: "submitted", At: t0,
		Header: &pyxis.RequestHeader{Requester: pyxis.Actor{ID: "u9"}, Patient: pyxis.Patient{MRN: "MRN-2"}, CabinetID: other.ID, Priority: "stat"}}))

	var ids []string
	cursor, pages := "", 0
	for {
		page, next, err := s.ListRequests(ctx, db.RequestFilter{CabinetID: f.cabinet.ID, Limit: 3, Cursor: cursor})
		require.NoError(t, err)
		pages++
		for _, r := range page {
			ids = append(ids, r.ID)
			assert.Len(t, r.Lines, 2)
			assert.Equal(t, "CAB-1", r.CabinetCode)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	assert.Equal(t, 3, pages)
	assert.Equal(t, []string{"req-6", "req-5", "req-4", "req-3", "req-2", "req-1", "req-0"}, ids)

	all, next, err := s.ListRequests(ctx, db.RequestFilter{})
	require.NoError(t, err)
	assert.Len(t, all, 8)
	assert.Empty(t, next)

	waiting, _, err := s.ListRequests(ctx, db.RequestFilter{Status: "awaiting_approval"})
	require.NoError(t, err)
	require.Len(t, waiting, 1)
	assert.Equal(t, "req-2", waiting[0].ID)

	mine, _, err := s.ListRequests(ctx, db.RequestFilter{RequesterID: "u1", Status: "submitted"})
	require.NoError(t, err)
	assert.Len(t, mine, 3) // req-1, req-3, req-5
	for _, r := range mine {
		assert.Equal(t, "u1", r.Requester.ID)
		assert.Equal(t, "submitted", r.Status)
	}

	stat, _, err := s.ListRequests(ctx, db.RequestFilter{CabinetID: other.ID})
	require.NoError(t, err)
	require.Len(t, stat, 1)
	assert.Empty(t, stat[0].Lines)
	assert.NotNil(t, stat[0].Lines)

	for _, bad := range []string{"%%%", "bm90LWEtY3Vyc29y", "MTIz"} {
		_, _, err = s.ListRequests(ctx, db.RequestFilter{Cursor: bad})
		assert.ErrorIs(t, err, pyxis.ErrInvalidCursor, bad)
	}
	_, _, err = s.ListRequests(ctx, db.RequestFilter{Status: "lost"})
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
}

func TestClaimIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)

	id, err := s.ClaimIdempotencyKey(ctx, "u1", "key-1", "req-a", "hash-1")
	require.NoError(t, err)
	assert.Equal(t, "req-a", id)
	id, err = s.ClaimIdempotencyKey(ctx, "u1", "key-1", "req-b", "hash-1")
	require.NoError(t, err)
	assert.Equal(t, "req-a", id, "a retry gets the request of the first claim")

	_, err = s.ClaimIdempotencyKey(ctx, "u1", "key-1", "req-c", "hash-2")
	assert.ErrorIs(t, err, pyxis.ErrIdempotencyMismatch)

	id, err = s.ClaimIdempotencyKey(ctx, "u2", "key-1", "req-d", "hash-2")
	require.NoError(t, err)
	assert.Equal(t, "req-d", id, "keys are per requester")
}

// BenchmarkRecordStep is a step of one transition, a submission: projection row, transition
// and audit entry in one transaction.
func BenchmarkRecordStep(b *testing.B) {
	s := newStore(b)
	f := seed(b, s, 10)
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench-%d", i)
		if err := record(b, s, pyxis.Transition{
			RequestID: id, Seq: 1, Status: "submitted", At: t0, Actor: pyxis.Actor{ID: "nurse-1", Role: "nurse"},
			Header: &pyxis.RequestHeader{Requester: pyxis.Actor{ID: "nurse-1"}, Patient: pyxis.Patient{MRN: "MRN-1"}, CabinetID: f.cabinet.ID, Priority: "stat", Lines: []pyxis.Line{{MedicationID: f.medA.ID, Quantity: 1}}},
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetRequestDetail reads a dispensed request as a GET of it does: the request, its
// two lines and its six transitions.
func BenchmarkGetRequestDetail(b *testing.B) {
	s := newStore(b)
	ctx := testCtx(b)
	f := seed(b, s, 10)
	const id = "bench-read"
	if _, err := s.Admit(ctx, admission(f, id, 2)); err != nil {
		b.Fatal(err)
	}
	pharm := pyxis.Actor{ID: "pharm-bo", Role: "pharmacist", Name: "Bo"}
	if err := record(b, s,
		pyxis.Transition{RequestID: id, Seq: 3, From: "awaiting_approval", Status: "awaiting_approval", Action: "approval_recorded", At: t0, Actor: pharm, Note: "checked"},
		pyxis.Transition{RequestID: id, Seq: 4, From: "awaiting_approval", Status: "approved", Action: "approved", At: t0, Actor: pyxis.Actor{ID: "pharm-cy", Role: "pharmacist"}},
		pyxis.Transition{RequestID: id, Seq: 5, From: "approved", Status: "ready_at_cabinet", Action: "authorized_at_cabinet", At: t0, Actor: pyxis.Actor{ID: "system", Role: "system"}},
	); err != nil {
		b.Fatal(err)
	}
	if _, err := s.RecordStep(ctx, withdrawn(f, id, 6, pyxis.Line{MedicationID: f.medA.ID, Quantity: 2}, pyxis.Line{MedicationID: f.medB.ID, Quantity: 1})); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		d, err := s.GetRequestDetail(ctx, id)
		if err != nil || len(d.Transitions) != 6 || len(d.Lines) != 2 {
			b.Fatalf("read %d transitions, %d lines: %v", len(d.Transitions), len(d.Lines), err)
		}
	}
}
