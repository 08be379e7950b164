package api

import (
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
)

// TestReadLatencyWithAccessLog measures GET /v1/requests/{id} (projection read, need-to-know
// check, access-log INSERT) at a steady 30 requests per second over real HTTP and Postgres,
// and reports its percentiles. It asserts the target (p99 within 20 ms) only when
// PYXIS_LATENCY_CHECK=1: a machine shared with other work cannot promise it in every run.
// PYXIS_LATENCY_SECONDS sets the duration (default 5).
func TestReadLatencyWithAccessLog(t *testing.T) {
	if testing.Short() {
		t.Skip("a timed run")
	}
	w := newWard(t)
	srv := httptest.NewServer(serverWith(t, w.store, func(c *Config) { c.RateLimit = 0 }))
	t.Cleanup(srv.Close)
	tok := testToken(t, "nurse-ana", pyxis.RoleNurse)
	url := srv.URL + "/v1/requests/" + w.requests["caio@icu"] // her unit's: the need-to-know check reads the cabinet
	get := func() (time.Duration, int) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return time.Since(start), 0
		}
		resp.Body.Close()
		return time.Since(start), resp.StatusCode
	}
	for range 10 { // warm the pool and the directory cache
		get()
	}
	seconds := 5
	if v, err := strconv.Atoi(os.Getenv("PYXIS_LATENCY_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	const rate = 30
	var (
		mu   sync.Mutex
		lat  []time.Duration
		bad  int
		wg   sync.WaitGroup
		tick = time.NewTicker(time.Second / rate)
	)
	defer tick.Stop()
	for range seconds * rate {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, status := get()
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, d)
			if status != http.StatusOK {
				bad++
			}
		}()
	}
	wg.Wait()
	require.Zero(t, bad, "every read answered 200")
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	t.Logf("GET /v1/requests/{id} at %d/s for %ds: n=%d p50=%s p90=%s p99=%s max=%s",
		rate, seconds, len(lat), pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1])
	entries := 0
	require.NoError(t, w.pool.QueryRow(t.Context(), "SELECT count(*) FROM access_log").Scan(&entries))
	require.Equal(t, len(lat)+10, entries, "one access-log entry per read")
	if os.Getenv("PYXIS_LATENCY_CHECK") == "1" {
		require.LessOrEqual(t, pct(0.99), 20*time.Millisecond)
	}
}
