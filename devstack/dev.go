package devstack

import (
	"cmp"
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
	"slices"
	"strings"
	"time"

	"github.com/medreq/pyxis/service"
)

// Options are the flags of `pyxis-dev`; each has an environment variable too.
type Options struct {
	Dir          string
	Ephemeral    bool
	HTTPAddr     string
	TemporalAddr string
	UIAddr       string
	// CabinetSimAddr and CabinetSimAdmin are where the simulated cabinet takes orders and
	// admin requests.
	CabinetSimAddr  string
	CabinetSimAdmin string
	// TemporalStore is where the in-process Temporal server keeps its state: "postgres"
	// (databases of their own on dev mode's Postgres server) or "sqlite" (a file in Dir).
	// Empty until Start resolves it: see ResolveTemporalStore.
	TemporalStore string

	// The rest are not flags: `pyxis-dev loadtest --dev` sets them. Ephemeral implies the first
	// two, and keeps Temporal in memory besides.

	// TempDir makes Dir a temporary folder, removed on exit.
	TempDir bool
	// ThrowawayDB runs on a database of its own, dropped on exit.
	ThrowawayDB bool
	// NoUI leaves the Temporal Web UI out.
	NoUI bool
}

// Temporal stores of dev mode's in-process server.
const (
	TemporalStoreSQLite   = "sqlite"
	TemporalStorePostgres = "postgres"
)

// ParseFlags reads the flags of `pyxis-dev` (dev mode); each takes its default from an
// environment variable, and the API address from cfg.
func ParseFlags(args []string, getenv func(string) string, cfg service.Config) (Options, error) {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	o := Options{}
	fs.StringVar(&o.Dir, "dir", cmp.Or(getenv("PYXIS_DEV_DIR"), ".pyxis-dev"), "data folder for Temporal's SQLite file, a private Postgres and the dev secret (PYXIS_DEV_DIR)")
	fs.BoolVar(&o.Ephemeral, "ephemeral", false, "keep Temporal in memory and the database temporary: nothing survives exit")
	fs.StringVar(&o.HTTPAddr, "http-addr", cfg.HTTPAddr, "API address (PYXIS_HTTP_ADDR)")
	fs.StringVar(&o.TemporalAddr, "temporal-addr", cmp.Or(getenv("PYXIS_DEV_TEMPORAL_ADDR"), "127.0.0.1:7233"), "in-process Temporal frontend address (PYXIS_DEV_TEMPORAL_ADDR)")
	fs.StringVar(&o.UIAddr, "ui-addr", cmp.Or(getenv("PYXIS_DEV_UI_ADDR"), "127.0.0.1:8233"), "Temporal Web UI address (PYXIS_DEV_UI_ADDR)")
	fs.StringVar(&o.CabinetSimAddr, "cabinet-sim-addr", cmp.Or(getenv("PYXIS_DEV_CABINET_SIM_ADDR"), "127.0.0.1:2576"), "simulated cabinet's MLLP address for orders (PYXIS_DEV_CABINET_SIM_ADDR)")
	fs.StringVar(&o.CabinetSimAdmin, "cabinet-sim-admin", cmp.Or(getenv("PYXIS_DEV_CABINET_SIM_ADMIN"), "127.0.0.1:2577"), "simulated cabinet's admin HTTP address (PYXIS_DEV_CABINET_SIM_ADMIN)")
	fs.StringVar(&o.TemporalStore, "temporal-store", getenv("PYXIS_DEV_TEMPORAL_STORE"), "where the in-process Temporal server keeps its state: postgres (databases on dev mode's PostgreSQL server; the default) or sqlite (in the data folder; the default for a data folder that already holds one, and for --ephemeral, in memory) (PYXIS_DEV_TEMPORAL_STORE)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if o.TemporalStore != "" {
		if err := CheckTemporalStore(o.TemporalStore); err != nil {
			return o, err
		}
	}
	if o.Ephemeral {
		o.TempDir, o.ThrowawayDB = true, true
	}
	return o, nil
}

// CheckTemporalStore refuses a store dev mode does not know.
func CheckTemporalStore(store string) error {
	if !slices.Contains(TemporalStores(), store) {
		return fmt.Errorf("--temporal-store (PYXIS_DEV_TEMPORAL_STORE) %q: want %s", store, strings.Join(TemporalStores(), " or "))
	}
	return nil
}

// TemporalStores are the stores of dev mode's Temporal server, the default first: Postgres,
// which measured about three times SQLite's bare workflows a second on 2 cores (README,
// Performance), and which dev mode always has, found or started.
func TemporalStores() []string { return []string{TemporalStorePostgres, TemporalStoreSQLite} }

// ResolveTemporalStore picks the store when neither --temporal-store nor
// PYXIS_DEV_TEMPORAL_STORE names one. A data folder that already holds Temporal's SQLite file
// keeps it: its workflows live there, and starting on an empty Postgres store would strand
// every request of the database. --ephemeral keeps Temporal in memory, since nothing is to
// survive the process. Everything else runs on Postgres. It says why it chose SQLite, so a
// user who expected Postgres knows how to move.
func ResolveTemporalStore(o Options) (store, why string) {
	if o.TemporalStore != "" {
		return o.TemporalStore, ""
	}
	if o.Ephemeral {
		return TemporalStoreSQLite, "--ephemeral keeps Temporal in memory"
	}
	if _, err := os.Stat(filepath.Join(o.Dir, sqliteFile)); err == nil {
		return TemporalStoreSQLite, "the data folder " + o.Dir + " already holds Temporal's SQLite state; " +
			"pass --temporal-store postgres with a new --dir to move"
	}
	return TemporalStorePostgres, ""
}

// Run runs the whole system in one process: Temporal and its Web UI (unless
// TEMPORAL_ADDRESS names a server), Postgres (found or started), migrations and demo data,
// the worker with the cabinet simulator, and the API. Ctrl-C stops all of it.
func Run(ctx context.Context, cfg service.Config, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := ParseFlags(args, getenv, cfg)
	if err != nil {
		return err
	}
	// Dev mode's simulated nurse withdraws; outside dev mode nobody does by default.
	if getenv("PYXIS_SIM_WITHDRAW_AFTER") == "" {
		cfg.SimWithdrawAfter = simWithdrawAfter
	}
	s, err := Start(ctx, cfg, o)
	if errors.Is(err, ErrStoppedBeforeReady) {
		slog.Info("dev mode stopped")
		return nil // shutting down before ready: nothing to announce
	}
	if err != nil {
		return err
	}
	if err := printBanner(stdout, banner{
		api: s.APIURL, ui: s.UIURL, temporal: s.TemporalAddr,
		database: service.MaskURL(s.DatabaseURL), dir: s.Dir, ephemeral: o.Ephemeral, secret: s.Secret, demo: s.Demo,
		secretFromEnv: cfg.JWTSecret != "",
		mllp:          s.MLLPAddr, codecSession: s.CodecSessionURL, cabinetSim: s.CabinetSimAddr, cabinetSimAdmin: s.CabinetSimAdminURL,
		cabinetSimToken: s.CabinetSimAdminToken,
	}); err != nil {
		_ = s.Stop()
		return err
	}
	err = s.Wait()
	slog.Info("dev mode stopped")
	return err
}

// loadSecret returns the secret dev tokens are signed with: kept in the data folder, so tokens
// printed yesterday still work, and random per run in ephemeral mode.
func loadSecret(o Options) (string, error) {
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
		if ok, _ := service.HTTPOK(ctx, url); ok {
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

// simWithdrawAfter is when dev mode's simulated nurse withdraws an authorized order,
// unless PYXIS_SIM_WITHDRAW_AFTER says otherwise; outside dev mode nobody does by default.
const simWithdrawAfter = 3 * time.Second
