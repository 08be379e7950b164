package devstack

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// TestDataFolderAndDatabaseBelongTogether starts dev mode's check on a new folder and
// database, then again on the same pair, then on each with a stranger: only the pair passes,
// and each refusal names both sides and the ways out.
func TestDataFolderAndDatabaseBelongTogether(t *testing.T) {
	ctx := t.Context()
	pool := dbtest.NewPool(t)
	store := db.NewStore(pool)
	const dbURL = "postgres://postgres@127.0.0.1:5432/pyxis_dev?sslmode=disable"
	first := t.TempDir()

	require.NoError(t, checkInstance(ctx, store, first, dbURL, []string{"pyxis_dev"}))
	raw, err := os.ReadFile(filepath.Join(first, instanceFile))
	require.NoError(t, err)
	rec, ok, err := store.DevInstance(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, rec.ID+"\n", string(raw))
	assert.Equal(t, first, rec.Dir)
	require.NoError(t, checkInstance(ctx, store, first, dbURL, []string{"pyxis_dev"}), "the same pair again")

	// A new folder pointed at the kept database.
	fresh := t.TempDir()
	err = checkInstance(ctx, store, fresh, dbURL, []string{"pyxis_dev", "pyxis_dev_temporal"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--dir "+first)
	assert.Contains(t, err.Error(), "dropdb -h 127.0.0.1 -p 5432 -U postgres pyxis_dev && dropdb -h 127.0.0.1 -p 5432 -U postgres pyxis_dev_temporal")
	assert.Contains(t, err.Error(), fresh)
	assert.NoFileExists(t, filepath.Join(fresh, instanceFile), "a refused folder is not claimed")

	// Another pair's folder.
	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, instanceFile), []byte("0123abcd\n"), 0o644))
	err = checkInstance(ctx, store, other, dbURL, []string{"pyxis_dev"})
	require.Error(t, err)
	for _, want := range []string{other, "0123abcd", rec.ID, "--dir " + first, "dropdb", "rm -r " + other} {
		assert.Contains(t, err.Error(), want)
	}

	// The first folder with a database that was dropped and made again.
	err = checkInstance(ctx, db.NewStore(dbtest.NewPool(t)), first, dbURL, []string{"pyxis_dev"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), rec.ID)
	assert.Contains(t, err.Error(), "DATABASE_URL")
}
