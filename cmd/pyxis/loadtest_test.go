package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/db/dbtest"
	"github.com/medreq/pyxis/devstack"
	"github.com/medreq/pyxis/loadtest"
)

// TestLoadtestDevRunsAShortBoundedLoad runs `pyxis loadtest --dev` in a subprocess (a second
// in-process Temporal server would clash with the end-to-end tests' one) for a dozen requests,
// and checks the report is whole. It asserts nothing about speed: that depends on the machine.
func TestLoadtestDevRunsAShortBoundedLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a full dev stack in a subprocess")
	}
	for _, store := range []string{devstack.TemporalStoreSQLite, devstack.TemporalStorePostgres} {
		t.Run(store, func(t *testing.T) { shortLoadtest(t, store) })
	}
}

func shortLoadtest(t *testing.T, store string) {
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.html")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "loadtest", "--dev", "--requests", "12", "--users", "3", "--pharmacists", "2",
		"--withdraw-after", "50ms", "--baseline", "--json", jsonPath, "--html", htmlPath, "--temporal-store", store)
	// The run makes a throw-away database of its own on the server DATABASE_URL names.
	cmd.Env = append(os.Environ(), execMainEnv+"=1", "TEMPORAL_ADDRESS=", "DATABASE_URL="+dbtest.URL(t))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), "loadtest --dev failed:\n%s", out.String())
	assert.Contains(t, out.String(), "Response time percentiles")
	assert.NotContains(t, out.String(), "\x1b[K", "no live line when stdout is not a terminal")

	f, err := os.Open(jsonPath)
	require.NoError(t, err)
	defer f.Close()
	rep, err := loadtest.ReadJSON(f)
	require.NoError(t, err)
	assert.Equal(t, "dev", rep.Run.Mode)
	assert.Equal(t, store, rep.Run.TemporalStore)
	assert.Equal(t, "closed", rep.Run.Model)

	for _, name := range []string{loadtest.EndpointCreate, loadtest.EndpointGet, loadtest.EndpointQueue, loadtest.EndpointApprove, loadtest.EndpointReject} {
		assert.NotNil(t, rep.Endpoint(name), "endpoint %s in the report", name)
	}
	create := rep.Endpoint(loadtest.EndpointCreate)
	require.NotNil(t, create)
	lc := rep.Lifecycle
	require.NotNil(t, lc)
	assert.EqualValues(t, 12, create.Count, "twelve requests asked for")
	assert.Equal(t, create.Count, lc.Created+lc.CreateFailures, "every create is counted once")
	var statuses int64
	for _, n := range lc.Statuses {
		statuses += n
	}
	assert.Equal(t, lc.Created, statuses, "every created request has a status")
	assert.Equal(t, lc.Created, lc.Terminal+lc.NonTerminal)
	assert.Zero(t, lc.NonTerminal, "every request terminal: %v", lc.Statuses)
	assert.Positive(t, lc.Latency.Count, "lifecycle times from the server's timestamps")
	var sum int64
	for _, e := range rep.Endpoints {
		sum += e.Count
		var codes int64
		for _, n := range e.StatusCodes {
			codes += n
		}
		assert.Equal(t, e.Count, codes, "%s: status codes add up", e.Name)
	}
	assert.Equal(t, sum, rep.Aggregated.Count)

	require.NotNil(t, rep.Baseline)
	assert.Equal(t, int(lc.Created), rep.Baseline.Workflows, "as many bare workflows as requests")
	assert.Equal(t, rep.Baseline.Workflows, rep.Baseline.Completed, "%v", rep.Baseline.ErrorExamples)
	require.NotNil(t, rep.BaselineRatio)
	assert.Positive(t, *rep.BaselineRatio)
	require.NotNil(t, rep.Memory, "an in-process run reports its memory")
	assert.Positive(t, rep.Memory.PeakRSSBytes)
	require.NotNil(t, rep.CPU, "and its CPU time")
	assert.Positive(t, rep.CPU.Seconds)
	assert.NotEmpty(t, rep.Targets)

	page, err := os.ReadFile(htmlPath)
	require.NoError(t, err)
	for _, kind := range []string{"latency-over-time", "calls-per-second", "histogram", "lifecycle-histogram"} {
		assert.Contains(t, string(page), `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="`+kind+`"`)
	}
}

func TestLoadtestFlags(t *testing.T) {
	_, o, err := parseLoadtestFlags([]string{"--dev", "--requests", "10", "--temporal-store", "postgres"}, func(string) string { return "" })
	require.NoError(t, err)
	assert.True(t, o.Dev)
	assert.Equal(t, devstack.TemporalStorePostgres, o.TemporalStore)
	_, o, err = parseLoadtestFlags([]string{"--requests", "10"}, func(k string) string {
		return map[string]string{"PYXIS_DEV_TEMPORAL_STORE": "postgres"}[k]
	})
	require.NoError(t, err)
	assert.Equal(t, devstack.TemporalStorePostgres, o.TemporalStore, "the environment gives the default")

	for _, bad := range [][]string{
		{"--dev", "--requests", "10", "--temporal-store", "cassandra"},
		{"--dev", "--requests", "10", "--dev-dir", "x"},
		{"--requests", "10", "--api", "http://203.0.113.9:8080"},
		{"--dev"},
		{"--requests", "10", "extra"},
	} {
		_, _, err := parseLoadtestFlags(bad, func(string) string { return "" })
		assert.Error(t, err, bad)
	}
}
