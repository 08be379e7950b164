package service

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With an endpoint, spans are recorded (and batched to the exporter, which the environment
// configures); without one, spans are not recorded but have trace ids. An unreachable
// collector does not hold up the stop for longer than its flush bound.
func TestTracerProviderFromEnvironment(t *testing.T) {
	ctx := context.Background()
	getenv := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	tp, exporting, err := newTracerProvider(ctx, getenv(map[string]string{}), "pyxis-test")
	require.NoError(t, err)
	assert.False(t, exporting)
	_, span := tp.Tracer("t").Start(ctx, "s")
	assert.False(t, span.IsRecording())
	assert.True(t, span.SpanContext().HasTraceID(), "ids without recording")
	span.End()
	require.NoError(t, tp.Shutdown(ctx))

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_SERVICE_NAME", "pyxis-renamed")
	tp, exporting, err = newTracerProvider(ctx, os.Getenv, "pyxis-test")
	require.NoError(t, err)
	assert.True(t, exporting)
	_, span = tp.Tracer("t").Start(ctx, "s")
	assert.True(t, span.IsRecording())
	span.End()
	flushCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_ = tp.Shutdown(flushCtx) // the collector is not there: the flush fails within its bound
	assert.NoError(t, ctx.Err())

	tp, exporting, err = newTracerProvider(ctx, getenv(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317", "OTEL_SDK_DISABLED": "true"}), "pyxis-test")
	require.NoError(t, err)
	assert.False(t, exporting)
	require.NoError(t, tp.Shutdown(ctx))
}

func TestObservabilitySettings(t *testing.T) {
	env := envOf
	cfg, err := LoadConfig(env())
	require.NoError(t, err)
	assert.Equal(t, "json", cfg.Obs.FormatFor("api"))
	assert.Equal(t, "json", cfg.Obs.FormatFor("worker"))
	assert.Equal(t, "json", cfg.Obs.FormatFor("migrate"))
	assert.Equal(t, "text", cfg.Obs.FormatFor("dev"))
	assert.Equal(t, slog.LevelInfo, cfg.Obs.LogLevel)
	assert.Equal(t, 25*time.Second, cfg.Obs.ShutdownTimeout)
	assert.Equal(t, 25*time.Second, cfg.Worker.StopTimeout, "the worker's stop timeout is the shutdown timeout")
	assert.Zero(t, cfg.Obs.ShutdownDelay)

	cfg, err = LoadConfig(env("PYXIS_LOG_FORMAT", "text", "PYXIS_LOG_LEVEL", "debug", "PYXIS_SHUTDOWN_TIMEOUT", "40s", "PYXIS_SHUTDOWN_DELAY", "5s"))
	require.NoError(t, err)
	assert.Equal(t, "text", cfg.Obs.FormatFor("api"))
	assert.Equal(t, slog.LevelDebug, cfg.Obs.LogLevel)
	assert.Equal(t, 40*time.Second, cfg.Worker.StopTimeout)
	assert.Equal(t, 5*time.Second, cfg.Obs.ShutdownDelay)
	assert.Contains(t, cfg.String(), "shutdown_timeout=40s shutdown_delay=5s")

	_, err = LoadConfig(env("PYXIS_LOG_FORMAT", "xml", "PYXIS_LOG_LEVEL", "loud", "PYXIS_SHUTDOWN_DELAY", "-1s"))
	assert.ErrorContains(t, err, "PYXIS_LOG_FORMAT")
	assert.ErrorContains(t, err, "PYXIS_LOG_LEVEL")
	assert.ErrorContains(t, err, "PYXIS_SHUTDOWN_DELAY")
	_, err = LoadConfig(env("PYXIS_SHUTDOWN_TIMEOUT", "10s", "PYXIS_CABINET_ACK_TIMEOUT", "15s"))
	assert.ErrorContains(t, err, "must be longer than PYXIS_CABINET_ACK_TIMEOUT")

	var out bytes.Buffer
	NewLogger(&out, "json", slog.LevelWarn, false).Info("dropped")
	NewLogger(&out, "json", slog.LevelWarn, false).Warn("kept")
	assert.NotContains(t, out.String(), "dropped")
	assert.Contains(t, out.String(), `"msg":"kept"`)
}
