package db

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations holds the schema, one numbered file per version. sqlc reads the same files.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock that serializes migrations across processes.
// It spells "pyxismig" in ASCII.
const migrationLockKey int64 = 0x707978_69736d6967

// Migrate applies, in name order, every embedded migration not yet recorded in
// schema_migrations. Each file runs in its own transaction that first takes a transaction
// advisory lock, so processes migrating the same database at once apply each file exactly
// once; running Migrate again is a no-op.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	names, err := migrationNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := applyMigration(ctx, pool, name); err != nil {
			return err
		}
	}
	return nil
}

// migrationNames lists the embedded migration files in the order they must be applied.
func migrationNames() ([]string, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("db: read embedded migrations: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// applyMigration runs one migration file unless schema_migrations says it ran already.
func applyMigration(ctx context.Context, pool *pgxpool.Pool, name string) error {
	version := strings.TrimSuffix(name, ".sql")
	body, err := migrations.ReadFile("migrations/" + name)
	if err != nil {
		return fmt.Errorf("db: read migration %s: %w", name, err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    text PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var applied bool
		err := tx.QueryRow(ctx,
			"SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", version).Scan(&applied)
		if err != nil {
			return fmt.Errorf("check version: %w", err)
		}
		if applied {
			return errAlreadyApplied
		}
		// Without arguments pgx uses the simple protocol, which runs a multi-statement file.
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", version); err != nil {
			return fmt.Errorf("record version: %w", err)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errAlreadyApplied) {
		return fmt.Errorf("db: migration %s: %w", name, err)
	}
	return nil
}

// errAlreadyApplied rolls back the (read-only) transaction of a migration that already ran.
var errAlreadyApplied = errors.New("migration already applied")
