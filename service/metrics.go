package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/internal/metrics"
)

// MetricsConfig is where metrics are served (docs/configuration.md; deploy/OPERATIONS.md,
// Metrics).
type MetricsConfig struct {
	// WorkerAddr is where the worker serves /metrics, /healthz and /readyz
	// (PYXIS_METRICS_ADDR, default :9090); "" (set as "off") serves none of them.
	WorkerAddr string
	// API serves /metrics on the api's HTTP port (PYXIS_API_METRICS, default true).
	API bool
	// AuditVerifyInterval is how often the api verifies the audit chain for
	// pyxis_audit_chain_ok (PYXIS_AUDIT_VERIFY_INTERVAL, default 5m; "off": never).
	AuditVerifyInterval time.Duration
}

// Defaults of the metrics settings.
const (
	defaultMetricsAddr         = ":9090"
	defaultAuditVerifyInterval = 5 * time.Minute
)

func loadMetrics(getenv func(string) string, m *MetricsConfig) []error {
	*m = MetricsConfig{WorkerAddr: defaultMetricsAddr, API: true, AuditVerifyInterval: defaultAuditVerifyInterval}
	var errs []error
	switch v := getenv("PYXIS_METRICS_ADDR"); v {
	case "":
	case "off":
		m.WorkerAddr = ""
	default:
		if _, _, err := net.SplitHostPort(v); err != nil {
			errs = append(errs, fmt.Errorf("PYXIS_METRICS_ADDR=%q: want host:port such as :9090, or off", v))
		}
		m.WorkerAddr = v
	}
	boolSetting(getenv, &errs, "PYXIS_API_METRICS", &m.API)
	switch v := getenv("PYXIS_AUDIT_VERIFY_INTERVAL"); v {
	case "":
	case "off":
		m.AuditVerifyInterval = 0
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second {
			errs = append(errs, fmt.Errorf("PYXIS_AUDIT_VERIFY_INTERVAL=%q: want a duration of at least 10s such as 5m, or off", v))
		}
		m.AuditVerifyInterval = d
	}
	return errs
}

// String describes the settings for the start-up log.
func (m MetricsConfig) String() string {
	addr := m.WorkerAddr
	if addr == "" {
		addr = "off"
	}
	verify := "off"
	if m.AuditVerifyInterval > 0 {
		verify = m.AuditVerifyInterval.String()
	}
	return fmt.Sprintf("metrics_addr=%s api_metrics=%t audit_verify_interval=%s", addr, m.API, verify)
}

// WorkerHealth answers the worker's /healthz and /readyz. Its server starts before the
// worker connects to anything, so /healthz answers while it waits for Postgres and Temporal.
type WorkerHealth struct {
	mu       sync.Mutex
	store    *db.Store
	temporal client.Client
	// polling is set once the worker has started polling its task queue.
	polling bool
}

// Connected records the services /readyz checks.
func (h *WorkerHealth) Connected(store *db.Store, tc client.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.store, h.temporal = store, tc
}

// Started records that the worker polls.
func (h *WorkerHealth) Started() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.polling = true
}

// Handler serves /metrics (the registry), /healthz (the process answers) and /readyz
// (Postgres and Temporal answer, and the worker has started polling).
func (h *WorkerHealth) Handler(reg *metrics.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", h.ready)
	return mux
}

func (h *WorkerHealth) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	h.mu.Lock()
	store, tc, polling := h.store, h.temporal, h.polling
	h.mu.Unlock()
	checks := map[string]string{"postgres": "ok", "temporal": "ok", "worker": "polling"}
	status := http.StatusOK
	if store == nil || tc == nil {
		checks["postgres"], checks["temporal"], checks["worker"] = "connecting", "connecting", "starting"
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "checks": checks})
		return
	}
	if err := store.Ping(ctx); err != nil {
		checks["postgres"], status = "unreachable", http.StatusServiceUnavailable
	}
	if _, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"], status = "unreachable", http.StatusServiceUnavailable
	}
	if !polling {
		checks["worker"], status = "starting", http.StatusServiceUnavailable
	}
	verdict := "ready"
	if status != http.StatusOK {
		verdict = "not ready"
	}
	writeJSON(w, status, map[string]any{"status": verdict, "checks": checks})
}

// serveWorkerMetrics serves the worker's metrics and health on cfg.Metrics.WorkerAddr until
// ctx ends; with no address it does nothing.
func serveWorkerMetrics(ctx context.Context, ln net.Listener, h http.Handler) error {
	if ln == nil {
		return nil
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	slog.Info("worker metrics and health listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("metrics server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
