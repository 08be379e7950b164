package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"golang.org/x/sync/errgroup"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/internal/metrics"
	"github.com/medreq/pyxis/worker"
)

// connect checks what the api and worker cannot default, then opens Postgres, checks that
// the cabinets it lists can be spoken to (RequireZone), and opens Temporal; close releases
// both.
func connect(ctx context.Context, cfg Config, name string, needAuth bool) (store *db.Store, tc client.Client, closeFn func(), err error) {
	if err := cfg.requireServices(needAuth); err != nil {
		return nil, nil, nil, err
	}
	slog.Info("starting "+name, "config", cfg.String())
	pool, err := OpenDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, nil, err
	}
	store = db.NewStore(pool)
	if err := cfg.HL7.RequireZone(ctx, store); err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	if tc, err = DialTemporal(ctx, cfg, store); err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	return store, tc, func() { tc.Close(); pool.Close() }, nil
}

// RunAPI runs `pyxis api`: the REST API, the MLLP listener for cabinet reports, the applier
// of the inbox and the audit sealer, until ctx ends; then it stops them in order (serveAPI),
// the sealer last.
func RunAPI(ctx context.Context, cfg Config) error {
	if cfg.Metrics.API {
		cfg.Registry = metrics.New()
	}
	store, tc, closeServices, err := connect(ctx, cfg, "api", true)
	if err != nil {
		return err
	}
	defer closeServices()
	defer StartSealer(ctx, store)()
	ln, err := Listen(cfg.HTTPAddr, "PYXIS_HTTP_ADDR")
	if err != nil {
		return err
	}
	in := &intake.Intake{Store: store, Temporal: tc, Metrics: cfg.Registry.Reports(), IDRetention: cfg.HL7.IDRetention, RawRetention: cfg.InboxRawRetention}
	mllpSrv, err := ListenMLLP(cfg, in, store)
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv, err := NewAPIServer(store, tc, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	// Stops in order (shutdown.go); the deferred calls then close the Temporal client and
	// the pool.
	return serveAPI(ctx, cfg.Obs, ln, srv, mllpSrv, in)
}

// NewAPIServer builds the API; Close it when done.
func NewAPIServer(store *db.Store, tc client.Client, cfg Config) (*api.Server, error) {
	apiCfg := cfg.API
	apiCfg.JWTSecret = []byte(cfg.JWTSecret)
	apiCfg.AllowSimulatedCabinets = cfg.AllowSimulatedCabinets
	apiCfg.HL7ZoneUnset = cfg.HL7.Location == nil
	if cfg.Metrics.API {
		apiCfg.Metrics, apiCfg.AuditVerifyInterval = cfg.Registry, cfg.Metrics.AuditVerifyInterval
	}
	cd, err := cfg.payloadCodec()
	if err != nil {
		return nil, err
	}
	if cd != nil {
		apiCfg.Codec = cd
	}
	return api.NewServer(store, tc, apiCfg), nil
}

// RunWorker runs the worker, and its metrics and health server on PYXIS_METRICS_ADDR (bound
// first, so /healthz answers while the worker connects).
func RunWorker(ctx context.Context, cfg Config) error {
	var ln net.Listener
	if cfg.Metrics.WorkerAddr != "" {
		cfg.Registry = metrics.New()
		var err error
		if ln, err = Listen(cfg.Metrics.WorkerAddr, "PYXIS_METRICS_ADDR"); err != nil {
			return err
		}
	}
	health := &WorkerHealth{}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveWorkerMetrics(gctx, ln, health.Handler(cfg.Registry)) })
	g.Go(func() error {
		store, tc, closeServices, err := connect(gctx, cfg, "worker", false)
		if err != nil {
			return err
		}
		defer closeServices()
		health.Connected(store, tc)
		return serveWorkerWith(gctx, tc, store, cfg, health.Started)
	})
	return g.Wait()
}

// ServeWorker prepares the namespace and runs the worker until ctx is done. Cabinets are
// commanded by their row's driver: HL7 over MLLP, or the in-process simulator where
// simulated cabinets are allowed (cfg.AllowSimulatedCabinets); elsewhere a command to a
// simulated cabinet fails the request (activities.ErrCabinetNotConfigured).
func ServeWorker(ctx context.Context, tc client.Client, store *db.Store, cfg Config) error {
	return serveWorkerWith(ctx, tc, store, cfg, func() {})
}

// serveWorkerWith is ServeWorker, calling started once the worker polls.
func serveWorkerWith(ctx context.Context, tc client.Client, store *db.Store, cfg Config, started func()) error {
	saCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := worker.EnsureSearchAttributes(saCtx, tc, cfg.TemporalNamespace); err != nil {
		return err
	}
	var sim *cabinet.Simulator
	if cfg.AllowSimulatedCabinets {
		sim = cabinet.NewSimulator(cfg.SimWithdrawAfter, withdrawalReporter(&intake.Intake{Store: store, Temporal: tc}), slog.Default())
		defer sim.Close()
	}
	cabinets, closeDrivers := NewCabinetDrivers(sim, cfg)
	defer closeDrivers()
	w := worker.New(tc, WorkerActivities(store, cabinets, cfg.AllowSimulatedCabinets, cfg.Registry), cfg.Worker)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	// Stopped after the worker, so that it seals what the activities finishing write.
	defer StartSealer(ctx, store)()
	started()
	slog.Info("worker started", "task_queue", worker.TaskQueue)
	<-ctx.Done()
	// Stop stops polling, then waits up to the stop timeout for running activities.
	start := time.Now()
	slog.Info("worker stopping: no more tasks polled; running activities finish", "timeout", cfg.Worker.StopTimeout)
	w.Stop()
	slog.Info("worker stopped", "after", time.Since(start).Round(time.Millisecond))
	return nil
}

// StartSealer runs the audit sealer (db.AuditStore.RunSealer) beside the api or the worker:
// every process runs one, and one of them, the leader of an advisory lock, chains the audit
// entries within a second. It keeps running after ctx ends, so that it seals what a
// process's graceful stop still writes, until the returned function stops it; call that
// before closing the store's pool.
func StartSealer(ctx context.Context, store *db.Store) (stop func()) {
	sealCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.RunSealer(sealCtx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// WorkerActivities returns the worker's activities. With a metrics registry they count the
// transitions they record (the store tells them of each once, after its commit) and the
// cabinet commands they send.
func WorkerActivities(store *db.Store, cabinets cabinet.Driver, simulated bool, reg *metrics.Registry) *activities.Activities {
	if reg != nil {
		requests := reg.Requests()
		store = store.WithTransitionObserver(func(t db.RecordedTransition) { requests.Observe(metrics.Transition(t)) })
	}
	return &activities.Activities{Store: store, Cabinets: cabinets, SimulatedCabinets: simulated, Metrics: reg.Cabinets()}
}

// withdrawalReporter delivers the in-process simulator's withdrawals through the one path
// every withdrawal report takes (intake.ApplyVend), on behalf of the cabinet.
func withdrawalReporter(in *intake.Intake) cabinet.Reporter {
	return func(ctx context.Context, cabinetCode, requestID string) error {
		cab, err := in.Store.GetCabinetByCode(ctx, cabinetCode)
		if err != nil {
			return fmt.Errorf("cabinet %s: %w", cabinetCode, err)
		}
		_, err = in.ApplyVend(ctx, intake.Vend{
			Cabinet: cab, OrderRef: requestID, ReportID: "sim-" + requestID,
			Actor:  pyxis.Actor{ID: "cabinet:" + cabinetCode, Role: pyxis.RoleCabinet},
			Source: db.SourceCabinet, At: time.Now(),
		}, false)
		return err
	}
}

// DialTemporal connects to the Temporal frontend, logging through slog. Every client of the
// process is made here, with the payload codec: workers use their client's converters, which
// refuse payloads not sealed with the codec keys and audit each refusal into audit (nil:
// logged only; PayloadConverters).
func DialTemporal(ctx context.Context, cfg Config, audit RefusalAuditor) (client.Client, error) {
	cd, err := cfg.payloadCodec()
	if err != nil {
		return nil, err
	}
	dc, fc := PayloadConverters(cd, audit)
	interceptors, err := TemporalInterceptors()
	if err != nil {
		return nil, err
	}
	// Address, namespace, TLS and API key: the Temporal CLI's environment configuration.
	opts, err := cfg.temporalOptions()
	if err != nil {
		return nil, fmt.Errorf("Temporal client configuration: %w", err)
	}
	opts.Logger = sdklog.NewStructuredLogger(slog.Default())
	opts.DataConverter, opts.FailureConverter = dc, fc
	opts.Interceptors = interceptors
	// The SDK's metrics (temporal_...) go to the process's registry, if it has one.
	opts.MetricsHandler = cfg.Registry.Temporal()
	opts.ConnectionOptions.GrpcCompression = cfg.GRPCCompression()
	tc, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	return tc, nil
}

// GRPCCompression is the SDK's setting for cfg.TemporalCompression; unset means gzip.
func (c Config) GRPCCompression() client.GrpcCompression {
	if c.TemporalCompression == "none" {
		return &client.GrpcCompressionNone{}
	}
	return &client.GrpcCompressionGzip{}
}

// Listen binds addr now, so a taken port is reported by name before anything else starts.
func Listen(addr, setting string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (set %s to another address): %w", addr, setting, err)
	}
	return ln, nil
}

// ServeHTTP serves h until ctx is done, then shuts down gracefully.
func ServeHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := NewHTTPServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	slog.Info("api listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// HTTPOK reports whether GET url answers 200 within two seconds (pyxis healthcheck, and
// whatever waits for a server to be ready).
func HTTPOK(ctx context.Context, url string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("answered %s", resp.Status)
	}
	return true, nil
}
