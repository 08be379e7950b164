package devstack

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Dev mode's collector settings apply only where the environment leaves them unset.
func TestTuneGCLeavesTheEnvironmentsSettings(t *testing.T) {
	restore := func(percent int, limit int64) {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
	defer restore(debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64))

	TuneGC(func(string) string { return "" })
	assert.Equal(t, devGCPercent, debug.SetGCPercent(100))
	assert.Equal(t, int64(devMemoryLimit), debug.SetMemoryLimit(math.MaxInt64))

	TuneGC(func(k string) string { return map[string]string{"GOGC": "100", "GOMEMLIMIT": "4GiB"}[k] })
	assert.Equal(t, 100, debug.SetGCPercent(100))
	assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(math.MaxInt64))
}
