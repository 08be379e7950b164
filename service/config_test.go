package service

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
)

// envOf is a getenv over name, value pairs; a later pair for a name wins.
func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// The SDK panics on one workflow task poller or slot; the setting must say so instead.
func TestWorkerSettingsRefuseWhatTheSDKPanicsOn(t *testing.T) {
	for _, name := range []string{"PYXIS_WORKER_WORKFLOW_POLLERS", "PYXIS_WORKER_WORKFLOW_SLOTS"} {
		_, err := LoadConfig(envOf(name, "1"))
		require.Error(t, err, name)
		assert.ErrorContains(t, err, name+`="1": want a number from 2 to 10000`)
	}
	cfg, err := LoadConfig(envOf("PYXIS_WORKER_WORKFLOW_POLLERS", "2", "PYXIS_WORKER_ACTIVITY_POLLERS", "1", "PYXIS_WORKER_LOCAL_ACTIVITY_SLOTS", "64"))
	require.NoError(t, err)
	assert.Equal(t, 2, cfg.Worker.WorkflowPollers)
	assert.Equal(t, 1, cfg.Worker.ActivityPollers)
	assert.Equal(t, 64, cfg.Worker.LocalActivitySlots)
}

func TestTemporalCompressionSetting(t *testing.T) {
	cfg, err := LoadConfig(envOf())
	require.NoError(t, err)
	assert.IsType(t, &client.GrpcCompressionGzip{}, cfg.GRPCCompression(), "the SDK's default outside dev mode")

	cfg, err = LoadConfig(envOf("PYXIS_TEMPORAL_COMPRESSION", "none"))
	require.NoError(t, err)
	assert.IsType(t, &client.GrpcCompressionNone{}, cfg.GRPCCompression())

	_, err = LoadConfig(envOf("PYXIS_TEMPORAL_COMPRESSION", "zstd"))
	assert.ErrorContains(t, err, `PYXIS_TEMPORAL_COMPRESSION="zstd": want gzip or none`)
}

// PYXIS_CABINET_ATTEMPTS is no longer read (a cabinet command is retried until the
// withdrawal window closes): a deployment that still sets it starts, and is told so, even
// with a value the old release refused.
func TestRetiredSettingIsReported(t *testing.T) {
	cfg, err := LoadConfig(envOf())
	require.NoError(t, err)
	assert.Empty(t, cfg.Retired)

	for _, v := range []string{"5", "0"} {
		cfg, err = LoadConfig(envOf("PYXIS_CABINET_ATTEMPTS", v))
		require.NoError(t, err)
		assert.Equal(t, []string{"PYXIS_CABINET_ATTEMPTS"}, cfg.Retired)
	}
}
