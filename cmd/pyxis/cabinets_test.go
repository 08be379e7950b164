package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCabinetSimProcessingIDFlag(t *testing.T) {
	cfg, err := parseCabinetSimFlags([]string{"--processing-id", "T", "--withdraw-after", "off"})
	require.NoError(t, err)
	assert.Equal(t, "T", cfg.ProcessingID)
	cfg, err = parseCabinetSimFlags(nil)
	require.NoError(t, err)
	assert.Equal(t, "P", cfg.ProcessingID)
}

func TestCabinetSimStateFlag(t *testing.T) {
	cfg, err := parseCabinetSimFlags([]string{"--state", "/var/lib/cabsim/state.json"})
	require.NoError(t, err)
	assert.Equal(t, "/var/lib/cabsim/state.json", cfg.StateFile)
	cfg, err = parseCabinetSimFlags(nil)
	require.NoError(t, err)
	assert.Empty(t, cfg.StateFile, "in memory by default")
}
