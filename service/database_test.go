package service

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnreachableDatabaseIsReportedOnce opens a database nobody listens for: the error names
// DATABASE_URL without its password, the address tried, and the refusal once.
func TestUnreachableDatabaseIsReportedOnce(t *testing.T) {
	_, err := OpenDatabase(t.Context(), "postgres://bob:s3cret@127.0.0.1:1/pyxis")
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "DATABASE_URL=postgres://bob:***@127.0.0.1:1/pyxis")
	assert.Contains(t, msg, "tried 127.0.0.1:1")
	assert.NotContains(t, msg, "s3cret")
	assert.Equal(t, 1, strings.Count(msg, "connection refused"), msg)
	assert.NotContains(t, msg, "\n")
}
