package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/intake"
)

// devOptions are the flags of `pyxis dev`; each has an environment variable too.
type devOptions struct {
	Dir          string
	Ephemeral    bool
	HTTPAddr     string
	TemporalAddr string
	UIAddr       string
	// CabinetSimAddr and CabinetSimAdmin are where the simulated cabinet takes orders and
	// admin requests.
	CabinetSimAddr  string
	CabinetSimAdmin string
}

func parseDevFlags(args []string, getenv func(string) string, cfg config) (devOptions, error) {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	o := devOptions{}
	fs.StringVar(&o.Dir, "dir", envOr(getenv, "PYXIS_DEV_DIR", ".pyxis-dev"), "data folder for Temporal's SQLite file, a private Postgres and the dev secret (PYXIS_DEV_DIR)")
	fs.BoolVar(&o.Ephemeral, "ephemeral", false, "keep Temporal in memory and the database temporary: nothing survives exit")
	fs.StringVar(&o.HTTPAddr, "http-addr", cfg.HTTPAddr, "API address (PYXIS_HTTP_ADDR)")
	fs.StringVar(&o.TemporalAddr, "temporal-addr", envOr(getenv, "PYXIS_DEV_TEMPORAL_ADDR", "127.0.0.1:7233"), "in-process Temporal frontend address (PYXIS_DEV_TEMPORAL_ADDR)")
	fs.StringVar(&o.UIAddr, "ui-addr", envOr(getenv, "PYXIS_DEV_UI_ADDR", "127.0.0.1:8233"), "Temporal Web UI address (PYXIS_DEV_UI_ADDR)")
	fs.StringVar(&o.CabinetSimAddr, "cabinet-sim-addr", envOr(getenv, "PYXIS_DEV_CABINET_SIM_ADDR", "127.0.0.1:2576"), "simulated cabinet's MLLP address for orders (PYXIS_DEV_CABINET_SIM_ADDR)")
	fs.StringVar(&o.CabinetSimAdmin, "cabinet-sim-admin", envOr(getenv, "PYXIS_DEV_CABINET_SIM_ADMIN", "127.0.0.1:2577"), "simulated cabinet's admin HTTP address (PYXIS_DEV_CABINET_SIM_ADMIN)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return o, nil
}

// runDev runs the whole system in one process: Temporal and its Web UI (unless
// TEMPORAL_ADDRESS names a server), Postgres (found or started), migrations and demo data,
// the worker with the cabinet simulator, and the API. Ctrl-C stops all of it.
func runDev(ctx context.Context, cfg config, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parseDevFlags(args, getenv, cfg)
	if err != nil {
		return err
	}
	// Dev mode is where simulated cabinets belong, and its simulated nurse withdraws.
	cfg.AllowSimulatedCabinets = true
	if getenv("PYXIS_SIM_WITHDRAW_AFTER") == "" {
		cfg.SimWithdrawAfter = devSimWithdrawAfter
	}
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	if o.Ephemeral {
		tmp, err := os.MkdirTemp("", "pyxis-dev-")
		if err != nil {
			return err
		}
		// A private Postgres runs as the postgres OS user when we are root: it must reach it.
		if err := os.Chmod(tmp, 0o755); err != nil {
			return err
		}
		o.Dir = tmp
		cleanups = append(cleanups, func() { _ = os.RemoveAll(tmp) })
	} else if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("data folder %s: %w", o.Dir, err)
	}
	if o.Dir, err = filepath.Abs(o.Dir); err != nil {
		return err
	}
	if len(cfg.Codec.Keys) == 0 && !cfg.Codec.Disabled {
		if cfg.Codec.Keys, err = devCodecKeys(o.Dir); err != nil {
			return err
		}
	}

	// Bind the API first: a taken port should stop us before anything is started.
	apiLn, err := listen(o.HTTPAddr, "PYXIS_HTTP_ADDR or --http-addr")
	if err != nil {
		return err
	}
	defer apiLn.Close()

	pg, err := devPostgres(ctx, cfg.DatabaseURL, o)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, pg.stop)
	cfg.DatabaseURL = pg.url
	pool, err := db.Open(ctx, pg.url)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, pool.Close)
	if err := db.Migrate(ctx, pool); err != nil {
		return err
	}
	store := db.NewStore(pool)
	demo, err := seedDemo(ctx, store)
	if err != nil {
		return fmt.Errorf("demo data: %w", err)
	}

	uiURL, codecSessionURL := "", ""
	if cfg.TemporalAddress == "" {
		tOpts := devTemporalOptions{
			FrontendAddr: o.TemporalAddr, Namespace: cfg.TemporalNamespace,
			LogFile: filepath.Join(o.Dir, "temporal.log"),
		}
		if !o.Ephemeral {
			tOpts.DBFile = filepath.Join(o.Dir, "temporal.db")
			tOpts.PortsFile = filepath.Join(o.Dir, "temporal-ports.json")
		}
		srv, err := startDevTemporal(tOpts)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() {
			if err := srv.Stop(); err != nil {
				slog.Warn("temporal server stop", "error", err)
			}
		})
		cfg.TemporalAddress = srv.hostPort
		codecEndpoint := ""
		if !cfg.Codec.Disabled {
			codecEndpoint = devCodecEndpoint(o.UIAddr, apiLn.Addr().String())
		}
		ui, err := startDevUI(o.UIAddr, srv.hostPort, cfg.TemporalNamespace, codecEndpoint)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, ui.Stop)
		uiURL = ui.url
		cfg.API.CodecCORSOrigins = append(cfg.API.CodecCORSOrigins, browserOrigins(ui.url)...)
		if codecEndpoint != "" {
			// The dev UI has no sign-in: a pharmacist opens /codec/session once with their
			// token (the banner prints the link) and the UI's decode calls carry it.
			cfg.API.CodecSession = ui.url + "/namespaces/" + cfg.TemporalNamespace + "/workflows"
			codecSessionURL = codecEndpoint + "/session"
		}
	}
	tc, err := dialTemporal(ctx, cfg)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, tc.Close)

	if cfg.JWTSecret == "" {
		if cfg.JWTSecret, err = devSecret(o); err != nil {
			return err
		}
	}

	in := &intake.Intake{Store: store, Temporal: tc}
	mllpSrv, err := listenMLLP(cfg, in)
	if err != nil {
		return err
	}
	cabSim, err := startDevCabinetSim(ctx, store, o, displayAddr(mllpSrv.Addr().String()), cfg.SimWithdrawAfter)
	if err != nil {
		_ = mllpSrv.Close()
		return err
	}
	cleanups = append(cleanups, func() { _ = cabSim.Close() })

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return mllpSrv.Serve(gctx) })
	g.Go(func() error { return in.Run(gctx) })
	g.Go(func() error { return serveWorker(gctx, tc, store, cfg) })
	apiSrv, err := newAPIServer(store, tc, cfg)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, apiSrv.Close)
	g.Go(func() error { return serveHTTP(gctx, apiLn, apiSrv.Handler()) })
	g.Go(func() error {
		if err := waitReady(gctx, apiLn.Addr().String()); err != nil {
			return nil // shutting down before ready: nothing to announce
		}
		return printBanner(stdout, banner{
			api: "http://" + displayAddr(apiLn.Addr().String()), ui: uiURL, temporal: cfg.TemporalAddress,
			database: maskURL(pg.url), dir: o.Dir, ephemeral: o.Ephemeral, secret: cfg.JWTSecret, demo: demo,
			mllp: mllpSrv.Addr().String(), codecSession: codecSessionURL, cabinetSim: cabSim.Addr(), cabinetSimAdmin: "http://" + cabSim.AdminAddr(),
		})
	})
	err = g.Wait()
	slog.Info("dev mode stopped")
	return err
}

// devSecret returns the secret dev tokens are signed with: kept in the data folder, so tokens
// printed yesterday still work, and random per run in ephemeral mode.
func devSecret(o devOptions) (string, error) {
	path := filepath.Join(o.Dir, "jwt-secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	secret := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("save dev secret: %w", err)
	}
	return secret, nil
}

// waitReady polls the API's /readyz until it answers 200.
func waitReady(ctx context.Context, addr string) error {
	url := "http://" + displayAddr(addr) + "/readyz"
	for {
		if ok, _ := httpOK(ctx, url); ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// displayAddr turns a listen address such as [::]:8080 into one a browser can open.
func displayAddr(addr string) string {
	for _, any := range []string{"[::]:", "0.0.0.0:", ":"} {
		if rest, ok := strings.CutPrefix(addr, any); ok {
			return "localhost:" + rest
		}
	}
	return addr
}

var errNoPostgres = errors.New("no PostgreSQL found")

// devSimWithdrawAfter is when dev mode's simulated nurse withdraws an authorized order,
// unless PYXIS_SIM_WITHDRAW_AFTER says otherwise; outside dev mode nobody does by default.
const devSimWithdrawAfter = 3 * time.Second
