package cabsim

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCabinetSimProcessingIDFlag(t *testing.T) {
	cfg, err := ParseFlags([]string{"--processing-id", "T", "--withdraw-after", "off"})
	require.NoError(t, err)
	assert.Equal(t, "T", cfg.ProcessingID)
	cfg, err = ParseFlags(nil)
	require.NoError(t, err)
	assert.Equal(t, "P", cfg.ProcessingID)
}

func TestCabinetSimStateFlag(t *testing.T) {
	cfg, err := ParseFlags([]string{"--state", "/var/lib/cabsim/state.json"})
	require.NoError(t, err)
	assert.Equal(t, "/var/lib/cabsim/state.json", cfg.StateFile)
	cfg, err = ParseFlags(nil)
	require.NoError(t, err)
	assert.Empty(t, cfg.StateFile, "in memory by default")
}

func TestCabinetSimFaultFlagRepeats(t *testing.T) {
	cfg, err := ParseFlags([]string{"--fault", "offline", "--fault", "slow=2s"})
	require.NoError(t, err)
	assert.Equal(t, []string{"offline", "slow=2s"}, cfg.Faults)
	_, err = ParseFlags([]string{"--withdraw-after", "soon"})
	assert.ErrorContains(t, err, "--withdraw-after")
	_, err = ParseFlags([]string{"-h"})
	assert.ErrorIs(t, err, flag.ErrHelp, "asked for, not an error: the command exits 0")
}
