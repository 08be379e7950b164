package db

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/medreq/pyxis/db/gen"
)

// The data layer is one store per domain over one pool, each with the methods of its domain.
// A consumer does not hold a store: it declares the interface of the few methods it uses,
// where it uses it (activities.Store, intake.Store, check.Store, the api's and the request
// service's), and the wiring hands it the store. A step of a request writes into several
// domains in one transaction (its projection, its stock, the audit chain): the stores share
// this package's transaction helper and the queries that run inside it, so a step stays one
// transaction whichever store's method begins it.

// conn is what every store shares: the pool, the queries over it, and transactions.
type conn struct {
	pool *pgxpool.Pool
	q    *gen.Queries
}

// inTx runs fn in one transaction, committing when fn returns nil and rolling back otherwise.
// fn's error is returned as it is, so callers choose how to wrap it.
func (c conn) inTx(ctx context.Context, fn func(q *gen.Queries) error) error {
	return c.inTxBegun(ctx, "", func(tx pgx.Tx) error { return fn(c.q.WithTx(tx)) })
}

// inTxBegun is inTx over the transaction begin starts ("" for a plain BEGIN): BEGIN and the
// settings its statements need, sent as one message (pgx runs a query without arguments as a
// simple query, which may hold several statements), so the settings cost no round trip.
func (c conn) inTxBegun(ctx context.Context, begin string, fn func(tx pgx.Tx) error) error {
	tx, err := c.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// Rollback after a successful Commit is a no-op.
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// RequestStore keeps the medication requests: their steps (admission, transitions with the
// stock changes and audit entries that go with them, in one transaction), the projection
// that answers reads, idempotency keys, and the reads of the checker and the gauges.
type RequestStore struct {
	conn
	// observe, when set, is told of the transitions recorded (observe.go).
	observe TransitionObserver
}

// StockStore keeps the stock: pockets, the ledger of movements, reservations, refill tasks,
// discrepancies, override reviews of unmatched dispenses, and the controlled register.
type StockStore struct{ conn }

// CabinetStore keeps the cabinets (their drivers and trusted report sources) and the inbox of
// their HL7 reports, with the lead of the one process that applies it.
type CabinetStore struct{ conn }

// CatalogueStore keeps the medication catalogue and the users directory.
type CatalogueStore struct{ conn }

// AuditStore keeps the hash-chained audit trail and the access log of patient data.
type AuditStore struct {
	conn
	// access groups concurrent access-log inserts (access_batch.go).
	access *accessBatcher
}

// Store is the stores of every domain over one pool, safe for concurrent use. Only the wiring
// holds one (the api and worker processes, the dev stack, tests): each consumer gets it as
// the small interface it declares. Its methods are those of the stores it embeds.
type Store struct {
	*RequestStore
	*StockStore
	*CabinetStore
	*CatalogueStore
	*AuditStore
	*SessionStore
	pool *pgxpool.Pool
}

// NewStore returns the stores over pool. The pool stays owned by the caller.
func NewStore(pool *pgxpool.Pool) *Store {
	c := conn{pool: pool, q: gen.New(pool)}
	return &Store{
		RequestStore: &RequestStore{conn: c}, StockStore: &StockStore{c}, CabinetStore: &CabinetStore{c},
		CatalogueStore: &CatalogueStore{c}, AuditStore: &AuditStore{conn: c, access: newAccessBatcher()},
		SessionStore: &SessionStore{c}, pool: pool,
	}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.pool.Ping(ctx))
}
