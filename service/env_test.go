package service

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnknownSettingIsNamed loads the configuration from an environment with a misspelt
// setting: it is the one unread, and the warning names it and the setting it resembles. The
// test swaps the default logger, so it does not run in parallel.
func TestUnknownSettingIsNamed(t *testing.T) {
	environ := []string{"PYXIS_HTTP_ADR=:8090", "PYXIS_LOG_LEVEL=debug", "PYXIS_TEST_DATABASE_URL=postgres://x", "HOME=/root"}
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	env := NewEnv(func(k string) string { return vars[k] })
	_, err := LoadConfig(env.Getenv)
	require.NoError(t, err)
	assert.Equal(t, []string{"PYXIS_HTTP_ADR"}, env.Unread(environ))

	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	env.WarnUnread(environ, "pyxis api")
	var line map[string]any
	require.NoError(t, json.Unmarshal(logs.Bytes(), &line), logs.String())
	assert.Equal(t, "WARN", line["level"])
	assert.Equal(t, "PYXIS_HTTP_ADR", line["name"])
	assert.Equal(t, "PYXIS_HTTP_ADDR", line["did_you_mean"])
	assert.NotContains(t, logs.String(), ":8090", "values are not logged")
}

// TestDocumentedSettingsAreRead keeps the warning honest: every PYXIS_ setting of docs/configuration.md's
// configuration tables is read when the configuration loads, whatever else is set, so none
// is ever called unknown. Dev mode's own (PYXIS_DEV_*) are devstack's to read.
func TestDocumentedSettingsAreRead(t *testing.T) {
	readme, err := os.ReadFile("../docs/configuration.md")
	require.NoError(t, err)
	env := NewEnv(func(string) string { return "" })
	_, err = LoadConfig(env.Getenv)
	require.NoError(t, err)
	documented := map[string]bool{}
	for line := range strings.SplitSeq(string(readme), "\n") {
		if !strings.HasPrefix(line, "| `PYXIS_") {
			continue
		}
		cell, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		for _, name := range regexp.MustCompile(`PYXIS_[A-Z0-9_]*[A-Z0-9]`).FindAllString(cell, -1) {
			// PYXIS_SIM_ADMIN_TOKEN is the cabinet simulator's (pyxis-dev cabinet-sim) and
			// pyxis check --cabinet-sim's, read where they run, not by api or worker.
			if !strings.HasPrefix(name, "PYXIS_DEV_") && name != "PYXIS_SIM_ADMIN_TOKEN" {
				documented[name] = true
			}
		}
	}
	require.Greater(t, len(documented), 40, "docs/configuration.md's tables were not found")
	var environ []string
	for name := range documented {
		environ = append(environ, name+"=x")
	}
	assert.Empty(t, env.Unread(environ))
}

// A true-or-false setting takes what strconv.ParseBool reads; anything else names the
// setting and reads as false; an unset one leaves the default.
func TestBoolSetting(t *testing.T) {
	env := map[string]string{"PYXIS_HSTS": "1", "PYXIS_API_METRICS": "yes"}
	getenv := func(name string) string { return env[name] }
	var errs []error
	hsts, metrics, known := false, true, true
	boolSetting(getenv, &errs, "PYXIS_HSTS", &hsts)
	boolSetting(getenv, &errs, "PYXIS_API_METRICS", &metrics)
	boolSetting(getenv, &errs, "PYXIS_REQUIRE_KNOWN_USERS", &known)
	assert.True(t, hsts)
	assert.False(t, metrics)
	assert.True(t, known, "unset: the default stays")
	require.Len(t, errs, 1)
	assert.EqualError(t, errs[0], `PYXIS_API_METRICS="yes": want true or false`)
}
