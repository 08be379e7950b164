package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/medreq/pyxis/db"
)

// OpenDatabase opens the database of DATABASE_URL. A database it cannot reach is reported
// in one message that names the setting (its password masked), the addresses tried, and why
// they failed, each reason once: pgx tries an address twice by default (TLS, then without)
// and would repeat the same refusal.
func OpenDatabase(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	pool, err := db.Open(ctx, databaseURL)
	if err == nil {
		return pool, nil
	}
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		return nil, fmt.Errorf("DATABASE_URL=%s: %w", MaskURL(databaseURL), err)
	}
	return nil, fmt.Errorf("cannot reach the database of DATABASE_URL=%s: tried %s as user %q: %s",
		MaskURL(databaseURL), strings.Join(triedAddrs(ce.Config), ", "), ce.Config.User, connectReasons(ce))
}

// triedAddrs lists the addresses of a connection's configuration, its fallbacks included.
func triedAddrs(cfg *pgconn.Config) []string {
	var addrs []string
	for _, h := range append([]*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port}}, cfg.Fallbacks...) {
		a := net.JoinHostPort(h.Host, strconv.Itoa(int(h.Port)))
		if strings.HasPrefix(h.Host, "/") {
			a = h.Host + " (Unix socket)"
		}
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// connectReasons is what each attempt of a failed connection answered, each answer once.
func connectReasons(ce *pgconn.ConnectError) string {
	inner := errors.Unwrap(ce)
	if inner == nil {
		return ce.Error()
	}
	var reasons []string
	for line := range strings.SplitSeq(inner.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" && !slices.Contains(reasons, line) {
			reasons = append(reasons, line)
		}
	}
	return strings.Join(reasons, "; ")
}
