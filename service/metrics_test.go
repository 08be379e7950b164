package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetricsConfig(t *testing.T) {
	env := envOf
	cfg, err := LoadConfig(env())
	require.NoError(t, err)
	assert.Equal(t, MetricsConfig{WorkerAddr: ":9090", API: true, AuditVerifyInterval: 5 * time.Minute}, cfg.Metrics)
	assert.Contains(t, cfg.String(), "metrics_addr=:9090 api_metrics=true audit_verify_interval=5m0s")

	cfg, err = LoadConfig(env("PYXIS_METRICS_ADDR", "off", "PYXIS_API_METRICS", "false", "PYXIS_AUDIT_VERIFY_INTERVAL", "off"))
	require.NoError(t, err)
	assert.Equal(t, MetricsConfig{}, cfg.Metrics)
	assert.Contains(t, cfg.String(), "metrics_addr=off api_metrics=false audit_verify_interval=off")

	cfg, err = LoadConfig(env("PYXIS_METRICS_ADDR", "127.0.0.1:9191", "PYXIS_AUDIT_VERIFY_INTERVAL", "1h"))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9191", cfg.Metrics.WorkerAddr)
	assert.Equal(t, time.Hour, cfg.Metrics.AuditVerifyInterval)

	_, err = LoadConfig(env("PYXIS_METRICS_ADDR", "9090", "PYXIS_API_METRICS", "sometimes", "PYXIS_AUDIT_VERIFY_INTERVAL", "1s"))
	require.Error(t, err)
	for _, name := range []string{"PYXIS_METRICS_ADDR", "PYXIS_API_METRICS", "PYXIS_AUDIT_VERIFY_INTERVAL"} {
		assert.Contains(t, err.Error(), name)
	}
}
