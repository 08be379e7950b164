// Package db is the Postgres data layer: it opens the pool, migrates the schema embedded
// from migrations/, and keeps the data in one store per domain (stores.go): requests and
// their steps, stock with its ledger and reservations, cabinets with their inbox, the
// catalogue and users, the audit trail and access log. The SQL itself lives in queries/ and
// is compiled by sqlc into the gen package; this package adds transactions, validation and
// the mapping of PostgreSQL errors to the domain's errors (package pyxis) in errors.go.
package db

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
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

// WithDatabase is serverURL with its database replaced by name: the same server, role and
// parameters (a Unix socket's host among them), for whoever makes databases beside the one it
// was given (dev mode, the tests). Only the URL form has a place for another database's name,
// so the key=value form is refused. The error never echoes the URL: it may hold a password.
func WithDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("want a postgres:// URL")
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String(), nil
}
