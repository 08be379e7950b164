package db_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

var admin = pyxis.Actor{ID: "admin-1", Role: "admin", Name: "Ada"}

// change is one audit entry of a change, as the tests read it back.
type change struct {
	Action  string
	ActorID string
	Details map[string]any
}

// changes returns the audit entries that belong to no request, in order.
func changes(t *testing.T, pool *pgxpool.Pool) []change {
	t.Helper()
	rows, err := pool.Query(testCtx(t), "SELECT action, actor_id, details FROM audit_log WHERE request_id IS NULL ORDER BY id")
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (change, error) {
		var c change
		var raw []byte
		if err := r.Scan(&c.Action, &c.ActorID, &raw); err != nil {
			return c, err
		}
		return c, json.Unmarshal(raw, &c.Details)
	})
	require.NoError(t, err)
	return out
}

func ptr[T any](v T) *T { return &v }

func TestUsersDirectory(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	ctx := testCtx(t)

	ana, err := s.CreateUser(ctx, db.User{ID: "nurse-ana", Name: "Ana", Role: "nurse", Registration: "COREN-1", Unit: "ICU", Active: true}, admin)
	require.NoError(t, err)
	assert.Equal(t, "ICU", ana.Unit)
	assert.False(t, ana.CreatedAt.IsZero())
	_, err = s.CreateUser(ctx, db.User{ID: "nurse-ana", Name: "Again", Role: "nurse", Active: true}, admin)
	assert.ErrorIs(t, err, pyxis.ErrConflict)
	_, err = s.CreateUser(ctx, db.User{ID: "x", Name: "X", Role: "surgeon"}, admin)
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
	_, err = s.CreateUser(ctx, db.User{ID: "", Name: "X", Role: "nurse"}, admin)
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
	cab, err := s.CreateUser(ctx, db.User{ID: "cab-icu", Name: "ICU cabinet", Role: "cabinet", Active: true}, admin)
	require.NoError(t, err, "cabinet interfaces are principals of the directory")
	assert.Equal(t, "cabinet", cab.Role)

	got, err := s.GetUser(ctx, "nurse-ana")
	require.NoError(t, err)
	assert.Equal(t, ana, got)
	_, err = s.GetUser(ctx, "nobody")
	assert.ErrorIs(t, err, pyxis.ErrNotFound)

	// A patch changes only what it names.
	moved, err := s.UpdateUser(ctx, "nurse-ana", db.UserPatch{Unit: ptr("Ward 3B"), Active: ptr(false)}, admin)
	require.NoError(t, err)
	assert.Equal(t, "Ward 3B", moved.Unit)
	assert.False(t, moved.Active)
	assert.Equal(t, "Ana", moved.Name)
	assert.Equal(t, "COREN-1", moved.Registration)
	assert.False(t, moved.UpdatedAt.Before(ana.UpdatedAt))
	_, err = s.UpdateUser(ctx, "nobody", db.UserPatch{Active: ptr(false)}, admin)
	assert.ErrorIs(t, err, pyxis.ErrNotFound)
	_, err = s.UpdateUser(ctx, "nurse-ana", db.UserPatch{Role: ptr("surgeon")}, admin)
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
	_, err = s.UpdateUser(ctx, "nurse-ana", db.UserPatch{Name: ptr("")}, admin)
	assert.ErrorIs(t, err, pyxis.ErrInvalid)

	// Just in time: the first sight adds the user, later ones find it as it is.
	jit := pyxis.Actor{ID: "pharm-new", Role: "pharmacist", Name: "New"}
	first, err := s.EnsureUser(ctx, db.User{ID: "pharm-new", Name: "New", Role: "pharmacist", Active: true}, jit)
	require.NoError(t, err)
	assert.Equal(t, "", first.Unit)
	again, err := s.EnsureUser(ctx, db.User{ID: "pharm-new", Name: "Renamed", Role: "admin", Active: true}, jit)
	require.NoError(t, err)
	assert.Equal(t, first, again, "the directory's row stands")
	kept, err := s.EnsureUser(ctx, db.User{ID: "nurse-ana", Name: "Ana", Role: "nurse", Active: true}, jit)
	require.NoError(t, err)
	assert.False(t, kept.Active, "a deactivated user is not reactivated by a token")

	all, err := s.ListUsers(ctx)
	require.NoError(t, err)
	var ids []string
	for _, u := range all {
		ids = append(ids, u.ID)
	}
	assert.Equal(t, []string{"cab-icu", "nurse-ana", "pharm-new"}, ids)

	// Every change is audited with what the user was and became; refused ones are not.
	got2 := changes(t, pool)
	require.Len(t, got2, 4)
	assert.Equal(t, change{Action: "user_created", ActorID: "admin-1", Details: map[string]any{
		"before": nil,
		"after":  map[string]any{"id": "nurse-ana", "name": "Ana", "role": "nurse", "registration": "COREN-1", "unit": "ICU", "active": true},
	}}, got2[0])
	assert.Equal(t, "user_created", got2[1].Action)
	assert.Equal(t, change{Action: "user_updated", ActorID: "admin-1", Details: map[string]any{
		"before": map[string]any{"id": "nurse-ana", "name": "Ana", "role": "nurse", "registration": "COREN-1", "unit": "ICU", "active": true},
		"after":  map[string]any{"id": "nurse-ana", "name": "Ana", "role": "nurse", "registration": "COREN-1", "unit": "Ward 3B", "active": false},
	}}, got2[2])
	assert.Equal(t, change{Action: "user_provisioned", ActorID: "pharm-new", Details: map[string]any{
		"before": nil, "source": "token",
		"after": map[string]any{"id": "pharm-new", "name": "New", "role": "pharmacist", "registration": "", "unit": "", "active": true},
	}}, got2[3])
	verifyOK(t, s)
}

func TestCatalogueChangesAuditedWithBeforeAndAfter(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	ctx := testCtx(t)

	med, err := s.CreateMedication(ctx, db.NewMedication{Code: "ONDA4", Name: "Ondansetron", Unit: "amp", By: admin})
	require.NoError(t, err)
	cab, err := s.CreateCabinet(ctx, db.NewCabinet{Code: "ICU-1", Name: "ICU cabinet", Unit: "ICU", Driver: "sim", By: admin})
	require.NoError(t, err)
	_, err = s.SetCabinetDriver(ctx, "ICU-1", "hl7", "127.0.0.1:2576")
	require.NoError(t, err)
	tech := pyxis.Actor{ID: "tech-1", Role: "technician"}
	_, err = s.SetStock(ctx, cab.ID, med.ID, 10, 8, tech)
	require.NoError(t, err)
	_, err = s.SetStock(ctx, cab.ID, med.ID, 7, 12, tech)
	require.NoError(t, err)
	// A refused change leaves no entry.
	_, err = s.CreateMedication(ctx, db.NewMedication{Code: "ONDA4", Name: "dup", By: admin})
	require.ErrorIs(t, err, pyxis.ErrConflict)

	cabinet := func(driver, address string) map[string]any {
		return map[string]any{"id": float64(cab.ID), "code": "ICU-1", "name": "ICU cabinet", "unit": "ICU", "status": "online", "driver": driver,
			"address": address, "report_sources": []any{}}
	}
	pocket := func(onHand, par int) map[string]any {
		return map[string]any{"on_hand": float64(onHand), "par_level": float64(par)}
	}
	assert.Equal(t, []change{
		{Action: "medication_created", ActorID: "admin-1", Details: map[string]any{"before": nil, "after": map[string]any{
			"id": float64(med.ID), "code": "ONDA4", "name": "Ondansetron", "strength": "", "form": "", "unit": "amp", "controlled_list": "",
			"route": "", "barcodes": []any{}, "active": true,
		}}},
		{Action: "cabinet_created", ActorID: "admin-1", Details: map[string]any{"before": nil, "after": cabinet("sim", "")}},
		{Action: "cabinet_driver_set", ActorID: "system", Details: map[string]any{"before": cabinet("sim", ""), "after": cabinet("hl7", "127.0.0.1:2576")}},
		{Action: "stock_set", ActorID: "tech-1", Details: map[string]any{
			"cabinet_id": float64(cab.ID), "medication_id": float64(med.ID), "before": pocket(0, 0), "after": pocket(10, 8)}},
		{Action: "stock_set", ActorID: "tech-1", Details: map[string]any{
			"cabinet_id": float64(cab.ID), "medication_id": float64(med.ID), "before": pocket(10, 8), "after": pocket(7, 12)}},
	}, changes(t, pool))

	// Seeding, which names nobody, is audited as the system.
	_, err = s.CreateMedication(ctx, db.NewMedication{Code: "PARA", Name: "Paracetamol"})
	require.NoError(t, err)
	all := changes(t, pool)
	assert.Equal(t, "system", all[len(all)-1].ActorID)
	verifyOK(t, s)
}

func TestListRequestsNeedToKnow(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	icu := seed(t, s, 10) // cabinet CAB-1 on unit W1
	w3 := icu
	var err error
	w3.cabinet, err = s.CreateCabinet(ctx, db.NewCabinet{Code: "CAB-W3", Name: "Ward 3 cabinet", Unit: "W3", Driver: "sim"})
	require.NoError(t, err)
	none := icu
	none.cabinet, err = s.CreateCabinet(ctx, db.NewCabinet{Code: "CAB-NONE", Name: "Cabinet of no unit", Driver: "sim"})
	require.NoError(t, err)

	for i, r := range []struct {
		id, requester string
		f             fixture
	}{
		{"r-a-w1", "nurse-a", icu}, {"r-b-w1", "nurse-b", icu}, {"r-c-w3", "nurse-c", w3},
		{"r-a-w3", "nurse-a", w3}, {"r-d-none", "nurse-d", none}, {"r-b-none", "nurse-b", none},
	} {
		submit(t, s, r.f, r.id, r.requester, t0.Add(time.Duration(i)*time.Minute))
	}
	list := func(v *db.Viewer, limit int) []string {
		t.Helper()
		var ids []string
		cursor := ""
		for range 10 {
			rows, next, err := s.ListRequests(ctx, db.RequestFilter{VisibleTo: v, Limit: limit, Cursor: cursor})
			require.NoError(t, err)
			for _, r := range rows {
				ids = append(ids, r.ID)
			}
			if next == "" {
				return ids
			}
			cursor = next
		}
		t.Fatal("more pages than requests")
		return nil
	}
	all := []string{"r-b-none", "r-d-none", "r-a-w3", "r-c-w3", "r-b-w1", "r-a-w1"}
	assert.Equal(t, all, list(nil, 50), "no viewer: everything")
	for _, tc := range []struct {
		name   string
		viewer db.Viewer
		want   []string
	}{
		{"own requests and her unit's", db.Viewer{ID: "nurse-a", Unit: "W1"}, []string{"r-a-w3", "r-b-w1", "r-a-w1"}},
		{"her unit's only", db.Viewer{ID: "nurse-x", Unit: "W3"}, []string{"r-a-w3", "r-c-w3"}},
		{"no unit: own only", db.Viewer{ID: "nurse-b"}, []string{"r-b-none", "r-b-w1"}},
		{"no unit matches no cabinet of no unit", db.Viewer{ID: "nurse-x"}, nil},
		{"unknown unit", db.Viewer{ID: "nurse-x", Unit: "W9"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, list(&tc.viewer, 50))
			assert.Equal(t, tc.want, list(&tc.viewer, 1), "paged one by one, the same requests in the same order")
		})
	}
	rows, _, err := s.ListRequests(ctx, db.RequestFilter{VisibleTo: &db.Viewer{ID: "nurse-a", Unit: "W1"}, CabinetID: w3.cabinet.ID})
	require.NoError(t, err)
	require.Len(t, rows, 1, "filters and need to know combine")
	assert.Equal(t, "r-a-w3", rows[0].ID)
}

func TestInactiveApprovers(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	submit(t, s, f, "req-dual", "nurse-a", t0)
	for _, u := range []string{"pharm-1", "pharm-2"} {
		require.NoError(t, s.UpsertUser(ctx, db.User{ID: u, Name: u, Role: "pharmacist", Active: true}))
	}
	for i, by := range []string{"pharm-1", "pharm-2"} {
		require.NoError(t, record(t, s, pyxis.Transition{
			RequestID: "req-dual", Seq: int32(i + 2), From: "awaiting_approval", Status: "awaiting_approval",
			Action: "approval_recorded", Actor: pyxis.Actor{ID: by, Role: "pharmacist"}, At: t0.Add(time.Minute),
		}))
	}
	ids, err := s.InactiveApprovers(ctx, "req-dual")
	require.NoError(t, err)
	assert.Empty(t, ids)

	_, err = s.UpdateUser(ctx, "pharm-1", db.UserPatch{Active: ptr(false)}, admin)
	require.NoError(t, err)
	ids, err = s.InactiveApprovers(ctx, "req-dual")
	require.NoError(t, err)
	assert.Equal(t, []string{"pharm-1"}, ids)
	ids, err = s.InactiveApprovers(ctx, "req-other")
	require.NoError(t, err)
	assert.Empty(t, ids)
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	before := time.Now().Add(-time.Second)
	for i := range 5 {
		require.NoError(t, s.LogAccess(ctx, db.AccessEntry{
			Actor: pyxis.Actor{ID: fmt.Sprintf("nurse-%d", i%2), Role: "nurse"}, Action: "request.read",
			Endpoint: "GET /v1/requests/:id", RequestIDs: []string{fmt.Sprintf("req-%d", i), "req-all"},
			ClientIP: "10.0.0.7", HTTPRequestID: fmt.Sprintf("rid-%d", i),
		}))
	}
	require.NoError(t, s.LogAccess(ctx, db.AccessEntry{
		Actor: pyxis.Actor{ID: "pharm-1", Role: "pharmacist"}, Action: "codec.decode", Endpoint: "POST /codec/decode",
		Details: map[string]any{"payloads": 3},
	}))

	entries, next, err := s.ListAccess(ctx, db.AccessFilter{})
	require.NoError(t, err)
	assert.Empty(t, next)
	require.Len(t, entries, 6)
	last := entries[0]
	assert.Equal(t, "codec.decode", last.Action, "newest first")
	assert.Equal(t, []string{}, last.RequestIDs)
	assert.Equal(t, map[string]any{"payloads": float64(3)}, last.Details)
	assert.WithinDuration(t, time.Now(), last.At, time.Minute)
	first := entries[5]
	assert.Equal(t, db.AccessEntry{
		ID: first.ID, At: first.At, Actor: pyxis.Actor{ID: "nurse-0", Role: "nurse"}, Action: "request.read",
		Endpoint: "GET /v1/requests/:id", RequestIDs: []string{"req-0", "req-all"}, ClientIP: "10.0.0.7",
		HTTPRequestID: "rid-0", Details: map[string]any{},
	}, first)

	ids := func(f db.AccessFilter) []string {
		t.Helper()
		var out []string
		for range 10 {
			page, next, err := s.ListAccess(ctx, f)
			require.NoError(t, err)
			for _, e := range page {
				out = append(out, e.HTTPRequestID)
			}
			if next == "" {
				return out
			}
			f.Cursor = next
		}
		t.Fatal("more pages than entries")
		return nil
	}
	assert.Equal(t, []string{"rid-3", "rid-1"}, ids(db.AccessFilter{ActorID: "nurse-1"}))
	assert.Equal(t, []string{"rid-2"}, ids(db.AccessFilter{RequestID: "req-2"}))
	assert.Equal(t, []string{"rid-4", "rid-3", "rid-2", "rid-1", "rid-0"}, ids(db.AccessFilter{RequestID: "req-all", Limit: 2}))
	future := time.Now().Add(time.Hour)
	assert.Empty(t, ids(db.AccessFilter{From: &future}))
	assert.Len(t, ids(db.AccessFilter{From: &before, To: &future}), 6)
	assert.Empty(t, ids(db.AccessFilter{To: &before}))

	_, _, err = s.ListAccess(ctx, db.AccessFilter{Cursor: "!!"})
	assert.ErrorIs(t, err, pyxis.ErrInvalidCursor)
	// A cursor of the request list is no cursor of the access log.
	_, _, err = s.ListAccess(ctx, db.AccessFilter{Cursor: base64.RawURLEncoding.EncodeToString([]byte("123,req-1"))})
	assert.ErrorIs(t, err, pyxis.ErrInvalidCursor)
}

func TestAccessLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	app, owner := appRolePool(t)
	ctx := testCtx(t)
	s := db.NewStore(app)
	require.NoError(t, s.LogAccess(ctx, db.AccessEntry{Actor: pyxis.Actor{ID: "n", Role: "nurse"}, Action: "request.read", Endpoint: "GET /v1/requests/:id"}))
	entries, _, err := s.ListAccess(ctx, db.AccessFilter{})
	require.NoError(t, err)
	require.Len(t, entries, 1, "the application appends and reads")

	for what, sql := range map[string]string{
		"UPDATE":   "UPDATE access_log SET actor_id = 'someone-else'",
		"DELETE":   "DELETE FROM access_log",
		"TRUNCATE": "TRUNCATE access_log",
	} {
		_, err := app.Exec(ctx, sql)
		requirePermissionDenied(t, err, what)
		// The owner is stopped by the append-only triggers.
		_, err = owner.Exec(ctx, sql)
		require.ErrorContains(t, err, "append-only", what)
	}
	var n int
	require.NoError(t, owner.QueryRow(context.Background(), "SELECT count(*) FROM access_log WHERE actor_id = 'n'").Scan(&n))
	assert.Equal(t, 1, n)
}
