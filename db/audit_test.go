package db_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// verifyOK seals what waits for its seal, as the sealer would, then requires the chain to
// verify with every entry sealed, and returns the result.
func verifyOK(t *testing.T, s *db.Store) db.AuditVerification {
	t.Helper()
	_, err := s.SealAudit(testCtx(t))
	require.NoError(t, err)
	v, err := s.VerifyAudit(testCtx(t))
	require.NoError(t, err)
	require.True(t, v.OK, "chain broken: %+v", v)
	assert.Zero(t, v.FirstBrokenID)
	assert.Empty(t, v.Reason)
	assert.Zero(t, v.Unsealed)
	return v
}

func TestAuditChainCoversEveryWriter(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	ctx := testCtx(t)
	v := verifyOK(t, s)
	assert.Zero(t, v.Entries, "a fresh database has an empty, valid chain")

	f := seed(t, s, 10) // SetStock, audited
	submit(t, s, f, "req-chain", "u1", t0)
	submit(t, s, f, "req-chain", "u1", t0) // a retry writes no second entry
	// Details that change spelling on their way through jsonb: floats, big numbers, HTML
	// characters, unicode, nesting.
	odd := map[string]any{
		"ratio": 0.1, "big": 1e21, "tiny": 1e-7, "whole": 1500.0, "neg_zero": -0.0,
		"note":   "<b>café & \u2028 \"quoted\"</b>",
		"nested": map[string]any{"z": 1, "a": []any{1, 2.5, "x", nil, true}},
	}
	require.NoError(t, s.AppendAudit(ctx, pyxis.AuditEntry{
		At: t0.Add(123456789 * time.Nanosecond), Actor: pyxis.Actor{ID: "a1", Role: "admin"}, Action: "odd", Details: odd,
	}, "odd-1"))
	require.NoError(t, s.AppendAudit(ctx, pyxis.AuditEntry{Actor: pyxis.Actor{ID: "a1", Role: "admin"}, Action: "odd", Details: odd}, "odd-1"))

	var rows int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM audit_log").Scan(&rows))
	v = verifyOK(t, s)
	assert.Equal(t, rows, v.Entries)
	assert.EqualValues(t, rows, v.HeadSeq, "a repeated idempotent write does not move the head")
	assert.Len(t, v.HeadHash, 64)
}

// Concurrent writers and several sealers at once (as when a sealer loses its lead while
// sealing): the entries still form one chain.
func TestAuditConcurrentAppendsFormOneChain(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	ctx := testCtx(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- s.AppendAudit(ctx, pyxis.AuditEntry{
				Actor: pyxis.Actor{ID: fmt.Sprintf("u%d", i), Role: "nurse"}, Action: "concurrent",
				Details: map[string]any{"i": i},
			}, "")
		}()
		go func() {
			defer wg.Done()
			_, err := s.SealAudit(ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, err := s.SealAudit(ctx)
	require.NoError(t, err)
	var entries, distinctPrev, distinctSeq int
	require.NoError(t, pool.QueryRow(ctx,
		"SELECT count(*), count(DISTINCT prev_hash), count(DISTINCT seq) FROM audit_seal").Scan(&entries, &distinctPrev, &distinctSeq))
	assert.Equal(t, n, entries)
	assert.Equal(t, n, distinctPrev, "no two entries share a predecessor: the chain has no forks")
	assert.Equal(t, n, distinctSeq)
	v := verifyOK(t, s)
	assert.Equal(t, n, v.Entries)
	assert.EqualValues(t, n, v.HeadSeq)
}

// appRolePool returns a pool on a fresh database whose connections act as pyxis_app, the role
// the application runs as in production.
func appRolePool(t *testing.T) (app, owner *pgxpool.Pool) {
	t.Helper()
	dbURL := dbtest.URL(t)
	cfg, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET ROLE pyxis_app")
		return err
	}
	app, err = pgxpool.NewWithConfig(testCtx(t), cfg)
	require.NoError(t, err)
	t.Cleanup(app.Close)
	owner, err = pgxpool.New(testCtx(t), dbURL)
	require.NoError(t, err)
	t.Cleanup(owner.Close)
	return app, owner
}

func requirePermissionDenied(t *testing.T, err error, what string) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "%s: want a permission error, got %v", what, err)
	assert.Equal(t, "42501", pgErr.Code, what)
	// The grant refuses it, before the append-only trigger would.
	assert.Contains(t, pgErr.Message, "permission denied", what)
}

func TestAppRoleMayOnlyAppendToAuditLog(t *testing.T) {
	t.Parallel()
	app, owner := appRolePool(t)
	ctx := testCtx(t)
	var role string
	require.NoError(t, app.QueryRow(ctx, "SELECT current_user").Scan(&role))
	require.Equal(t, "pyxis_app", role)

	// The application's own work goes through under the role: stock, transitions, audit, verify.
	s := db.NewStore(app)
	f := seed(t, s, 10)
	submit(t, s, f, "req-role", "u1", t0)
	require.NoError(t, s.AppendAudit(ctx, pyxis.AuditEntry{Actor: pyxis.Actor{ID: "a", Role: "admin"}, Action: "x"}, ""))
	v := verifyOK(t, s)
	require.Positive(t, v.Entries)

	_, err := app.Exec(ctx, "UPDATE audit_log SET details = '{}' WHERE id = (SELECT min(id) FROM audit_log)")
	requirePermissionDenied(t, err, "UPDATE")
	_, err = app.Exec(ctx, "DELETE FROM audit_log")
	requirePermissionDenied(t, err, "DELETE")
	_, err = app.Exec(ctx, "TRUNCATE audit_log")
	requirePermissionDenied(t, err, "TRUNCATE")
	_, err = app.Exec(ctx, "DELETE FROM audit_chain_head")
	requirePermissionDenied(t, err, "DELETE head")
	_, err = app.Exec(ctx, "UPDATE audit_seal SET hash = sha256(hash)")
	requirePermissionDenied(t, err, "UPDATE seal")
	_, err = app.Exec(ctx, "DELETE FROM audit_seal")
	requirePermissionDenied(t, err, "DELETE seal")
	_, err = app.Exec(ctx, "TRUNCATE audit_seal")
	requirePermissionDenied(t, err, "TRUNCATE seal")
	_, err = app.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ('9999_evil')")
	requirePermissionDenied(t, err, "INSERT schema_migrations")

	// The owner is still stopped by the append-only triggers.
	_, err = owner.Exec(ctx, "DELETE FROM audit_log")
	require.ErrorContains(t, err, "append-only")
	_, err = owner.Exec(ctx, "UPDATE audit_seal SET hash = sha256(hash)")
	require.ErrorContains(t, err, "append-only")
	verifyOK(t, db.NewStore(owner))
}

// An edit made with the triggers off, after the entries were sealed, is found: in an
// entry's content, in its seal, or by removing either.
func TestVerifyAuditReportsTampering(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tamper string // SQL run as superuser with triggers off; %d is the id of the 3rd entry
		broken func(ids []int64) int64
		reason string
	}{
		{"details edited", `UPDATE audit_log SET details = '{"on_hand": 999}' WHERE id = %d`,
			func(ids []int64) int64 { return ids[2] }, "altered"},
		{"actor edited", `UPDATE audit_log SET actor_id = 'someone-else' WHERE id = %d`,
			func(ids []int64) int64 { return ids[2] }, "altered"},
		{"time edited", `UPDATE audit_log SET at = at - interval '1 hour' WHERE id = %d`,
			func(ids []int64) int64 { return ids[2] }, "altered"},
		{"entry deleted", `DELETE FROM audit_log WHERE id = %d`,
			func(ids []int64) int64 { return ids[2] }, "is missing"},
		{"entry and its seal deleted", `DELETE FROM audit_seal WHERE entry_id = %[1]d; DELETE FROM audit_log WHERE id = %[1]d`,
			func(ids []int64) int64 { return ids[3] }, "entries before it are missing"},
		{"last entry deleted", `DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log) AND %d > 0`,
			func(ids []int64) int64 { return ids[len(ids)-1] }, "is missing"},
		{"last entry and its seal deleted", `DELETE FROM audit_seal WHERE seq = (SELECT max(seq) FROM audit_seal) AND %d > 0;
			DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)`,
			func(ids []int64) int64 { return ids[len(ids)-1] }, "removed"},
		{"hash recomputed badly", `UPDATE audit_seal SET hash = sha256(hash) WHERE entry_id = %d`,
			func(ids []int64) int64 { return ids[2] }, "altered"},
		{"seal moved to another entry", `UPDATE audit_seal SET entry_id = entry_id + 1000 WHERE entry_id = %d`,
			func(ids []int64) int64 { return ids[2] + 1000 }, "is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.NewPool(t)
			s := db.NewStore(pool)
			ctx := testCtx(t)
			for i := range 6 {
				require.NoError(t, s.AppendAudit(ctx, pyxis.AuditEntry{
					Actor: pyxis.Actor{ID: "t1", Role: "technician"}, Action: "stock_set",
					Details: map[string]any{"on_hand": i},
				}, ""))
			}
			verifyOK(t, s)
			var ids []int64
			rows, err := pool.Query(ctx, "SELECT id FROM audit_log ORDER BY id")
			require.NoError(t, err)
			ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
			require.NoError(t, err)

			conn, err := pool.Acquire(ctx)
			require.NoError(t, err)
			// A superuser can bypass the trigger (replica mode skips ordinary triggers).
			_, err = conn.Exec(ctx, "SET session_replication_role = replica")
			require.NoError(t, err)
			_, err = conn.Exec(ctx, fmt.Sprintf(tc.tamper, ids[2]))
			require.NoError(t, err)
			_, err = conn.Exec(ctx, "SET session_replication_role = DEFAULT")
			require.NoError(t, err)
			conn.Release()

			v, err := s.VerifyAudit(ctx)
			require.NoError(t, err)
			assert.False(t, v.OK)
			assert.Equal(t, tc.broken(ids), v.FirstBrokenID, v.Reason)
			assert.Contains(t, v.Reason, tc.reason)
		})
	}
}

// TestAuditMigrationSealsLegacyEntries migrates a database that already has audit entries:
// they stay unchained but sealed, so changing one later is still reported.
func TestAuditMigrationSealsLegacyEntries(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	pool := bareDatabase(t)

	// Apply the migrations before 0003 only, by marking 0003 and later as done.
	later := migrationsFrom(t, "0003")
	_, err := pool.Exec(ctx, "CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
	require.NoError(t, err)
	for _, v := range later {
		_, err := pool.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", v)
		require.NoError(t, err)
	}
	require.NoError(t, db.Migrate(ctx, pool))
	for i := range 3 {
		_, err := pool.Exec(ctx, `INSERT INTO audit_log (at, actor_id, actor_role, action, details)
			VALUES (now(), 'old', 'admin', 'legacy', jsonb_build_object('i', $1::int))`, i)
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, "DELETE FROM schema_migrations WHERE version = ANY($1)", later)
	require.NoError(t, err)
	require.NoError(t, db.Migrate(ctx, pool))

	s := db.NewStore(pool)
	require.NoError(t, s.AppendAudit(ctx, pyxis.AuditEntry{Actor: pyxis.Actor{ID: "new", Role: "admin"}, Action: "chained"}, ""))
	v := verifyOK(t, s)
	assert.Equal(t, 4, v.Entries)
	assert.Equal(t, 3, v.Legacy)
	assert.EqualValues(t, 1, v.HeadSeq)

	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "SET session_replication_role = replica")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "UPDATE audit_log SET action = 'rewritten' WHERE id = 2")
	require.NoError(t, err)
	v, err = s.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.False(t, v.OK)
	assert.EqualValues(t, 1, v.FirstBrokenID)
	assert.Contains(t, v.Reason, "before the chain began")
}

// migrationsFrom lists the versions of the migration files named from prefix on.
func migrationsFrom(t *testing.T, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if v, ok := strings.CutSuffix(e.Name(), ".sql"); ok && v >= prefix {
			out = append(out, v)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// bareDatabase returns a pool on a new, empty database on the test server, dropped at the end.
func bareDatabase(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := testCtx(t)
	base := dbtest.URL(t)
	admin, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer admin.Close(context.Background())
	name := fmt.Sprintf("pyxis_bare_%d", time.Now().UnixNano())
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.Path = "/" + name
	pool, err := pgxpool.New(ctx, u.String())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}
