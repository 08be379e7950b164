package main

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

// connect checks what the api and worker cannot default, then opens Postgres and Temporal;
// close releases both.
func connect(ctx context.Context, cfg config, name string, needAuth bool) (store *db.Store, tc client.Client, closeFn func(), err error) {
	if err := cfg.requireServices(needAuth); err != nil {
		return nil, nil, nil, err
	}
	slog.Info("starting "+name, "config", cfg.String())
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, nil, err
	}
	if tc, err = dialTemporal(ctx, cfg); err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	return db.NewStore(pool), tc, func() { tc.Close(); pool.Close() }, nil
}

func runAPI(ctx context.Context, cfg config) error {
	if cfg.Metrics.API {
		cfg.metrics = metrics.New()
	}
	store, tc, closeServices, err := connect(ctx, cfg, "api", true)
	if err != nil {
		return err
	}
	defer closeServices()
	ln, err := listen(cfg.HTTPAddr, "PYXIS_HTTP_ADDR")
	if err != nil {
		return err
	}
	in := &intake.Intake{Store: store, Temporal: tc, Metrics: cfg.metrics.Reports()}
	mllpSrv, err := listenMLLP(cfg, in)
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv, err := newAPIServer(store, tc, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	// Stops in order (shutdown.go); the deferred calls then close the Temporal client and
	// the pool.
	return serveAPI(ctx, cfg.Obs, ln, srv, mllpSrv, in)
}

// newAPIServer builds the API; Close it when done.
func newAPIServer(store *db.Store, tc client.Client, cfg config) (*api.Server, error) {
	apiCfg := cfg.API
	apiCfg.JWTSecret = []byte(cfg.JWTSecret)
	apiCfg.AllowSimulatedCabinets = cfg.AllowSimulatedCabinets
	if cfg.Metrics.API {
		apiCfg.Metrics, apiCfg.AuditVerifyInterval = cfg.metrics, cfg.Metrics.AuditVerifyInterval
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

// runWorker runs the worker, and its metrics and health server on PYXIS_METRICS_ADDR (bound
// first, so /healthz answers while the worker connects).
func runWorker(ctx context.Context, cfg config) error {
	var ln net.Listener
	if cfg.Metrics.WorkerAddr != "" {
		cfg.metrics = metrics.New()
		var err error
		if ln, err = listen(cfg.Metrics.WorkerAddr, "PYXIS_METRICS_ADDR"); err != nil {
			return err
		}
	}
	health := &workerHealth{}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveWorkerMetrics(gctx, ln, health.handler(cfg.metrics)) })
	g.Go(func() error {
		store, tc, closeServices, err := connect(gctx, cfg, "worker", false)
		if err != nil {
			return err
		}
		defer closeServices()
		health.connected(store, tc)
		return serveWorkerWith(gctx, tc, store, cfg, health.started)
	})
	return g.Wait()
}

// serveWorker prepares the namespace and runs the worker until ctx is done. Cabinets are
// commanded by their row's driver: HL7 over MLLP, or the in-process simulator where
// simulated cabinets are allowed (cfg.AllowSimulatedCabinets); elsewhere a command to a
// simulated cabinet fails the request (activities.ErrCabinetNotConfigured).
func serveWorker(ctx context.Context, tc client.Client, store *db.Store, cfg config) error {
	return serveWorkerWith(ctx, tc, store, cfg, func() {})
}

// serveWorkerWith is serveWorker, calling started once the worker polls.
func serveWorkerWith(ctx context.Context, tc client.Client, store *db.Store, cfg config, started func()) error {
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
	cabinets, closeDrivers := newCabinetDrivers(sim, cfg)
	defer closeDrivers()
	w := worker.New(tc, workerActivities(store, cabinets, cfg.AllowSimulatedCabinets, cfg.metrics), cfg.Worker)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
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

// workerActivities returns the worker's activities. With a metrics registry they count the
// transitions they record (the store tells them of each once, after its commit) and the
// cabinet commands they send.
func workerActivities(store *db.Store, cabinets cabinet.Driver, simulated bool, reg *metrics.Registry) *activities.Activities {
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

// dialTemporal connects to the Temporal frontend, logging through slog. Every client of the
// process is made here, with the payload codec: workers use their client's data converter.
func dialTemporal(ctx context.Context, cfg config) (client.Client, error) {
	dc, err := cfg.dataConverter()
	if err != nil {
		return nil, err
	}
	interceptors, err := temporalInterceptors()
	if err != nil {
		return nil, err
	}
	tc, err := client.DialContext(ctx, client.Options{
		HostPort:      cfg.TemporalAddress,
		Namespace:     cfg.TemporalNamespace,
		Logger:        sdklog.NewStructuredLogger(slog.Default()),
		DataConverter: dc,
		Interceptors:  interceptors,
		// The SDK's metrics (temporal_...) go to the process's registry, if it has one.
		MetricsHandler:    cfg.metrics.Temporal(),
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: cfg.grpcCompression()},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	return tc, nil
}

// grpcCompression is the SDK's setting for cfg.TemporalCompression; unset means gzip.
func (c config) grpcCompression() client.GrpcCompression {
	if c.TemporalCompression == "none" {
		return &client.GrpcCompressionNone{}
	}
	return &client.GrpcCompressionGzip{}
}

// listen binds addr now, so a taken port is reported by name before anything else starts.
func listen(addr, setting string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (set %s to another address): %w", addr, setting, err)
	}
	return ln, nil
}

// serveHTTP serves h until ctx is done, then shuts down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := newHTTPServer(h)
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
