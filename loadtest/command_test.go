package loadtest

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// choices stand for the tool's: dev mode's Temporal stores and two fault scenarios.
var choices = Choices{TemporalStores: []string{"sqlite", "postgres"}, FaultScenarios: []string{"api-kill", "no-fault"}}

func noEnv(string) string { return "" }

func TestLoadtestFlags(t *testing.T) {
	c, err := ParseCommand([]string{"--dev", "--requests", "10", "--temporal-store", "postgres"}, noEnv, choices)
	require.NoError(t, err)
	assert.True(t, c.Dev)
	assert.Equal(t, "postgres", c.TemporalStore)
	assert.Equal(t, 10, c.Requests)
	c, err = ParseCommand([]string{"--requests", "10"}, noEnv, choices)
	require.NoError(t, err)
	assert.Equal(t, "sqlite", c.TemporalStore, "the first store is the default")
	c, err = ParseCommand([]string{"--requests", "10"}, func(k string) string {
		return map[string]string{"PYXIS_DEV_TEMPORAL_STORE": "postgres"}[k]
	}, choices)
	require.NoError(t, err)
	assert.Equal(t, "postgres", c.TemporalStore, "the environment gives the default")

	for _, bad := range [][]string{
		{"--dev", "--requests", "10", "--temporal-store", "cassandra"},
		{"--dev", "--requests", "10", "--dev-dir", "x"},
		{"--requests", "10", "--api", "http://203.0.113.9:8080"},
		{"--dev"},
		{"--requests", "10", "extra"},
	} {
		_, err := ParseCommand(bad, noEnv, choices)
		assert.Error(t, err, bad)
	}
	_, err = ParseCommand([]string{"-h"}, noEnv, choices)
	assert.ErrorIs(t, err, flag.ErrHelp, "asked for, not an error: the command exits 0")
}

func TestLoadtestFaultFlag(t *testing.T) {
	for _, name := range choices.FaultScenarios {
		c, err := ParseCommand([]string{"--fault", name, "--requests", "300"}, noEnv, choices)
		require.NoError(t, err)
		assert.Equal(t, name, c.Fault)
		assert.Equal(t, 300, c.Requests)
	}
	_, err := ParseCommand([]string{"--fault", "nope"}, noEnv, choices)
	assert.ErrorContains(t, err, "no fault scenario")
	_, err = ParseCommand([]string{"--fault", "api-kill", "--dev"}, noEnv, choices)
	assert.ErrorContains(t, err, "--fault starts a system of its own")
}
