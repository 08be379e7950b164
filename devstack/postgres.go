package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/pgcluster"
	"github.com/medreq/pyxis/service"
)

// localPostgres is the server dev mode uses when DATABASE_URL is not set and one answers.
const localPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// database is the database dev mode runs on, and how to let go of it.
type database struct {
	url string
	// adminURL reaches the server's postgres database, to create more databases there;
	// adminErr says why there is none (a DATABASE_URL in the key=value form), which matters
	// only to what makes more databases: Temporal's store on Postgres.
	adminURL string
	adminErr error
	stop     func()
}

// findPostgres finds a database: DATABASE_URL as given; else a "pyxis_dev" database on the
// server at 127.0.0.1:5432; else a private cluster made with initdb in the data folder, on a
// free port, stopped on exit. Ephemeral runs (and load tests) get a database of their own,
// dropped on exit.
func findPostgres(ctx context.Context, databaseURL string, o Options) (database, error) {
	if databaseURL != "" {
		adminURL, err := db.WithDatabase(databaseURL, "postgres")
		if err != nil {
			err = fmt.Errorf("DATABASE_URL: %w (dev mode names its other databases after it)", err)
		}
		// Dev mode migrates it and adds demo data: whoever exported it for something else
		// should know.
		slog.Info("using DATABASE_URL from the environment: dev mode migrates it and adds its demo data", "database", service.MaskURL(databaseURL))
		return database{url: databaseURL, adminURL: adminURL, adminErr: err, stop: func() {}}, nil
	}
	name := "pyxis_dev"
	if o.ThrowawayDB {
		var b [4]byte
		_, _ = rand.Read(b[:])
		name = "pyxis_dev_" + hex.EncodeToString(b[:])
	}
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	conn, err := pgx.Connect(pingCtx, localPostgres)
	cancel()
	if err == nil {
		defer conn.Close(ctx)
		url, err := ensureDatabase(ctx, conn, localPostgres, name)
		if err != nil {
			return database{}, err
		}
		stop := func() {}
		if o.ThrowawayDB {
			stop = func() { dropDatabase(localPostgres, name) }
		}
		slog.Info("using the PostgreSQL server at 127.0.0.1:5432", "database", name)
		return database{url: url, adminURL: localPostgres, stop: stop}, nil
	}

	slog.Info("no PostgreSQL at 127.0.0.1:5432; starting a private one with initdb", "dir", filepath.Join(o.Dir, "postgres"))
	cl, err := pgcluster.Start(ctx, filepath.Join(o.Dir, "postgres"), 0)
	if err != nil {
		return database{}, fmt.Errorf("%w at 127.0.0.1:5432, and none could be started: %w; or set DATABASE_URL to a server of yours", errNoPostgres, err)
	}
	stop := func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.Stop(stopCtx); err != nil {
			slog.Warn("postgres stop", "error", err)
		}
	}
	admin, err := pgx.Connect(ctx, cl.URL("postgres"))
	if err != nil {
		stop()
		return database{}, fmt.Errorf("connect to the private PostgreSQL: %w", err)
	}
	defer admin.Close(ctx)
	url, err := ensureDatabase(ctx, admin, cl.URL("postgres"), name)
	if err != nil {
		stop()
		return database{}, err
	}
	return database{url: url, adminURL: cl.URL("postgres"), stop: stop}, nil
}

// CreateDatabase connects to the server of adminURL, creates the database name there if it is
// missing, and returns its URL.
func CreateDatabase(ctx context.Context, adminURL, name string) (string, error) {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", service.MaskURL(adminURL), err)
	}
	defer admin.Close(ctx)
	return ensureDatabase(ctx, admin, adminURL, name)
}

// ensureDatabase creates the database if it is missing and returns its URL.
func ensureDatabase(ctx context.Context, admin *pgx.Conn, adminURL, name string) (string, error) {
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look for database %s: %w", name, err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
	}
	return db.WithDatabase(adminURL, name)
}

// dropDatabase drops a database dev mode made to throw away (a load test's, and its Temporal's
// beside it), on the server of adminURL. A connection refused or a drop that fails is tried
// again for up to 30 s: the server may be at its connection limit for the moment a system's
// pools take to close, and a database left behind would hold its data on the user's server
// for good. What still fails is logged with the statement to run by hand.
func dropDatabase(adminURL, name string) {
	if err := dropDatabaseWithin(adminURL, name, 30*time.Second); err != nil {
		slog.Warn("a throw-away database was not dropped; drop it by hand", "database", name, "error", err,
			"sql", "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
}

// dropDatabaseWithin drops the database name, trying again until it succeeds or bound passes.
func dropDatabaseWithin(adminURL, name string, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	drop := func() error {
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		return err
	}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		err := drop()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}
