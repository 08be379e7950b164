// Package db is the Postgres data layer: it opens the pool, migrates the schema embedded
// from migrations/, and exposes a Store with the catalogue, the stock ledger, the request
// projection, the audit log and idempotency keys. The SQL itself lives in queries/ and is
// compiled by sqlc into the gen package; this package adds transactions, validation and the
// mapping of PostgreSQL errors to the sentinel errors in errors.go.
package db

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/medreq/pyxis/db/gen"
)

// DefaultMaxConns is the pool size when the connection URL does not set pool_max_conns.
// pgxpool's own default, the number of CPUs (at least 4), starves a worker whose local
// activities and an API that serve bursts at once share the pool: measured with pyxis
// loadtest (README, Performance).
const DefaultMaxConns = 16

// Open parses a connection URL, creates a pool and checks that the server answers. The URL
// may set pgxpool's pool_* parameters (pool_max_conns=N, ...).
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db: parse database url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	cfg.ConnConfig.Tracer = newTracer()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: create pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: ping %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// Store is the data access layer used by activities and the API. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	q    *gen.Queries
	// observe, when set, is told of the transitions recorded (observe.go).
	observe TransitionObserver
}

// NewStore returns a Store over pool. The pool stays owned by the caller.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, q: gen.New(pool)}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.pool.Ping(ctx))
}

// inTx runs fn in one transaction, committing when fn returns nil and rolling back otherwise.
// fn's error is returned as it is, so callers choose how to wrap it.
func (s *Store) inTx(ctx context.Context, fn func(q *gen.Queries) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// Rollback after a successful Commit is a no-op.
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(s.q.WithTx(tx)); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
