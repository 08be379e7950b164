package devstack

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/service"
)

// TestDevSettingsOfREADMEAreRead keeps the unknown-setting warning honest in dev mode: every
// PYXIS_DEV_ setting of docs/configuration.md's tables is read when dev mode parses its flags.
func TestDevSettingsOfREADMEAreRead(t *testing.T) {
	readme, err := os.ReadFile("../docs/configuration.md")
	require.NoError(t, err)
	var environ []string
	for line := range strings.SplitSeq(string(readme), "\n") {
		if strings.HasPrefix(line, "| `PYXIS_DEV_") {
			cell, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
			for _, name := range regexp.MustCompile(`PYXIS_DEV_[A-Z0-9_]*[A-Z0-9]`).FindAllString(cell, -1) {
				environ = append(environ, name+"=x")
			}
		}
	}
	require.GreaterOrEqual(t, len(environ), 5, "docs/configuration.md's dev mode table was not found")
	env := service.NewEnv(func(string) string { return "" })
	_, err = ParseFlags(nil, env.Getenv, service.Config{})
	require.NoError(t, err)
	assert.Empty(t, env.Unread(environ))
}
