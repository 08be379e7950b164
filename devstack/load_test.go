package devstack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/db/dbtest"
	"github.com/medreq/pyxis/loadtest"
	"github.com/medreq/pyxis/service"
)

// TestLoadtestDevRunsAShortBoundedLoad runs `pyxis-dev loadtest --dev` as the command does
// (StartForLoad, LoadEnv, loadtest.Run, the report written), on both Temporal stores, for a
// dozen requests, and checks the report is whole. It asserts nothing about speed: that
// depends on the machine.
func TestLoadtestDevRunsAShortBoundedLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	for _, store := range TemporalStores() {
		t.Run(store, func(t *testing.T) { shortLoadtest(t, store) })
	}
}

func shortLoadtest(t *testing.T, store string) {
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.html")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := loadtest.ParseCommand([]string{"--dev", "--requests", "12", "--users", "3", "--pharmacists", "2",
		"--withdraw-after", "50ms", "--baseline", "--json", jsonPath, "--html", htmlPath, "--temporal-store", store},
		func(string) string { return "" }, loadtest.Choices{TemporalStores: TemporalStores()})
	require.NoError(t, err)
	// The run makes a throw-away database of its own on the server DATABASE_URL names.
	testDB := dbtest.URL(t)
	cfg, err := service.LoadConfig(func(k string) string { return map[string]string{"DATABASE_URL": testDB}[k] })
	require.NoError(t, err)
	stack, release, err := StartForLoad(ctx, cfg, c.Config, store)
	require.NoError(t, err)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	c.API = stack.APIURL
	run, err := loadtest.Run(ctx, c.Config, stack.LoadEnv(store))
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, run.WriteText(&out))
	require.NoError(t, run.WriteFiles(c.Config))
	assert.Contains(t, out.String(), "Response time percentiles")

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

	// The baseline scenario with the lifecycle's steps as activities, on the same server: each
	// bare workflow runs all three (a missing step's options or registration fails them).
	shape, err := loadtest.ParseCommand([]string{"--dev", "--scenario", "baseline", "--requests", "4", "--users", "2",
		"--withdraw-after", "10ms", "--baseline-activities", "3", "--temporal-store", store},
		func(string) string { return "" }, loadtest.Choices{TemporalStores: TemporalStores()})
	require.NoError(t, err)
	shape.API = stack.APIURL
	shapeRun, err := loadtest.Run(ctx, shape.Config, stack.LoadEnv(store))
	require.NoError(t, err)
	require.NotNil(t, shapeRun.Baseline)
	assert.Equal(t, 3, shapeRun.Baseline.Activities)
	assert.Equal(t, 4, shapeRun.Baseline.Completed, "%v", shapeRun.Baseline.ErrorExamples)

	// Nothing of the throw-away system stays on the server: its database, and on the Postgres
	// store its Temporal's two beside it.
	throwaway := databaseName(stack.Config.DatabaseURL)
	release()
	released = true
	conn, err := pgx.Connect(ctx, testDB)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var left []string
	require.NoError(t, conn.QueryRow(ctx, "SELECT COALESCE(array_agg(datname), '{}') FROM pg_database WHERE datname LIKE $1",
		throwaway+"%").Scan(&left))
	assert.Empty(t, left, "databases of the throw-away system left on the server")
}

// A drop that cannot reach the server says so, after trying for as long as it was given,
// instead of leaving the database behind without a word.
func TestDropDatabaseReportsWhatItCouldNotDrop(t *testing.T) {
	ports, err := FreePorts(1)
	require.NoError(t, err)
	start := time.Now()
	err = dropDatabaseWithin(fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?connect_timeout=1", ports[0]), "pyxis_loadtest_gone", 500*time.Millisecond)
	require.Error(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "tried again before giving up")
}
