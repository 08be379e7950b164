package devstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/pgcluster/pgclustertest"
	"github.com/medreq/pyxis/service"
)

func TestDevTemporalHistoryShardsAreRecordedPerStore(t *testing.T) {
	file := filepath.Join(t.TempDir(), "temporal-shards.json")

	n, err := historyShards(file, TemporalStoreSQLite, false, 4)
	require.NoError(t, err)
	assert.EqualValues(t, 4, n, "a new store gets the default")
	n, err = historyShards(file, TemporalStoreSQLite, true, 8)
	require.NoError(t, err)
	assert.EqualValues(t, 4, n, "and keeps it, whatever the default becomes: a store cannot change its count")

	n, err = historyShards(file, TemporalStorePostgres, true, 4)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "a store made before counts were recorded was made with one shard")
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.JSONEq(t, `{"sqlite": 4, "postgres": 1}`, string(raw))

	require.NoError(t, os.WriteFile(file, []byte("{not json"), 0o644))
	_, err = historyShards(file, TemporalStoreSQLite, true, 4)
	assert.Error(t, err, "a damaged record is not guessed around")
}

func TestDevTemporalStoreFlag(t *testing.T) {
	o, err := ParseFlags([]string{"--dir", t.TempDir()}, func(string) string { return "" }, service.Config{})
	require.NoError(t, err)
	store, why := ResolveTemporalStore(o)
	assert.Equal(t, TemporalStorePostgres, store, "a new data folder runs Temporal on Postgres")
	assert.Empty(t, why)
	require.NoError(t, os.WriteFile(filepath.Join(o.Dir, sqliteFile), nil, 0o600))
	store, why = ResolveTemporalStore(o)
	assert.Equal(t, TemporalStoreSQLite, store, "a data folder that holds Temporal's SQLite state keeps it")
	assert.Contains(t, why, "--temporal-store postgres")
	o, err = ParseFlags([]string{"--ephemeral"}, func(string) string { return "" }, service.Config{})
	require.NoError(t, err)
	store, _ = ResolveTemporalStore(o)
	assert.Equal(t, TemporalStoreSQLite, store, "--ephemeral keeps Temporal in memory")
	o, err = ParseFlags(nil, func(k string) string { return map[string]string{"PYXIS_DEV_TEMPORAL_STORE": "postgres"}[k] }, service.Config{})
	require.NoError(t, err)
	assert.Equal(t, TemporalStorePostgres, o.TemporalStore)
	o, err = ParseFlags([]string{"--temporal-store", "sqlite", "--ephemeral"}, func(string) string { return "" }, service.Config{})
	require.NoError(t, err)
	assert.True(t, o.TempDir && o.ThrowawayDB, "--ephemeral keeps nothing")
	_, err = ParseFlags([]string{"--temporal-store", "mysql"}, func(string) string { return "" }, service.Config{})
	assert.ErrorContains(t, err, "want postgres or sqlite")
}

// A server named by its Unix socket, in a folder that is not a default one, is the server
// Temporal's databases are made on: the Postgres plugin builds its own URL from the config,
// and one without the socket's folder would reach whatever answers at pgx's default (another
// server, or none).
func TestTemporalPostgresStoreThroughAUnixSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := pgclustertest.Start(t)

	admin := fmt.Sprintf("postgres://postgres@/postgres?host=%s&port=%d&sslmode=disable", cl.SocketDir(), cl.Port())
	sys, err := db.WithDatabase(admin, "pyxis_dev")
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("postgres://postgres@/pyxis_dev?host=%s&port=%d&sslmode=disable", cl.SocketDir(), cl.Port()), sys,
		"the system's database is on the same socket")
	_, err = db.WithDatabase("host="+cl.SocketDir()+" dbname=postgres", "pyxis_dev")
	assert.ErrorContains(t, err, "want a postgres:// URL", "the key=value form names no place for another database")

	st, err := postgresStore(TemporalPostgres{AdminURL: admin, Database: "pyxis_dev_temporal", Visibility: "pyxis_dev_temporal_visibility"})
	require.NoError(t, err)
	assert.False(t, st.existed)
	for _, name := range []string{"pyxis_dev_temporal", "pyxis_dev_temporal_visibility"} {
		conn, err := pgx.Connect(ctx, cl.URL(name)) // over TCP: the same server either way
		require.NoError(t, err, name)
		var version string
		require.NoError(t, conn.QueryRow(ctx, "SELECT curr_version FROM schema_version").Scan(&version), name)
		assert.NotEmpty(t, version, "%s holds Temporal's schema", name)
		require.NoError(t, conn.Close(ctx))
	}
}
