package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/pgcluster"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/internal/metrics"
	"github.com/medreq/pyxis/service"
)

// devStack is the whole system running in this process, as `pyxis dev` starts it and
// `pyxis loadtest --dev` measures it: Temporal (and its Web UI), Postgres, migrations and demo
// data, the worker, the cabinet simulator, the MLLP listener and the API. Stop it, or Wait
// until the context it was started with ends.
type devStack struct {
	// APIURL is the API's base URL, http://host:port.
	APIURL string
	// UIURL is the Web UI's base URL; "" without one.
	UIURL string
	// CodecSessionURL is the link that lets the Web UI decode payloads; "" without one.
	CodecSessionURL string
	// TemporalAddr is the Temporal frontend's host:port.
	TemporalAddr string
	// TemporalCompression is the compression the stack's clients use towards it.
	TemporalCompression client.GrpcCompression
	// DatabaseURL is the system's Postgres database.
	DatabaseURL string
	// Dir is the data folder (absolute).
	Dir string
	// Secret signs and verifies the HS256 tokens.
	Secret string
	// MLLPAddr is where cabinet reports arrive.
	MLLPAddr string
	// CabinetSimAddr and CabinetSimAdminURL are the simulated cabinet's order and admin
	// addresses.
	CabinetSimAddr     string
	CabinetSimAdminURL string
	Store              *db.Store
	Temporal           client.Client
	Demo               demoData
	// Config is the configuration the stack runs with: the caller's, with what dev mode
	// filled in (database, Temporal address, secret, codec keys).
	Config service.Config

	cancel   context.CancelFunc
	g        *errgroup.Group
	cleanups []func()
	once     sync.Once
	err      error
}

// errStoppedBeforeReady is startDevStack's answer when its context ended before the API
// was ready.
var errStoppedBeforeReady = errors.New("dev mode stopped before it was ready")

// startDevStack starts the whole system and returns once the API answers /readyz. A failure
// of any part afterwards stops the rest; Wait reports it.
func startDevStack(ctx context.Context, cfg service.Config, o devOptions) (_ *devStack, err error) {
	s := &devStack{}
	// Dev mode is where simulated cabinets belong.
	cfg.AllowSimulatedCabinets = true
	// One metrics registry for all of it, served at the api's /metrics.
	if cfg.Registry == nil {
		cfg.Registry = metrics.New()
	}
	defer func() {
		if err != nil {
			s.cleanup()
		}
	}()
	if o.TempDir {
		tmp, err := os.MkdirTemp("", "pyxis-dev-")
		if err != nil {
			return nil, err
		}
		s.cleanups = append(s.cleanups, func() { _ = os.RemoveAll(tmp) })
		// A private Postgres runs as the postgres OS user when we are root: it must reach it.
		if err := os.Chmod(tmp, 0o755); err != nil {
			return nil, err
		}
		o.Dir = tmp
	} else if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", o.Dir, err)
	}
	if o.Dir, err = filepath.Abs(o.Dir); err != nil {
		return nil, err
	}
	s.Dir = o.Dir
	if len(cfg.Codec.Keys) == 0 && !cfg.Codec.Disabled {
		if cfg.Codec.Keys, err = devCodecKeys(o.Dir); err != nil {
			return nil, err
		}
	}

	// Bind the API first: a taken port should stop us before anything is started.
	apiLn, err := service.Listen(o.HTTPAddr, "PYXIS_HTTP_ADDR or --http-addr")
	if err != nil {
		return nil, err
	}
	s.cleanups = append(s.cleanups, func() { _ = apiLn.Close() })
	s.APIURL = "http://" + displayAddr(apiLn.Addr().String())

	pg, err := devPostgres(ctx, cfg.DatabaseURL, o)
	if err != nil {
		return nil, err
	}
	s.cleanups = append(s.cleanups, pg.stop)
	cfg.DatabaseURL, s.DatabaseURL = pg.url, pg.url
	pool, err := db.Open(ctx, pg.url)
	if err != nil {
		return nil, err
	}
	s.cleanups = append(s.cleanups, pool.Close)
	if err := db.Migrate(ctx, pool); err != nil {
		return nil, err
	}
	s.Store = db.NewStore(pool)
	if s.Demo, err = seedDemo(ctx, s.Store); err != nil {
		return nil, fmt.Errorf("demo data: %w", err)
	}

	if cfg.TemporalAddress == "" {
		if err := s.startTemporal(&cfg, o, pg, apiLn.Addr().String()); err != nil {
			return nil, err
		}
		if cfg.TemporalCompression == "" {
			// The in-process server is on loopback: compressing every call only costs CPU.
			cfg.TemporalCompression = "none"
		}
	}
	s.TemporalAddr, s.TemporalCompression = cfg.TemporalAddress, cfg.GRPCCompression()
	if s.Temporal, err = service.DialTemporal(ctx, cfg); err != nil {
		return nil, err
	}
	s.cleanups = append(s.cleanups, s.Temporal.Close)

	if cfg.JWTSecret == "" {
		if cfg.JWTSecret, err = devSecret(o); err != nil {
			return nil, err
		}
	}
	s.Secret = cfg.JWTSecret

	in := &intake.Intake{Store: s.Store, Temporal: s.Temporal, Metrics: cfg.Registry.Reports()}
	mllpSrv, err := service.ListenMLLP(cfg, in)
	if err != nil {
		return nil, err
	}
	s.MLLPAddr = mllpSrv.Addr().String()
	cabSim, err := startDevCabinetSim(ctx, s.Store, o, displayAddr(s.MLLPAddr), cfg.SimWithdrawAfter)
	if err != nil {
		_ = mllpSrv.Close()
		return nil, err
	}
	s.cleanups = append(s.cleanups, func() { _ = cabSim.Close() })
	s.CabinetSimAddr, s.CabinetSimAdminURL = cabSim.Addr(), "http://"+cabSim.AdminAddr()
	apiSrv, err := service.NewAPIServer(s.Store, s.Temporal, cfg)
	if err != nil {
		_ = mllpSrv.Close()
		return nil, err
	}
	s.cleanups = append(s.cleanups, apiSrv.Close)
	s.Config = cfg

	runCtx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(runCtx)
	s.cancel, s.g = cancel, g
	g.Go(func() error { return mllpSrv.Serve(gctx) })
	g.Go(func() error { return in.Run(gctx) })
	g.Go(func() error { return service.ServeWorker(gctx, s.Temporal, s.Store, cfg) })
	g.Go(func() error { return service.ServeHTTP(gctx, apiLn, apiSrv.Handler()) })
	if err := waitReady(gctx, apiLn.Addr().String()); err != nil {
		cancel()
		if err := g.Wait(); err != nil {
			return nil, err
		}
		return nil, errStoppedBeforeReady
	}
	return s, nil
}

// startTemporal starts the in-process Temporal server, and its Web UI unless o.NoUI, and
// points cfg at them.
func (s *devStack) startTemporal(cfg *service.Config, o devOptions, pg devDB, apiAddr string) error {
	tOpts := devTemporalOptions{
		FrontendAddr: o.TemporalAddr, Namespace: cfg.TemporalNamespace,
		LogFile:    filepath.Join(o.Dir, "temporal.log"),
		ShardsFile: filepath.Join(o.Dir, "temporal-shards.json"),
	}
	if !o.Ephemeral {
		tOpts.PortsFile = filepath.Join(o.Dir, "temporal-ports.json")
	}
	switch {
	case o.TemporalStore == temporalStorePostgres:
		// Databases of its own beside the system's, named after it: pyxis_dev_temporal and
		// pyxis_dev_temporal_visibility in dev mode; a throw-away system's go with it.
		name := "pyxis_dev"
		if u, err := url.Parse(pg.url); err == nil && len(u.Path) > 1 {
			name = u.Path[1:]
		}
		p := &devTemporalPostgres{AdminURL: pg.adminURL, Database: name + "_temporal", Visibility: name + "_temporal_visibility"}
		tOpts.Postgres = p
		if o.ThrowawayDB {
			// Registered before the server starts, so it runs after the server stops.
			s.cleanups = append(s.cleanups, func() {
				dropDatabase(p.AdminURL, p.Database)
				dropDatabase(p.AdminURL, p.Visibility)
			})
		}
	case !o.Ephemeral:
		tOpts.DBFile = filepath.Join(o.Dir, "temporal.db")
	}
	srv, err := startDevTemporal(tOpts)
	if err != nil {
		return err
	}
	s.cleanups = append(s.cleanups, func() {
		if err := srv.Stop(); err != nil {
			slog.Warn("temporal server stop", "error", err)
		}
	})
	cfg.TemporalAddress = srv.hostPort
	if o.NoUI {
		return nil
	}
	codecEndpoint := ""
	if !cfg.Codec.Disabled {
		codecEndpoint = devCodecEndpoint(o.UIAddr, apiAddr)
	}
	ui, err := startDevUI(o.UIAddr, srv.hostPort, cfg.TemporalNamespace, codecEndpoint)
	if err != nil {
		return err
	}
	s.cleanups = append(s.cleanups, ui.Stop)
	s.UIURL = ui.url
	cfg.API.CodecCORSOrigins = append(cfg.API.CodecCORSOrigins, browserOrigins(ui.url)...)
	if codecEndpoint != "" {
		// The dev UI has no sign-in: a pharmacist opens /codec/session once with their
		// token (the banner prints the link) and the UI's decode calls carry it.
		cfg.API.CodecSession = ui.url + "/namespaces/" + cfg.TemporalNamespace + "/workflows"
		s.CodecSessionURL = codecEndpoint + "/session"
	}
	return nil
}

// Wait waits until the stack stops, because the context it was started with ended or a
// part of it failed, then releases everything it holds. It returns the failure, if any.
func (s *devStack) Wait() error {
	s.once.Do(func() {
		s.err = s.g.Wait()
		s.cancel()
		s.cleanup()
	})
	return s.err
}

// Stop stops the stack and waits for it, as Wait does.
func (s *devStack) Stop() error {
	s.cancel()
	return s.Wait()
}

// cleanup releases what the stack holds, last acquired first.
func (s *devStack) cleanup() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}

// localPostgres is the server dev mode uses when DATABASE_URL is not set and one answers.
const localPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// devDB is the database dev mode runs on, and how to let go of it.
type devDB struct {
	url string
	// adminURL reaches the server's postgres database, to create more databases there.
	adminURL string
	stop     func()
}

// devPostgres finds a database: DATABASE_URL as given; else a "pyxis_dev" database on the
// server at 127.0.0.1:5432; else a private cluster made with initdb in the data folder, on a
// free port, stopped on exit. Ephemeral runs (and load tests) get a database of their own,
// dropped on exit.
func devPostgres(ctx context.Context, databaseURL string, o devOptions) (devDB, error) {
	if databaseURL != "" {
		u, err := url.Parse(databaseURL)
		if err != nil {
			return devDB{}, fmt.Errorf("DATABASE_URL: %w", err)
		}
		u.Path = "/postgres"
		return devDB{url: databaseURL, adminURL: u.String(), stop: func() {}}, nil
	}
	name := "pyxis_dev"
	if o.ThrowawayDB {
		var b [4]byte
		_, _ = rand.Read(b[:])
		name = "pyxis_dev_" + hex.EncodeToString(b[:])
	}
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	conn, err := pgx.Connect(pingCtx, localPostgres)
	cancel()
	if err == nil {
		defer conn.Close(ctx)
		url, err := ensureDatabase(ctx, conn, localPostgres, name)
		if err != nil {
			return devDB{}, err
		}
		stop := func() {}
		if o.ThrowawayDB {
			stop = func() { dropDatabase(localPostgres, name) }
		}
		slog.Info("using the PostgreSQL server at 127.0.0.1:5432", "database", name)
		return devDB{url: url, adminURL: localPostgres, stop: stop}, nil
	}

	slog.Info("no PostgreSQL at 127.0.0.1:5432; starting a private one with initdb", "dir", filepath.Join(o.Dir, "postgres"))
	cl, err := pgcluster.Start(ctx, filepath.Join(o.Dir, "postgres"), 0)
	if err != nil {
		return devDB{}, fmt.Errorf("%w and none could be started (install the PostgreSQL server binaries or set DATABASE_URL): %w", errNoPostgres, err)
	}
	stop := func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.Stop(stopCtx); err != nil {
			slog.Warn("postgres stop", "error", err)
		}
	}
	admin, err := pgx.Connect(ctx, cl.URL("postgres"))
	if err != nil {
		stop()
		return devDB{}, fmt.Errorf("connect to the private PostgreSQL: %w", err)
	}
	defer admin.Close(ctx)
	url, err := ensureDatabase(ctx, admin, cl.URL("postgres"), name)
	if err != nil {
		stop()
		return devDB{}, err
	}
	return devDB{url: url, adminURL: cl.URL("postgres"), stop: stop}, nil
}

// ensureDatabase creates the database if it is missing and returns its URL.
func ensureDatabase(ctx context.Context, admin *pgx.Conn, adminURL, name string) (string, error) {
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look for database %s: %w", name, err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
	}
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), name), nil
}

func dropDatabase(adminURL, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		slog.Warn("drop ephemeral database", "database", name, "error", err)
	}
}

// devUI is the Temporal Web UI, served from this process with the assets embedded in the
// ui-server module.
type devUI struct {
	server *uiserver.Server
	url    string
}

type staticUIConfig struct{ cfg *uiconfig.Config }

func (s staticUIConfig) GetConfig() (*uiconfig.Config, error) { return s.cfg, nil }

// startDevUI serves the Web UI on addr. A non-empty codecEndpoint is the codec server the UI
// decodes payloads with (the API's /codec).
func startDevUI(addr, temporalAddr, namespace, codecEndpoint string) (*devUI, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("PYXIS_DEV_UI_ADDR=%q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("PYXIS_DEV_UI_ADDR=%q: bad port", addr)
	}
	// ui-server exits the process when it cannot bind, so check the port ourselves first.
	ln, err := service.Listen(addr, "PYXIS_DEV_UI_ADDR or --ui-addr")
	if err != nil {
		return nil, err
	}
	_ = ln.Close()
	srv := uiserver.NewServer(server_options.WithConfigProvider(staticUIConfig{&uiconfig.Config{
		TemporalGRPCAddress: temporalAddr,
		Host:                host,
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		HideLogs:            true,
		DisableNewsFetch:    true,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		// Dev mode serves plain HTTP, and the UI passes its access token only to an https
		// codec endpoint; it has no sign-in here anyway (README, Security).
		// The UI sends the codec-session cookie (api Config.CodecSession) with its calls.
		Codec: uiconfig.Codec{Endpoint: codecEndpoint, PassAccessToken: false, IncludeCredentials: codecEndpoint != ""},
	}}))
	go func() {
		if err := srv.Start(); err != nil {
			slog.Error("temporal web ui", "error", err)
		}
	}()
	ui := &devUI{server: srv, url: "http://" + displayAddr(addr)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if ok, _ := service.HTTPOK(ctx, ui.url+"/healthz"); ok {
			return ui, nil
		}
		select {
		case <-ctx.Done():
			srv.Stop()
			return nil, fmt.Errorf("temporal web ui did not start on %s", addr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops the UI server.
func (u *devUI) Stop() { u.server.Stop() }
