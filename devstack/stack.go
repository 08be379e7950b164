package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/internal/metrics"
	"github.com/medreq/pyxis/service"
)

// Stack is the whole system running in this process, as `pyxis-dev` starts it and
// `pyxis-dev loadtest --dev` measures it: Temporal (and its Web UI), Postgres, migrations and demo
// data, the worker, the cabinet simulator, the MLLP listener and the API. Stop it, or Wait
// until the context it was started with ends.
type Stack struct {
	// APIURL is the API's base URL, http://host:port.
	APIURL string
	// UIURL is the Web UI's base URL; "" without one.
	UIURL string
	// CodecSessionURL is the link that lets the Web UI decode payloads; "" without one.
	CodecSessionURL string
	// TemporalAddr is the Temporal frontend's host:port.
	TemporalAddr string
	// TemporalStore is the in-process server's store (ResolveTemporalStore), which the
	// banner names.
	TemporalStore string
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
	// CabinetSimAdminToken is the bearer token of the simulator's admin endpoint, made at
	// start.
	CabinetSimAdminToken string
	Store                *db.Store
	Temporal             client.Client
	Demo                 Demo
	// Config is the configuration the stack runs with: the caller's, with what dev mode
	// filled in (database, Temporal address, secret, codec keys).
	Config service.Config

	cancel   context.CancelFunc
	g        *errgroup.Group
	cleanups []func()
	once     sync.Once
	err      error
}

// ErrStoppedBeforeReady is Start's answer when its context ended before the API
// was ready.
var ErrStoppedBeforeReady = errors.New("dev mode stopped before it was ready")

// Start starts the whole system and returns once the API answers /readyz. A failure
// of any part afterwards stops the rest; Wait reports it.
func Start(ctx context.Context, cfg service.Config, o Options) (_ *Stack, err error) {
	s := &Stack{}
	// Dev mode is where simulated cabinets belong.
	cfg.AllowSimulatedCabinets = true
	// A developer's HL7 cabinet speaks the machine's time unless PYXIS_HL7_TIMEZONE says
	// otherwise; production refuses to guess (service.HL7Config.RequireZone).
	if cfg.HL7.Location == nil {
		cfg.HL7.Location = time.Local
	}
	// The dev banner prints a console sign-in link per demo user.
	cfg.API.ConsoleTokenSignIn = true
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
	var why string
	if o.TemporalStore, why = ResolveTemporalStore(o); why != "" && cfg.TemporalAddress == "" {
		slog.Info("dev mode's Temporal runs on SQLite", "why", why)
	}
	s.TemporalStore = o.TemporalStore
	if len(cfg.Codec.Keys) == 0 && !cfg.Codec.Disabled {
		if cfg.Codec.Keys, err = codecKeys(o.Dir); err != nil {
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
	if err := checkPorts(o, cfg); err != nil {
		return nil, err
	}

	pg, err := findPostgres(ctx, cfg.DatabaseURL, o)
	if err != nil {
		return nil, err
	}
	s.cleanups = append(s.cleanups, pg.stop)
	if cfg.TemporalAddress == "" && o.TemporalStore == TemporalStorePostgres && pg.adminErr != nil {
		// Said before the database is migrated: Temporal's databases are named after it.
		return nil, fmt.Errorf("--temporal-store postgres: %w; or use --temporal-store sqlite", pg.adminErr)
	}
	cfg.DatabaseURL, s.DatabaseURL = pg.url, pg.url
	pool, err := service.OpenDatabase(ctx, pg.url)
	if err != nil {
		return nil, err
	}
	s.cleanups = append(s.cleanups, pool.Close)
	if err := db.Migrate(ctx, pool); err != nil {
		return nil, err
	}
	s.Store = db.NewStore(pool)
	// A data folder kept only for this run pairs with no database.
	if !o.TempDir {
		if err := checkInstance(ctx, s.Store, o.Dir, pg.url, devDatabases(pg.url, o)); err != nil {
			return nil, err
		}
	}
	if s.Demo, err = Seed(ctx, s.Store); err != nil {
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
	if s.Temporal, err = service.DialTemporal(ctx, cfg, s.Store); err != nil {
		return nil, err
	}
	s.cleanups = append(s.cleanups, s.Temporal.Close)

	if cfg.JWTSecret == "" {
		if cfg.JWTSecret, err = loadSecret(o); err != nil {
			return nil, err
		}
	}
	s.Secret = cfg.JWTSecret

	in := &intake.Intake{Store: s.Store, Temporal: s.Temporal, Metrics: cfg.Registry.Reports(), IDRetention: cfg.HL7.IDRetention}
	mllpSrv, err := service.ListenMLLP(cfg, in, s.Store)
	if err != nil {
		return nil, err
	}
	s.MLLPAddr = mllpSrv.Addr().String()
	cabSim, err := startCabinetSim(ctx, s.Store, o, displayAddr(s.MLLPAddr), cfg.SimWithdrawAfter)
	if err != nil {
		_ = mllpSrv.Close()
		return nil, err
	}
	s.cleanups = append(s.cleanups, func() { _ = cabSim.Close() })
	s.CabinetSimAddr, s.CabinetSimAdminURL, s.CabinetSimAdminToken = cabSim.Addr(), "http://"+cabSim.AdminAddr(), cabSim.AdminToken()
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
		return nil, ErrStoppedBeforeReady
	}
	return s, nil
}

// startTemporal starts the in-process Temporal server, and its Web UI unless o.NoUI, and
// points cfg at them.
func (s *Stack) startTemporal(cfg *service.Config, o Options, pg database, apiAddr string) error {
	tOpts := TemporalOptions{
		FrontendAddr: o.TemporalAddr, Namespace: cfg.TemporalNamespace,
		LogFile:    filepath.Join(o.Dir, "temporal.log"),
		ShardsFile: filepath.Join(o.Dir, "temporal-shards.json"),
	}
	if !o.Ephemeral {
		tOpts.PortsFile = filepath.Join(o.Dir, "temporal-ports.json")
	}
	switch {
	case o.TemporalStore == TemporalStorePostgres:
		// Databases of its own beside the system's, named after it: pyxis_dev_temporal and
		// pyxis_dev_temporal_visibility in dev mode; a throw-away system's go with it.
		name := databaseName(pg.url)
		p := &TemporalPostgres{AdminURL: pg.adminURL, Database: name + "_temporal", Visibility: name + "_temporal_visibility"}
		tOpts.Postgres = p
		if o.ThrowawayDB {
			// Registered before the server starts, so it runs after the server stops.
			s.cleanups = append(s.cleanups, func() {
				dropDatabase(p.AdminURL, p.Database)
				dropDatabase(p.AdminURL, p.Visibility)
			})
		}
	case !o.Ephemeral:
		tOpts.DBFile = filepath.Join(o.Dir, sqliteFile)
	}
	srv, err := StartTemporal(tOpts)
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
		codecEndpoint = uiCodecEndpoint(o.UIAddr, apiAddr)
	}
	ui, err := startWebUI(o.UIAddr, srv.hostPort, cfg.TemporalNamespace, codecEndpoint)
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

// databaseName is the name of the database of url; dev mode's when url names none.
func databaseName(dbURL string) string {
	if u, err := url.Parse(dbURL); err == nil && len(u.Path) > 1 {
		return u.Path[1:]
	}
	return "pyxis_dev"
}

// devDatabases are the databases of the dev stack on its Postgres server: the system's, and
// Temporal's beside it when it keeps its state there.
func devDatabases(dbURL string, o Options) []string {
	name := databaseName(dbURL)
	if o.TemporalStore == TemporalStorePostgres {
		return []string{name, name + "_temporal", name + "_temporal_visibility"}
	}
	return []string{name}
}

// Wait waits until the stack stops, because the context it was started with ended or a
// part of it failed, then releases everything it holds. It returns the failure, if any.
func (s *Stack) Wait() error {
	s.once.Do(func() {
		s.err = s.g.Wait()
		s.cancel()
		s.cleanup()
	})
	return s.err
}

// cleanup releases what the stack holds, last acquired first.
func (s *Stack) cleanup() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}

// Stop stops the stack and waits for it, as Wait does.
func (s *Stack) Stop() error {
	s.cancel()
	return s.Wait()
}
