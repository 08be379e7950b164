// Command pyxis is the one binary of the medication request system. Its subcommands run the
// REST API, the Temporal worker, the whole system for local development, database
// migrations, a load test, and print tokens.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/db"
)

const usage = `usage: pyxis <command> [flags]

commands:
  dev      run the whole system locally: Temporal + Web UI, Postgres, worker, simulator, API
  api      run the REST API (needs DATABASE_URL, TEMPORAL_ADDRESS, PYXIS_JWT_SECRET or
           PYXIS_JWKS_URL, and PYXIS_CODEC_KEYS or PYXIS_CODEC_DISABLED=true)
  worker   run the Temporal worker: workflows, activities, cabinet commands
  migrate  apply database migrations to DATABASE_URL
  token    print a bearer token: pyxis token --sub ID --name NAME --role ROLE [--cabinet CODE]
  cabinet-sim  a simulated Pyxis cabinet speaking HL7 v2 over MLLP (see --help)
  check    verify the system's invariants (stock, ledger, projection vs workflows, audit, stuck requests)
  loadtest the morning medication pass as load: against --api URL, or --dev (the whole system
           in this process); a report as text, --json and --html (see --help); --fault NAME
           runs a fault scenario (worker-kill, postgres-restart, temporal-restart,
           cabinet-offline-long, cabinet-offline-short, api-kill, mllp-kill, partition;
           no-fault is the reference)
  healthcheck URL  exit 0 if URL answers 200 (for container health checks; images have no curl)

Configuration is read from the environment; README lists every variable.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return // a subcommand's -h printed its flags: asked for, not an error
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pyxis:", err)
		os.Exit(1)
	}
}

// run dispatches a subcommand. It returns when the command is done or ctx is cancelled.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return errors.New("no command given")
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	gin.SetMode(gin.ReleaseMode)
	cmd, rest := args[0], args[1:]
	slog.SetDefault(newLogger(os.Stderr, cfg.Obs.logFormat(cmd), cfg.Obs.LogLevel, cfg.AllowSimulatedCabinets || cmd == "dev"))
	if cfg.AllowSimulatedCabinets {
		warnSimulatedCabinets()
	}
	if cmd == "dev" || cmd == "api" || cmd == "worker" {
		stopTracing, err := setupTracing(ctx, getenv, "pyxis-"+cmd)
		if err != nil {
			return err
		}
		defer func() {
			flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := stopTracing(flushCtx); err != nil {
				slog.Warn("traces not flushed", "error", err)
			}
		}()
	}

	switch cmd {
	case "dev":
		return runDev(ctx, cfg, rest, getenv, stdout)
	case "api":
		return runAPI(ctx, cfg)
	case "worker":
		return runWorker(ctx, cfg)
	case "migrate":
		return runMigrate(ctx, cfg)
	case "token":
		return runToken(cfg, rest, stdout)
	case "cabinet-sim":
		return runCabinetSim(ctx, rest)
	case "check":
		return runCheck(ctx, cfg, rest, stdout)
	case "loadtest":
		return runLoadtest(ctx, cfg, rest, getenv, stdout)
	case "healthcheck":
		if len(rest) != 1 {
			return errors.New("usage: pyxis healthcheck URL")
		}
		if ok, err := httpOK(ctx, rest[0]); !ok {
			return fmt.Errorf("%s is not healthy: %v", rest[0], err)
		}
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stdout, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func runMigrate(ctx context.Context, cfg config) error {
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set")
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool); err != nil {
		return err
	}
	slog.Info("migrations applied", "database", maskURL(cfg.DatabaseURL))
	return nil
}

func runToken(cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	sub := fs.String("sub", "", "user id (the token's subject)")
	name := fs.String("name", "", "display name")
	role := fs.String("role", "", "nurse, pharmacist, technician, admin or cabinet")
	cabinet := fs.String("cabinet", "", "the code of the cabinet a token of role cabinet speaks for (required for that role only)")
	ttl := fs.Duration("ttl", 12*time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *role == pyxis.RoleCabinet && *cabinet == "":
		return errors.New("a cabinet token must name its cabinet: --cabinet CODE")
	case *role != pyxis.RoleCabinet && *cabinet != "":
		return fmt.Errorf("--cabinet is for tokens of role cabinet, not %q", *role)
	}
	if cfg.JWTSecret == "" {
		return errors.New("PYXIS_JWT_SECRET is not set; tokens are signed with it")
	}
	var tok string
	var err error
	if *role == pyxis.RoleCabinet {
		tok, err = api.IssueCabinetToken([]byte(cfg.JWTSecret), *sub, *name, *cabinet, *ttl, time.Now())
	} else {
		tok, err = api.IssueToken([]byte(cfg.JWTSecret), *sub, *name, *role, *ttl, time.Now())
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
