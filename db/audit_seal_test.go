package db_test

import (
	"context"
	"encoding/json"
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

var sealActor = pyxis.Actor{ID: "t1", Role: "technician"}

// sealed reports whether the audit entry of action is sealed.
func sealed(ctx context.Context, pool *pgxpool.Pool, action string) (bool, error) {
	var ok bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_seal s JOIN audit_log a ON a.id = s.entry_id
		WHERE a.action = $1)`, action).Scan(&ok)
	return ok, err
}

// requireSealedWithin requires the entry of action to be sealed within d, and says how long
// it took.
func requireSealedWithin(t *testing.T, pool *pgxpool.Pool, action string, d time.Duration) {
	t.Helper()
	start := time.Now()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		ok, err := sealed(testCtx(t), pool, action)
		require.NoError(c, err)
		assert.True(c, ok, "%s not sealed", action)
	}, d, 20*time.Millisecond)
	t.Logf("%s sealed after %s", action, time.Since(start).Round(time.Millisecond))
}

func appendAction(t *testing.T, s *db.Store, action string) {
	t.Helper()
	require.NoError(t, s.AppendAudit(testCtx(t), pyxis.AuditEntry{Actor: sealActor, Action: action}, ""))
}

// An audited transaction does not wait for the chain: with the chain head locked by another
// transaction (as every audited transaction locked it before migration 0015), appending
// still commits at once.
func TestAuditAppendTakesNoChainLock(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	ctx := testCtx(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SELECT 1 FROM audit_chain_head FOR UPDATE")
	require.NoError(t, err)

	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, s.AppendAudit(short, pyxis.AuditEntry{Actor: sealActor, Action: "while_locked"}, ""))
	ok, err := sealed(ctx, pool, "while_locked")
	require.NoError(t, err)
	assert.False(t, ok, "written, not chained yet")

	require.NoError(t, tx.Rollback(ctx))
	v := verifyOK(t, s)
	assert.Equal(t, 1, v.Entries)
	assert.EqualValues(t, 1, v.HeadSeq)
}

// Two sealers, as two processes would run them: one leads and seals within a second; when it
// stops, the other takes over within a few; when the leader's connection is cut, sealing
// resumes.
func TestSealerFailover(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	url := dbtest.URL(t)
	open := func() *db.Store {
		pool, err := db.Open(ctx, url)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return db.NewStore(pool)
	}
	writer := open()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	run := func(s *db.Store) (stop func()) {
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); s.RunSealer(sctx) }()
		return func() { cancel(); <-done }
	}

	stopA := run(open())
	appendAction(t, writer, "first")
	requireSealedWithin(t, pool, "first", 3*time.Second) // only A runs: A leads

	stopB := run(open())
	defer stopB()
	stopA()
	appendAction(t, writer, "after_a_stopped")
	requireSealedWithin(t, pool, "after_a_stopped", 5*time.Second) // only B is left

	// B's connection is cut, as when its process dies: the lock goes with the session, and a
	// sealer (B again, or C) leads again.
	stopC := run(open())
	defer stopC()
	var killed bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objid = x'61756474'::bigint`).Scan(&killed))
	require.True(t, killed)
	appendAction(t, writer, "after_b_cut")
	requireSealedWithin(t, pool, "after_b_cut", 5*time.Second)

	v := verifyOK(t, writer)
	assert.Equal(t, 3, v.Entries)
}

// An entry left unsealed is counted, and reported as overdue only once it has waited longer
// than db.UnsealedAfter.
func TestUnsealedAuditIsCounted(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	ctx := testCtx(t)
	appendAction(t, s, "sealed")
	verifyOK(t, s)
	appendAction(t, s, "waiting")

	v, err := s.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.True(t, v.OK, "an entry waiting for its seal does not break the chain")
	assert.Equal(t, 1, v.Entries)
	assert.Equal(t, 1, v.Unsealed)
	u, err := s.UnsealedAudit(ctx, db.UnsealedAfter)
	require.NoError(t, err)
	assert.Zero(t, u.Count, "just written")

	var id int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM audit_log WHERE action = 'waiting'").Scan(&id))
	_, err = pool.Exec(ctx, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE audit_log SET written_at = written_at - interval '1 minute' WHERE id = $1", id)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
	require.NoError(t, err)
	u, err = s.UnsealedAudit(ctx, db.UnsealedAfter)
	require.NoError(t, err)
	assert.EqualValues(t, 1, u.Count)
	assert.Equal(t, id, u.FirstID)
	assert.GreaterOrEqual(t, u.Oldest, time.Minute)

	verifyOK(t, s)
	u, err = s.UnsealedAudit(ctx, 0)
	require.NoError(t, err)
	assert.Zero(t, u.Count)
}

// Entries chained in-row before migration 0015 (and by a process of that version still
// running during the upgrade) keep verifying, and the sealed chain continues from them.
func TestAuditChainContinuesFromInRowEntries(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	pool := bareDatabase(t)
	later := migrationsFrom(t, "0015")
	_, err := pool.Exec(ctx, "CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
	require.NoError(t, err)
	for _, v := range later {
		_, err := pool.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", v)
		require.NoError(t, err)
	}
	require.NoError(t, db.Migrate(ctx, pool))
	for i := range 3 {
		appendInRow(t, pool, "in_row", i)
	}
	_, err = pool.Exec(ctx, "DELETE FROM schema_migrations WHERE version = ANY($1)", later)
	require.NoError(t, err)
	require.NoError(t, db.Migrate(ctx, pool))

	s := db.NewStore(pool)
	appendAction(t, s, "sealed_1")
	verifyOK(t, s)
	appendInRow(t, pool, "in_row_during_upgrade", 3)
	appendAction(t, s, "sealed_2")
	v := verifyOK(t, s)
	assert.Equal(t, 6, v.Entries)
	assert.EqualValues(t, 6, v.HeadSeq)
	var queued int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM audit_seal").Scan(&queued))
	assert.Equal(t, 2, queued, "entries chained in-row get no seal")

	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "SET session_replication_role = replica")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "UPDATE audit_log SET actor_id = 'someone-else' WHERE action = 'in_row' AND details->>'i' = '1'")
	require.NoError(t, err)
	v, err = s.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.False(t, v.OK)
	assert.Contains(t, v.Reason, "altered")
}

// appendInRow appends an entry chained in-row, as appendAudit did before migration 0015:
// under the chain head's lock.
func appendInRow(t *testing.T, pool *pgxpool.Pool, action string, i int) {
	t.Helper()
	ctx := testCtx(t)
	details, err := json.Marshal(map[string]any{"i": i})
	require.NoError(t, err)
	at := time.Now().UTC().Truncate(time.Microsecond)
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var seq int64
		var prev []byte
		if err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit_chain_head FOR UPDATE").Scan(&seq, &prev); err != nil {
			return err
		}
		seq++
		hash, err := db.AuditHash(prev, seq, at, "old", "admin", action, "", details)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_log (at, actor_id, actor_role, action, details, seq, prev_hash, hash)
			VALUES ($1, 'old', 'admin', $2, $3, $4, $5, $6)`, at, action, details, seq, prev, hash); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE audit_chain_head SET seq = $1, hash = $2", seq, hash)
		return err
	}))
}
