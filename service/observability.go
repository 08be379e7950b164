package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.temporal.io/sdk/activity"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"

	"github.com/medreq/pyxis/internal/obs"
)

// ObsConfig is how the process logs, traces and stops (docs/configuration.md).
type ObsConfig struct {
	// LogFormat is "json" or "text"; "" takes the command's default (FormatFor).
	LogFormat string
	// LogLevel is the least level logged (info).
	LogLevel slog.Level
	// ShutdownTimeout bounds a graceful stop: the api's drain of requests in flight and of
	// MLLP frames, and the worker's wait for running activities (25s).
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long the api keeps serving after SIGTERM with /readyz answering
	// 503, so load balancers stop sending before it stops accepting (0).
	ShutdownDelay time.Duration
}

// defaultShutdownTimeout stays under Kubernetes' default terminationGracePeriodSeconds (30s).
const defaultShutdownTimeout = 25 * time.Second

func loadObs(getenv func(string) string, o *ObsConfig) []error {
	var errs []error
	o.ShutdownTimeout = defaultShutdownTimeout
	switch v := strings.ToLower(getenv("PYXIS_LOG_FORMAT")); v {
	case "", "json", "text":
		o.LogFormat = v
	default:
		errs = append(errs, fmt.Errorf("PYXIS_LOG_FORMAT=%q: want json or text", v))
	}
	if v := getenv("PYXIS_LOG_LEVEL"); v != "" {
		if err := o.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("PYXIS_LOG_LEVEL=%q: want debug, info, warn or error", v))
		}
	}
	for _, d := range []struct {
		name     string
		dst      *time.Duration
		min, max time.Duration
	}{
		{"PYXIS_SHUTDOWN_TIMEOUT", &o.ShutdownTimeout, time.Second, 10 * time.Minute},
		{"PYXIS_SHUTDOWN_DELAY", &o.ShutdownDelay, 0, time.Minute},
	} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		t, err := time.ParseDuration(v)
		if err != nil || t < d.min || t > d.max {
			errs = append(errs, fmt.Errorf("%s=%q: want a duration from %s to %s", d.name, v, d.min, d.max))
			continue
		}
		*d.dst = t
	}
	return errs
}

// FormatFor is the format of cmd's lines: PYXIS_LOG_FORMAT, else JSON for the services
// (api, worker, migrate) and text for dev mode and the command-line tools.
func (o ObsConfig) FormatFor(cmd string) string {
	if o.LogFormat != "" {
		return o.LogFormat
	}
	switch cmd {
	case "api", "worker", "migrate":
		return "json"
	}
	return "text"
}

// String describes the settings for the start banner.
func (o ObsConfig) String() string {
	format := o.LogFormat
	if format == "" {
		format = "(default)"
	}
	return fmt.Sprintf("log_format=%s log_level=%s shutdown_timeout=%s shutdown_delay=%s",
		format, o.LogLevel, o.ShutdownTimeout, o.ShutdownDelay)
}

// NewLogger returns the process's logger, writing format ("json" or "text") to w. Every line
// carries the identifiers of its context (obs.Handler: request_id, actor, workflow_id,
// trace_id); when simulated cabinets are allowed every line carries
// simulated_cabinets=allowed.
func NewLogger(w io.Writer, format string, level slog.Level, allowSimulated bool) *slog.Logger {
	ho := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, ho)
	if format == "json" {
		h = slog.NewJSONHandler(w, ho)
	}
	h = obs.NewHandler(h)
	if allowSimulated {
		h = h.WithAttrs([]slog.Attr{slog.String("simulated_cabinets", "allowed")})
	}
	return slog.New(h)
}

// SetupTracing installs the process's TracerProvider (newTracerProvider) and the W3C
// propagators (trace context and baggage) as OpenTelemetry's globals, which otelgin, otelpgx,
// the Temporal interceptor and the system's own spans use. The returned function flushes and
// stops the exporter.
func SetupTracing(ctx context.Context, getenv func(string) string, service string) (func(context.Context) error, error) {
	tp, exporting, err := newTracerProvider(ctx, getenv, service)
	if err != nil {
		return nil, err
	}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	otel.SetTracerProvider(tp)
	if exporting {
		slog.Info("traces exported over OTLP", "service", service)
	}
	return tp.Shutdown, nil
}

// newTracerProvider returns the process's TracerProvider. With OTEL_EXPORTER_OTLP_ENDPOINT
// (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set, spans are sampled as OTEL_TRACES_SAMPLER says
// (parent-based, always on, by default) and exported over OTLP/gRPC, configured by the
// standard OTEL_* variables; the resource is service.name pyxis-<cmd> unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise. Without an endpoint (or with
// OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER=none) nothing is recorded or exported, but
// every request still gets a trace id, propagated to the workflow and written on every log
// line. It reports whether spans are exported.
func newTracerProvider(ctx context.Context, getenv func(string) string, service string) (*sdktrace.TracerProvider, bool, error) {
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	disabled, _ := strconv.ParseBool(getenv("OTEL_SDK_DISABLED"))
	if endpoint == "" || disabled || getenv("OTEL_TRACES_EXPORTER") == "none" {
		// Ids without recording: a span that is never sampled costs an id and no more.
		return sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())), false, nil
	}
	// The exporter, the sampler and the resource read the process's environment themselves.
	exp, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("OTLP trace exporter (OTEL_EXPORTER_OTLP_*): %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, false, fmt.Errorf("trace resource (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME): %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), true, nil
}

// TemporalInterceptors are the interceptors of every Temporal client of the process, and of
// the workers made from them: OpenTelemetry tracing, so a request's workflow and activity
// spans join the trace of the API call that started it, and the SDK's log lines carry the
// trace id. Spans carry the workflow id, run id and activity type, never payloads.
func TemporalInterceptors() ([]interceptor.ClientInterceptor, error) {
	ti, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{})
	if err != nil {
		return nil, fmt.Errorf("temporal tracing interceptor: %w", err)
	}
	return []interceptor.ClientInterceptor{ti, &logFields{}}, nil
}

// logFields puts the workflow id on the context of every activity (obs.Start), so what an
// activity logs with its context (the store, the cabinet drivers) carries workflow_id beside
// the trace_id of its span. The SDK's own activity logger carries it already.
type logFields struct{ interceptor.InterceptorBase }

func (*logFields) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &logFieldsActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type logFieldsActivity struct {
	interceptor.ActivityInboundInterceptorBase
}

func (a *logFieldsActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	ctx, _ = obs.Start(ctx)
	obs.SetWorkflowID(ctx, activity.GetInfo(ctx).WorkflowExecution.ID)
	return a.Next.ExecuteActivity(ctx, in)
}
