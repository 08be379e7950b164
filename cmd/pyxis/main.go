// Command pyxis is the production binary of the medication request system. Its subcommands
// run the REST API and the Temporal worker, apply database migrations, check the system's
// invariants, print tokens and check a server's health. The tools for working on the system
// (dev mode, the load test and the fault scenarios, the cabinet simulator) are pyxis-dev's.
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

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/service"
)

const usage = `usage: pyxis <command> [flags]

commands:
  api      run the REST API (needs DATABASE_URL, TEMPORAL_ADDRESS, PYXIS_JWT_SECRET or
           PYXIS_JWKS_URL, and PYXIS_CODEC_KEYS or PYXIS_CODEC_DISABLED=true)
  worker   run the Temporal worker: workflows, activities, cabinet commands
  migrate  apply database migrations to DATABASE_URL
  token    print a bearer token: pyxis token --sub ID --name NAME --role ROLE [--cabinet CODE]
  check    verify the system's invariants (stock, ledger, projection vs workflows, audit, stuck requests)
  healthcheck URL  exit 0 if URL answers 200 (for container health checks; images have no curl)

Configuration is read from the environment; README lists every variable. The whole system
on one machine, the load test, the fault scenarios and the cabinet simulator are
pyxis-dev's (go run ./cmd/pyxis-dev help).
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
	cmd, rest := args[0], args[1:]
	env := service.NewEnv(getenv)
	cfg, done, err := service.Setup(ctx, cmd, env.Getenv)
	if err != nil {
		return err
	}
	defer done()

	switch cmd {
	case "api", "worker":
		// Everything they read at start has been read: the rest is nobody's.
		env.WarnUnread(os.Environ(), "pyxis "+cmd)
		return service.Run(ctx, cmd, cfg)
	case "migrate":
		return runMigrate(ctx, cfg)
	case "token":
		return runToken(cfg, rest, stdout)
	case "check":
		return runCheck(ctx, cfg, rest, stdout)
	case "healthcheck":
		if len(rest) != 1 {
			return errors.New("usage: pyxis healthcheck URL")
		}
		if ok, err := service.HTTPOK(ctx, rest[0]); !ok {
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

func runMigrate(ctx context.Context, cfg service.Config) error {
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set")
	}
	pool, err := service.OpenDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool); err != nil {
		return err
	}
	slog.Info("migrations applied", "database", service.MaskURL(cfg.DatabaseURL))
	return nil
}

func runToken(cfg service.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	sub := fs.String("sub", "", "user id (the token's subject)")
	name := fs.String("name", "", "display name")
	role := fs.String("role", "", "nurse, pharmacist, technician, admin or cabinet")
	cabinet := fs.String("cabinet", "", "the code of the cabinet a token of role cabinet speaks for (required for that role only)")
	ttl := fs.Duration("ttl", 12*time.Hour, "how long the token is valid (at most 24h)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *role == pyxis.RoleCabinet && *cabinet == "":
		return errors.New("a cabinet token must name its cabinet: --cabinet CODE")
	case *role != pyxis.RoleCabinet && *cabinet != "":
		return fmt.Errorf("--cabinet is for tokens of role cabinet, not %q", *role)
	}
	switch {
	case *ttl <= 0 || *ttl > api.MaxTokenTTL:
		return fmt.Errorf("--ttl %s: a token lives at most %s", *ttl, api.MaxTokenTTL)
	case cfg.API.Auth == api.AuthJWKS:
		return errors.New("PYXIS_AUTH=jwks: tokens come from the identity provider, and the API refuses HS256 tokens")
	case cfg.JWTSecret == "":
		return errors.New("PYXIS_JWT_SECRET is not set; tokens are signed with it " +
			"(dev mode's is kept in its data folder: PYXIS_JWT_SECRET=$(cat .pyxis-dev/jwt-secret) pyxis token ...)")
	}
	// A token signed with a secret the API refuses would be refused too.
	if err := service.CheckJWTSecret(cfg.JWTSecret); err != nil {
		return err
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
