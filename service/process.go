package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/gin-gonic/gin"
)

// Setup prepares this process to run command (api, worker, migrate, check, token, and the
// development tool's dev, loadtest, cabinet-sim). It reads the configuration from getenv and
// installs the process's logger: JSON for api, worker and migrate, text for the rest unless
// PYXIS_LOG_FORMAT says otherwise, every line marked when simulated cabinets are allowed
// (always in dev mode). For api, worker and dev it installs the tracer provider too; the
// returned function flushes it, and is to be called when the command returns.
func Setup(ctx context.Context, command string, getenv func(string) string) (Config, func(), error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return cfg, nil, fmt.Errorf("configuration: %w", err)
	}
	gin.SetMode(gin.ReleaseMode)
	slog.SetDefault(NewLogger(os.Stderr, cfg.Obs.FormatFor(command), cfg.Obs.LogLevel, cfg.AllowSimulatedCabinets || command == "dev"))
	if cfg.AllowSimulatedCabinets {
		WarnSimulatedCabinets()
	}
	for _, name := range cfg.Retired {
		slog.Warn("a setting is no longer read: remove it", "setting", name,
			"why", "a cabinet command is retried until the cabinet acknowledges it or the request's withdrawal window (PYXIS_WITHDRAWAL_TIMEOUT) closes")
	}
	if command != "dev" && command != "api" && command != "worker" {
		return cfg, func() {}, nil
	}
	stopTracing, err := SetupTracing(ctx, getenv, "pyxis-"+command)
	if err != nil {
		return cfg, nil, err
	}
	return cfg, func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			slog.Warn("traces not flushed", "error", err)
		}
	}, nil
}

// Run runs the api or the worker until ctx ends, as `pyxis api` and `pyxis worker` do (and
// the hidden commands of the same names of pyxis-dev, which the fault scenarios start).
func Run(ctx context.Context, command string, cfg Config) error {
	switch command {
	case "api":
		return RunAPI(ctx, cfg)
	case "worker":
		return RunWorker(ctx, cfg)
	}
	return fmt.Errorf("%q is neither api nor worker", command)
}
