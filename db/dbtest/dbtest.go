// Package dbtest gives tests of any package a fresh, migrated Postgres database of their own.
//
// The server that hosts those databases is, in order: the one named by PYXIS_TEST_DATABASE_URL,
// the one named by DATABASE_URL, postgres://postgres@127.0.0.1:5432/postgres if it answers
// within two seconds, and otherwise a private cluster that pgcluster starts once per test
// binary. Packages whose tests may start that cluster call Main from TestMain to stop it.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/pgcluster"
)

// DefaultURL is the local server tried when no URL is configured.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// admin is the server shared by the tests of one test binary, found once.
var admin struct {
	once    sync.Once
	url     string
	cluster *pgcluster.Cluster
	tmpDir  string
	err     error
}

// NewPool returns a pool on a fresh database migrated with db.Migrate. The pool is closed and
// the database dropped when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dbURL := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("dbtest: open pool: %v", err)
	}
	// Registered after URL's cleanup, so it runs first: the pool closes before the drop.
	t.Cleanup(pool.Close)
	return pool
}

// URL creates a fresh database migrated with db.Migrate and returns its connection URL, for
// tests that hand it to a subprocess. The database is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	adminURL, err := adminServer()
	if err != nil {
		t.Fatalf("dbtest: no Postgres server: %v", err)
	}
	name := "pyxis_t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := execAdmin(ctx, adminURL, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("dbtest: create database %s: %v", name, err)
	}
	dropAtEnd(t, adminURL, name)
	dbURL, err := db.WithDatabase(adminURL, name)
	if err != nil {
		t.Fatalf("dbtest: the test database server must be given as a postgres:// URL: %v", err)
	}
	pool, err := db.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool); err != nil {
		t.Fatalf("dbtest: migrate %s: %v", name, err)
	}
	return dbURL
}

// DropBeside drops, when the test ends, the databases named after dbURL's (a URL from URL)
// with the given suffixes: what a system started on it creates beside it and keeps, as dev
// mode keeps its Temporal's (_temporal, _temporal_visibility). Call it before starting that
// system, so the drop runs after the system has stopped.
func DropBeside(t testing.TB, dbURL string, suffixes ...string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil || len(u.Path) < 2 {
		t.Fatalf("dbtest: no database in the URL")
	}
	adminURL, err := adminServer()
	if err != nil {
		t.Fatalf("dbtest: no Postgres server: %v", err)
	}
	names := make([]string, len(suffixes))
	for i, suffix := range suffixes {
		names[i] = u.Path[1:] + suffix
	}
	dropAtEnd(t, adminURL, names...)
}

// dropAtEnd drops the databases names when the test ends.
func dropAtEnd(t testing.TB, adminURL string, names ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, name := range names {
			if err := execAdmin(ctx, adminURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				t.Errorf("dbtest: drop database %s: %v", name, err)
			}
		}
	})
}

// Main runs the tests, stops the private cluster if one was started, and exits. Call it from
// TestMain: func TestMain(m *testing.M) { dbtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if err := stopCluster(); err != nil {
		fmt.Fprintln(os.Stderr, "dbtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// MainWith is Main for packages that share one database across all their tests (end-to-end
// suites whose server-side parts are slow to start): setup gets the URL of a fresh migrated
// database before the tests run and returns its teardown, which runs before the drop.
func MainWith(m *testing.M, setup func(dbURL string) (teardown func())) {
	os.Exit(func() int {
		defer func() {
			if err := stopCluster(); err != nil {
				fmt.Fprintln(os.Stderr, "dbtest:", err)
			}
		}()
		var tb sharedTB
		defer tb.cleanup()
		dbURL, err := tb.url()
		if err != nil {
			fmt.Fprintln(os.Stderr, "dbtest:", err)
			return 1
		}
		teardown := setup(dbURL)
		defer teardown()
		return m.Run()
	}())
}

// sharedTB lets URL serve a whole test binary: it collects cleanups and reports a failure
// instead of failing a test.
type sharedTB struct {
	testing.TB
	cleanups []func()
}

func (s *sharedTB) Helper()          {}
func (s *sharedTB) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }
func (s *sharedTB) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "dbtest: "+format+"\n", args...)
}
func (s *sharedTB) Fatalf(format string, args ...any) {
	panic(sharedFailure(fmt.Sprintf(format, args...)))
}

type sharedFailure string

// url runs URL, turning its Fatalf into an error.
func (s *sharedTB) url() (u string, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(sharedFailure)
			if !ok {
				panic(r)
			}
			err = errors.New(string(f))
		}
	}()
	return URL(s), nil
}

func (s *sharedTB) cleanup() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
}

// adminServer finds, once per test binary, the server on which test databases are created.
func adminServer() (string, error) {
	admin.once.Do(func() {
		for _, env := range []string{"PYXIS_TEST_DATABASE_URL", "DATABASE_URL"} {
			if u := os.Getenv(env); u != "" {
				admin.url = u
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := execAdmin(ctx, DefaultURL, "SELECT 1"); err == nil {
			admin.url = DefaultURL
			return
		}
		admin.url, admin.err = startCluster()
	})
	return admin.url, admin.err
}

// startCluster starts a private cluster under a new temporary directory.
func startCluster() (string, error) {
	dir, err := os.MkdirTemp("", "pyxis-dbtest-")
	if err != nil {
		return "", err
	}
	// The server may run as the postgres OS user, which must be able to reach its data.
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	admin.tmpDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, dir+"/data", 0)
	if errors.Is(err, pgcluster.ErrNoPostgres) {
		return "", fmt.Errorf("%w, or point the tests at a server with PYXIS_TEST_DATABASE_URL", err)
	}
	if err != nil {
		return "", err
	}
	admin.cluster = c
	return c.URL("postgres"), nil
}

// stopCluster stops the private cluster, if any, and removes its directory.
func stopCluster() error {
	if admin.tmpDir == "" {
		return nil
	}
	defer os.RemoveAll(admin.tmpDir)
	if admin.cluster == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return admin.cluster.Stop(ctx)
}

// execAdmin runs one statement on its own connection to the admin server.
func execAdmin(ctx context.Context, adminURL, sql string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
