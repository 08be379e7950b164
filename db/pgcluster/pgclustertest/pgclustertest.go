// Package pgclustertest starts a private PostgreSQL cluster for a test that needs a server of
// its own (its own socket, roles or settings), where db/dbtest's shared server will not do.
package pgclustertest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/medreq/pyxis/db/pgcluster"
)

// Start starts a cluster in a folder of its own, stopped and removed when t ends, and skips t
// where no PostgreSQL binaries are installed. The folder is made searchable by others, since
// a process running as root runs the server as the postgres OS user (pgcluster.Start).
func Start(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "pyxis-pgcluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, filepath.Join(dir, "data"), 0)
	if errors.Is(err, pgcluster.ErrNoPostgres) {
		t.Skip("no PostgreSQL binaries")
	}
	if err != nil {
		t.Fatalf("start a PostgreSQL cluster: %v", err)
	}
	// Registered after the folder's removal, so it runs before it.
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}
