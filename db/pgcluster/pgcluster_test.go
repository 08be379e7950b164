package pgcluster_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/db/pgcluster"
)

func TestStartConnectStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(reachableTempDir(t), "data")

	c, err := pgcluster.Start(ctx, dir, 0)
	require.NoError(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = c.Stop(context.Background())
		}
	})
	assert.NotZero(t, c.Port())
	assert.FileExists(t, filepath.Join(dir, "PG_VERSION"))

	query := func(sql string) string {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		require.NoError(t, err)
		defer conn.Close(ctx)
		var out string
		require.NoError(t, conn.QueryRow(ctx, sql).Scan(&out))
		return out
	}
	assert.Equal(t, "UTF8", query("SHOW server_encoding"))
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE DATABASE kept")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	require.NoError(t, c.Stop(ctx))
	stopped = true

	_, err = pgx.Connect(ctx, c.URL("postgres"))
	require.Error(t, err, "the server must be down after Stop")

	// Starting again on the same directory reuses the cluster instead of running initdb.
	c, err = pgcluster.Start(ctx, dir, 0)
	require.NoError(t, err)
	stopped = false
	assert.Equal(t, "kept", query("SELECT datname::text FROM pg_database WHERE datname = 'kept'"))
	require.NoError(t, c.Stop(ctx))
	stopped = true
}

func TestURL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, filepath.Join(reachableTempDir(t), "data"), 0)
	require.NoError(t, err)
	defer func() { assert.NoError(t, c.Stop(ctx)) }()

	cfg, err := pgx.ParseConfig(c.URL("app"))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", cfg.Host)
	assert.Equal(t, uint16(c.Port()), cfg.Port)
	assert.Equal(t, "app", cfg.Database)
	assert.Equal(t, pgcluster.Superuser, cfg.User)
}

func TestUnreachableDirIsExplained(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the server to the postgres user")
	}
	_, err := pgcluster.Start(context.Background(), filepath.Join(t.TempDir(), "data"), 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot enter")
}

// reachableTempDir returns a temporary directory that the postgres OS user can enter; unlike
// t.TempDir, whose parent is private to this user.
func reachableTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

func TestHaltResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, filepath.Join(reachableTempDir(t), "data"), 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	require.NoError(t, exec("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)"))
	require.Error(t, c.Halt(ctx, "sideways"))
	port := c.Port()
	for _, mode := range []string{"fast", "immediate"} {
		require.NoError(t, c.Halt(ctx, mode))
		require.Error(t, exec("SELECT 1"), "down after Halt -m %s", mode)
		require.NoError(t, c.Resume(ctx))
		assert.Equal(t, port, c.Port())
		require.NoError(t, exec("INSERT INTO kept VALUES (2)"), "a committed table survives -m %s", mode)
	}
}

// TestNoPostgresAdvisesOnlyWhatEveryUserCan keeps the tests' own variable out of the message
// dev mode shows when it finds neither a server nor initdb.
func TestNoPostgresAdvisesOnlyWhatEveryUserCan(t *testing.T) {
	assert.NotContains(t, pgcluster.ErrNoPostgres.Error(), "PYXIS_TEST_DATABASE_URL")
	assert.Contains(t, pgcluster.ErrNoPostgres.Error(), "initdb")
}
