package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Lead is held by one process among several doing the same background work (the cabinet
// inbox's applier, the audit sealer): a session advisory lock on a connection of its own, which Postgres
// releases when the connection goes, so another process takes over after a crash.
type Lead struct {
	conn *pgxpool.Conn
	key  int64
}

// TryLead takes the lead of key if nobody holds it, and returns nil when someone does.
func (s *CabinetStore) TryLead(ctx context.Context, key int64) (*Lead, error) {
	return tryLead(ctx, s.pool, key)
}

// tryLead takes the lead of key on a connection of its own from pool, or returns nil when
// another session holds it.
func tryLead(ctx context.Context, pool *pgxpool.Pool, key int64) (*Lead, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, wrap("try lead", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		conn.Release()
		return nil, wrap("try lead", err)
	}
	if !got {
		conn.Release()
		return nil, nil
	}
	return &Lead{conn: conn, key: key}, nil
}

// LeadHeld reports whether some session holds the lead of key (pg_locks): how the fault
// suite sees an applier take over after its leader died.
func (s *CabinetStore) LeadHeld(ctx context.Context, key int64) (bool, error) {
	var held bool
	// A bigint advisory key shows as classid (high half), objid (low half) and objsubid 1.
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1)`, key).Scan(&held)
	return held, wrap("lead held", err)
}

// Check reports whether the lead is still held: its connection still answers.
func (l *Lead) Check(ctx context.Context) error {
	if err := l.conn.Ping(ctx); err != nil {
		return fmt.Errorf("db: lead lost: %w", err)
	}
	return nil
}

// Release gives the lead up.
func (l *Lead) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", l.key); err != nil {
		// The connection is broken: close it rather than return it to the pool, and the
		// lock with it.
		_ = l.conn.Conn().Close(ctx)
	}
	l.conn.Release()
}
