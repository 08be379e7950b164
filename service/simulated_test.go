package service

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSimulatedCabinetsSetting: PYXIS_ALLOW_SIMULATED_CABINETS is off unless set; when set,
// every log line says so and a warning opens the log. The in-process simulator withdraws by
// itself only when PYXIS_SIM_WITHDRAW_AFTER says so (dev mode: 3s).
func TestSimulatedCabinetsSetting(t *testing.T) {
	env := envOf
	cfg, err := LoadConfig(env())
	require.NoError(t, err)
	assert.False(t, cfg.AllowSimulatedCabinets)
	assert.Zero(t, cfg.SimWithdrawAfter, "no simulated nurse withdraws outside dev mode")
	cfg, err = LoadConfig(env("PYXIS_ALLOW_SIMULATED_CABINETS", "true", "PYXIS_SIM_WITHDRAW_AFTER", "2s"))
	require.NoError(t, err)
	assert.True(t, cfg.AllowSimulatedCabinets)
	assert.Equal(t, 2*time.Second, cfg.SimWithdrawAfter)
	assert.Contains(t, cfg.String(), "allow_simulated_cabinets=true")
	_, err = LoadConfig(env("PYXIS_ALLOW_SIMULATED_CABINETS", "maybe"))
	assert.ErrorContains(t, err, "PYXIS_ALLOW_SIMULATED_CABINETS")

	var out bytes.Buffer
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	slog.SetDefault(NewLogger(&out, "text", slog.LevelInfo, true))
	WarnSimulatedCabinets()
	slog.Info("another line", "k", "v")
	slog.Default().With("component", "worker").Error("and one more")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3)
	assert.Contains(t, lines[0], "level=WARN")
	assert.Contains(t, lines[0], "PYXIS_ALLOW_SIMULATED_CABINETS=true")
	for _, l := range lines {
		assert.Contains(t, l, "simulated_cabinets=allowed")
	}
	out.Reset()
	slog.SetDefault(NewLogger(&out, "text", slog.LevelInfo, false))
	slog.Info("a line")
	assert.NotContains(t, out.String(), "simulated_cabinets")
}
