package db_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

func TestMigrateTwiceIsNoop(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t) // already migrated once
	ctx := testCtx(t)

	require.NoError(t, db.Migrate(ctx, pool))

	var versions []string
	rows, err := pool.Query(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	require.NoError(t, err)
	for rows.Next() {
		var v string
		require.NoError(t, rows.Scan(&v))
		versions = append(versions, v)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, migrationsFrom(t, "0"), versions, "every migration file, once")
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public;`)
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = db.Migrate(ctx, pool) })
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n))
	assert.Equal(t, len(migrationsFrom(t, "0")), n)
}
