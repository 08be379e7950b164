package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"

	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/codec"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/worker"
	"github.com/medreq/pyxis/workflows"
)

// These are the end-to-end tests: a real Temporal server started in-process, a real Postgres
// database, the real worker and the real API over HTTP. They share one server, one database
// and one worker (each costs seconds to start); every test makes its own cabinet and
// medications, so tests never see each other's stock.

// execMainEnv makes the test binary behave as the pyxis binary, so the dev-mode tests can run
// it as a subprocess without linking a second 200 MB executable.
const execMainEnv = "PYXIS_TEST_EXEC_MAIN"

var e2e *stack

type stack struct {
	// tc encrypts payloads with codec, as every client of the system does; raw is a client of
	// the same server without the codec, to look at what Temporal stores.
	tc    client.Client
	raw   client.Client
	codec *codec.Codec
	store *db.Store
	// pool is the store's pool, for checks that read the database directly.
	pool *pgxpool.Pool
	sim  *cabinet.Simulator
	// intake accepts cabinet reports for every test's listener and applies them, as the api
	// does.
	intake *intake.Intake
	secret []byte
	seq    atomic.Int64
	// namespace is the test server's namespace.
	namespace string
	// temporalAddr, dbURL and codecKeys let a test run `pyxis api` or `pyxis worker` as a
	// subprocess against the same Temporal server and database, with the same codec key.
	temporalAddr, dbURL, codecKeys string
}

func TestMain(m *testing.M) {
	if os.Getenv(execMainEnv) == "1" {
		main()
		return
	}
	gin.SetMode(gin.ReleaseMode)
	installTestTracing()
	dbtest.MainWith(m, func(url string) func() {
		ts := temporaltest.NewServer()
		s, stop, err := startStack(ts, url)
		if err != nil {
			ts.Stop()
			fmt.Fprintln(os.Stderr, "e2e stack:", err)
			os.Exit(1)
		}
		e2e = s
		return func() {
			stop()
			ts.Stop()
		}
	})
}

func startStack(ts *temporaltest.TestServer, dbURL string) (*stack, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Lines go nowhere unless a test captures them (observability_test.go).
	slog.SetDefault(e2eLogger)
	pool, err := db.Open(ctx, dbURL)
	if err != nil {
		return nil, nil, err
	}
	if err := db.Migrate(ctx, pool); err != nil {
		return nil, nil, err
	}
	key, err := codec.GenerateKey("e2e")
	if err != nil {
		return nil, nil, err
	}
	cd, err := codec.New([]codec.Key{key})
	if err != nil {
		return nil, nil, err
	}
	interceptors, err := temporalInterceptors()
	if err != nil {
		return nil, nil, err
	}
	tc := ts.NewClientWithOptions(client.Options{DataConverter: codec.NewDataConverter(cd), Interceptors: interceptors,
		Logger: sdklog.NewStructuredLogger(e2eLogger)})
	if err := worker.EnsureSearchAttributes(ctx, tc, ts.GetDefaultNamespace()); err != nil {
		return nil, nil, err
	}
	s := &stack{tc: tc, raw: ts.GetDefaultClient(), codec: cd, store: db.NewStore(pool), pool: pool, namespace: ts.GetDefaultNamespace(), secret: []byte("e2e-secret-e2e-secret-e2e-secret!"),
		temporalAddr: ts.GetFrontendHostPort(), dbURL: dbURL, codecKeys: codec.FormatKeys([]codec.Key{key})}
	s.sim = cabinet.NewSimulator(0, nil, nil)
	// Cabinets with driver hl7 are commanded over MLLP; a short ACK timeout lets the tests
	// see a cabinet that answers too late without waiting long.
	cabinets, closeDrivers := newCabinetDrivers(s.sim, config{CabinetAckTimeout: time.Second})
	// The harness allows simulated cabinets explicitly, as dev mode does; the test of a worker
	// that does not (TestSimulatedCabinetRefusedWhereNotAllowed) runs its own.
	w := worker.New(tc, &activities.Activities{Store: s.store, Cabinets: cabinets, SimulatedCabinets: true}, worker.Options{})
	if err := w.Start(); err != nil {
		return nil, nil, err
	}
	s.intake = &intake.Intake{Store: s.store, Temporal: tc}
	applyCtx, stopApplying := context.WithCancel(context.Background())
	applied := make(chan struct{})
	go func() { _ = s.intake.Run(applyCtx); close(applied) }()
	return s, func() {
		stopApplying()
		<-applied
		w.Stop()
		closeDrivers()
		s.sim.Close()
		pool.Close()
	}, nil
}

// testConfig is the API configuration of a test: long deadlines unless the test shortens them.
func testConfig() api.Config {
	cfg := api.DefaultConfig()
	cfg.CabinetAttempts = 2
	cfg.CabinetRetryInterval = 100 * time.Millisecond
	// Tests send bursts from one user (a hundred requests at once); the limiter has tests of
	// its own in api.
	cfg.RateLimit = 0
	cfg.AllowSimulatedCabinets = true
	return cfg
}

// client is an HTTP client of one API instance.
type apiClient struct {
	t   *testing.T
	url string
	s   *stack
}

func newAPI(t *testing.T, cfg api.Config) *apiClient {
	t.Helper()
	cfg.JWTSecret = e2e.secret
	if cfg.Codec == nil {
		cfg.Codec = e2e.codec
	}
	as := api.NewServer(e2e.store, e2e.tc, cfg)
	srv := httptest.NewServer(as.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(as.Close)
	return &apiClient{t: t, url: srv.URL, s: e2e}
}

// token signs a token for a user of the given role.
func (c *apiClient) token(sub, role string) string {
	tok, err := api.IssueToken(c.s.secret, sub, sub+" name", role, time.Hour, time.Now())
	require.NoError(c.t, err)
	return tok
}

// do sends a request with a JSON body (nil for none; a string or []byte is sent as is) and
// returns the status and decoded body.
func (c *apiClient) do(method, path, token string, body any, headers ...string) (int, map[string]any) {
	c.t.Helper()
	status, raw := c.doRaw(method, path, token, body, headers...)
	var out map[string]any
	if len(raw) > 0 {
		require.NoError(c.t, json.Unmarshal(raw, &out), "body: %s", raw)
	}
	return status, out
}

func (c *apiClient) doRaw(method, path, token string, body any, headers ...string) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(c.t, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.url+path, r)
	require.NoError(c.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, raw
}

// fixture is a cabinet of its own with medications stocked, made through the admin API.
type fixture struct {
	cabinetID   int64
	cabinetCode string
	meds        []int64
}

func (c *apiClient) fixture(onHand ...int) fixture {
	c.t.Helper()
	n := c.s.seq.Add(1)
	admin := c.token("admin-1", workflows.RoleAdmin)
	code := fmt.Sprintf("CAB-%d-%d", n, time.Now().UnixNano()%1e9)
	status, cab := c.do("POST", "/v1/cabinets", admin, map[string]any{"code": code, "name": "Test cabinet", "unit": "Test unit",
		"driver": "sim", "report_sources": []string{"127.0.0.1/32"}})
	require.Equal(c.t, http.StatusCreated, status, cab)
	f := fixture{cabinetID: int64(cab["id"].(float64)), cabinetCode: code}
	tech := c.token("tech-1", workflows.RoleTechnician)
	for i, qty := range onHand {
		status, med := c.do("POST", "/v1/medications", admin, map[string]any{
			"code": fmt.Sprintf("%s-M%d", code, i), "name": fmt.Sprintf("Medication %d", i), "unit": "ampoule",
		})
		require.Equal(c.t, http.StatusCreated, status, med)
		id := int64(med["id"].(float64))
		status, row := c.do("PUT", fmt.Sprintf("/v1/cabinets/%d/stock/%d", f.cabinetID, id), tech, map[string]any{"on_hand": qty, "par_level": qty})
		require.Equal(c.t, http.StatusOK, status, row)
		f.meds = append(f.meds, id)
	}
	return f
}

// create posts a request for the fixture's first medication and returns its id.
func (c *apiClient) create(f fixture, nurse string, qty int, extra ...string) string {
	c.t.Helper()
	status, body := c.do("POST", "/v1/requests", nurse, map[string]any{
		"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": "MRN-778899", "bed": "12A"},
		"priority": "stat", "items": []map[string]any{{"medication_id": f.meds[0], "quantity": qty}},
	}, extra...)
	require.Equal(c.t, http.StatusCreated, status, body)
	return body["id"].(string)
}

// waitStatus polls the live state until the request reaches want, and returns that state.
func (c *apiClient) waitStatus(id, token, want string) map[string]any {
	c.t.Helper()
	var last map[string]any
	require.EventuallyWithT(c.t, func(t *assert.CollectT) {
		status, body := c.do("GET", "/v1/requests/"+id, token, nil)
		last = body
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, want, body["status"])
	}, 30*time.Second, 100*time.Millisecond, "request %s never reached %s; last: %v", id, want, last)
	return last
}

// stock returns (on_hand, reserved) of a pocket from the API.
func (c *apiClient) stock(f fixture, med int64) (onHand, reserved int) {
	c.t.Helper()
	status, body := c.do("GET", fmt.Sprintf("/v1/cabinets/%d/stock", f.cabinetID), c.token("tech-1", workflows.RoleTechnician), nil)
	require.Equal(c.t, http.StatusOK, status, body)
	for _, r := range body["data"].([]any) {
		row := r.(map[string]any)
		if int64(row["medication_id"].(float64)) == med {
			return int(row["on_hand"].(float64)), int(row["reserved"].(float64))
		}
	}
	c.t.Fatalf("medication %d not stocked in cabinet %d", med, f.cabinetID)
	return 0, 0
}

// auditActions lists the actions of a request's audit trail, in order.
func (c *apiClient) auditActions(id, token string) []string {
	c.t.Helper()
	status, body := c.do("GET", "/v1/requests/"+id+"/audit", token, nil)
	require.Equal(c.t, http.StatusOK, status, body)
	var actions []string
	for _, e := range body["data"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	return actions
}
