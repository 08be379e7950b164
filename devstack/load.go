package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/loadtest"
	"github.com/medreq/pyxis/service"
)

// StartForLoad starts the dev stack for a load test: every address free, no Web UI, a
// temporary data folder (Temporal persisted in it, as in dev mode, not in memory) and a
// throw-away database. release stops it and removes what it made.
func StartForLoad(ctx context.Context, cfg service.Config, lc loadtest.Config, temporalStore string) (*Stack, func(), error) {
	ports, err := FreePorts(1)
	if err != nil {
		return nil, nil, err
	}
	do := Options{
		HTTPAddr: "127.0.0.1:0", TemporalAddr: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		CabinetSimAddr: "127.0.0.1:0", CabinetSimAdmin: "127.0.0.1:0",
		TemporalStore: temporalStore, TempDir: true, ThrowawayDB: true, NoUI: true,
	}
	cfg.MLLPAddr = "127.0.0.1:0"
	cfg.TemporalAddress = ""
	// The simulator reports withdrawals after this; 0 would mean never.
	cfg.SimWithdrawAfter = max(lc.WithdrawAfter, time.Millisecond)
	if lc.WithdrawVia == loadtest.WithdrawByAPI {
		cfg.SimWithdrawAfter = 0
	}
	var drop func()
	if cfg.DatabaseURL != "" {
		// Never the database DATABASE_URL names: one of our own on its server.
		if cfg.DatabaseURL, drop, err = throwawayDatabase(ctx, cfg.DatabaseURL); err != nil {
			return nil, nil, err
		}
	}
	stack, err := Start(ctx, cfg, do)
	if err != nil {
		if drop != nil {
			drop()
		}
		if errors.Is(err, ErrStoppedBeforeReady) {
			err = ctx.Err()
		}
		return nil, nil, err
	}
	return stack, func() {
		if err := stack.Stop(); err != nil {
			slog.Warn("dev stack stop", "error", err)
		}
		if drop != nil {
			drop()
		}
	}, nil
}

// LoadEnv is what a load test of this stack needs to know beyond its URL: the secret its
// users' tokens are signed with, its Temporal server (for the baseline), and that it runs in
// this process and is thrown away after the run.
func (s *Stack) LoadEnv(temporalStore string) loadtest.Env {
	return loadtest.Env{
		Mode: "dev", TemporalStore: temporalStore, JWTSecret: []byte(s.Secret),
		TemporalAddress: s.TemporalAddr, Namespace: s.Config.TemporalNamespace, TemporalCompression: s.TemporalCompression,
		InProcess: true, Disposable: true,
	}
}

// throwawayDatabase creates a database of its own on the server of databaseURL and returns its
// URL, and how to drop it.
func throwawayDatabase(ctx context.Context, databaseURL string) (string, func(), error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "pyxis_loadtest_" + hex.EncodeToString(b[:])
	dbURL, err := db.WithDatabase(databaseURL, name)
	if err != nil {
		return "", nil, fmt.Errorf("DATABASE_URL: %w (a load test names its database after it)", err)
	}
	admin, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	return dbURL, func() { dropDatabase(databaseURL, name) }, nil
}
