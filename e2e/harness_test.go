package e2e

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
	"sync"
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

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/api/contracttest"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/codec"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/internal/metrics"
	"github.com/medreq/pyxis/service"
	"github.com/medreq/pyxis/worker"
)

// These are the end-to-end tests: a real Temporal server started in-process, a real Postgres
// database, the real worker and the real API over HTTP. They share one server, one database
// and one worker (each costs seconds to start); every test makes its own cabinet and
// medications, so tests never see each other's stock.

// execMainEnv makes the test binary behave as the binaries it stands in for (execMain), so the
// tests can run `pyxis api`, `pyxis worker` and `pyxis-dev` as subprocesses without linking
// a second 200 MB executable.
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
	// apiMetrics and workerMetrics are the two processes' registries (metrics_test.go);
	// workerMetricsURL serves the worker's /metrics, /healthz and /readyz.
	apiMetrics, workerMetrics *metrics.Registry
	workerMetricsURL          string
	// workerClient is the worker's Temporal client (its SDK metrics go to workerMetrics).
	workerClient client.Client
}

func TestMain(m *testing.M) {
	if os.Getenv(execMainEnv) == "1" {
		os.Exit(execMain(os.Args[1:]))
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
	interceptors, err := service.TemporalInterceptors()
	if err != nil {
		return nil, nil, err
	}
	// The api's and the worker's metrics, as two processes would keep them: the API servers
	// of the metrics test, the HL7 intake and tc (the api's Temporal client) record into
	// apiMetrics; the worker and its own client into workerMetrics.
	apiMetrics, workerMetrics := metrics.New(), metrics.New()
	// Both clients take the converters every client of the system has: payloads not sealed
	// with the key are refused and audited (service.PayloadConverters).
	store := db.NewStore(pool)
	dc, fc := service.PayloadConverters(cd, store)
	tc := ts.NewClientWithOptions(client.Options{DataConverter: dc, FailureConverter: fc, Interceptors: interceptors,
		Logger: sdklog.NewStructuredLogger(e2eLogger), MetricsHandler: apiMetrics.Temporal()})
	wtc := ts.NewClientWithOptions(client.Options{DataConverter: dc, FailureConverter: fc, Interceptors: interceptors,
		Logger: sdklog.NewStructuredLogger(e2eLogger), MetricsHandler: workerMetrics.Temporal()})
	if err := worker.EnsureSearchAttributes(ctx, tc, ts.GetDefaultNamespace()); err != nil {
		return nil, nil, err
	}
	s := &stack{tc: tc, raw: ts.GetDefaultClient(), codec: cd, store: store, pool: pool, namespace: ts.GetDefaultNamespace(), secret: []byte("9f2c51e07ab34d68c1e5f0a27b9d3c4e8a61f5d20c7b4e93"),
		temporalAddr: ts.GetFrontendHostPort(), dbURL: dbURL, codecKeys: codec.FormatKeys([]codec.Key{key}),
		apiMetrics: apiMetrics, workerMetrics: workerMetrics, workerClient: wtc}
	s.sim = cabinet.NewSimulator(0, nil, nil)
	// Cabinets with driver hl7 are commanded over MLLP; a short ACK timeout lets the tests
	// see a cabinet that answers too late without waiting long.
	cabinets, closeDrivers := service.NewCabinetDrivers(s.sim, service.Config{CabinetAckTimeout: time.Second})
	// The harness allows simulated cabinets explicitly, as dev mode does; the test of a worker
	// that does not (TestSimulatedCabinetRefusedWhereNotAllowed) runs its own.
	w := worker.New(wtc, service.WorkerActivities(s.store, cabinets, true, workerMetrics), worker.Options{})
	health := &service.WorkerHealth{}
	health.Connected(s.store, wtc)
	if err := w.Start(); err != nil {
		return nil, nil, err
	}
	health.Started()
	// The worker's metrics and health server, as service.RunWorker serves it on PYXIS_METRICS_ADDR.
	workerSrv := httptest.NewServer(health.Handler(workerMetrics))
	s.workerMetricsURL = workerSrv.URL
	s.intake = &intake.Intake{Store: s.store, Temporal: tc, Metrics: apiMetrics.Reports()}
	applyCtx, stopApplying := context.WithCancel(context.Background())
	applied := make(chan struct{})
	go func() { _ = s.intake.Run(applyCtx); close(applied) }()
	stopSealing := service.StartSealer(context.Background(), s.store)
	return s, func() {
		stopApplying()
		<-applied
		w.Stop()
		stopSealing()
		workerSrv.Close()
		wtc.Close()
		closeDrivers()
		s.sim.Close()
		pool.Close()
	}, nil
}

// testConfig is the API configuration of a test: long deadlines unless the test shortens them.
func testConfig() api.Config {
	cfg := api.DefaultConfig()
	cfg.CabinetRetryInterval = 100 * time.Millisecond
	// Tests send bursts from one user (a hundred requests at once); the limiter has tests of
	// its own in api.
	cfg.RateLimit = 0
	cfg.AllowSimulatedCabinets = true
	return cfg
}

// apiClient is a client of one API instance: api, the client generated from the document, for
// what the tests do as users; do and doRaw for requests a test writes by hand (malformed ones
// on purpose, through malformed()). Every exchange of both goes through a transport that
// checks it against the document; a violation fails the test at its end.
type apiClient struct {
	t   *testing.T
	url string
	s   *stack
	api *apiclient.ClientWithResponses
	hc  *http.Client
	// badRequests marks the requests of this client as malformed on purpose: their answers
	// are checked against the document, the requests themselves are not.
	badRequests bool
}

// contract checks exchanges against api/openapi.yaml; read once per test binary.
var contract = sync.OnceValues(func() (*contracttest.Validator, error) { return contracttest.New(api.OpenAPIYAML()) })

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
	return newAPIClient(t, srv.URL)
}

// newAPIClient returns a client of the API at url whose every exchange is checked against
// the document; the violations fail t when it ends.
func newAPIClient(t *testing.T, url string) *apiClient {
	t.Helper()
	v, err := contract()
	require.NoError(t, err)
	tr := &contracttest.Transport{Validator: v}
	t.Cleanup(func() {
		for _, violation := range tr.Violations() {
			t.Errorf("contract: %s", violation)
		}
	})
	hc := &http.Client{Transport: tr}
	gen, err := apiclient.NewClientWithResponses(url, apiclient.WithHTTPClient(hc))
	require.NoError(t, err)
	return &apiClient{t: t, url: url, s: e2e, api: gen, hc: hc}
}

// malformed returns the client for requests that break the document on purpose (a bad body,
// an unknown route): their answers are still checked.
func (c *apiClient) malformed() *apiClient {
	bad := *c
	bad.badRequests = true
	return &bad
}

// as returns the request editor that sends token.
func as(token string) apiclient.RequestEditorFn { return apiclient.BearerToken(token) }

// token signs a token for a user of the given role.
func (c *apiClient) token(sub, role string) string {
	tok, err := api.IssueToken(c.s.secret, sub, sub+" name", role, time.Hour, time.Now())
	require.NoError(c.t, err)
	return tok
}

// pharmacist signs a token for a pharmacist of the users directory who has a professional
// registration of her own, adding her (or her registration) on first use: a request that
// needs two approvals counts only registered pharmacists, so a token alone (a user added
// just in time) is not enough.
func (c *apiClient) pharmacist(sub string) string {
	c.t.Helper()
	admin, reg := c.token("admin-1", pyxis.RoleAdmin), "CRF-T "+sub
	status, body := c.do("POST", "/v1/users", admin, map[string]any{"id": sub, "name": sub + " name", "role": "pharmacist", "registration": reg})
	if status == http.StatusConflict {
		status, body = c.do("PATCH", "/v1/users/"+sub, admin, map[string]any{"registration": reg})
		require.Equal(c.t, http.StatusOK, status, body)
	} else {
		require.Equal(c.t, http.StatusCreated, status, body)
	}
	return c.token(sub, pyxis.RolePharmacist)
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
	ctx := context.Background()
	if c.badRequests {
		ctx = contracttest.WithoutRequestCheck(ctx)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, r)
	require.NoError(c.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.hc.Do(req)
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
	ctx := c.t.Context()
	n := c.s.seq.Add(1)
	admin := as(c.token("admin-1", pyxis.RoleAdmin))
	code := fmt.Sprintf("CAB-%d-%d", n, time.Now().UnixNano()%1e9)
	cab, err := c.api.CreateCabinetWithResponse(ctx, apiclient.CabinetBody{Code: code, Name: "Test cabinet", Unit: ptr("Test unit"),
		Driver: apiclient.Sim, ReportSources: &[]string{"127.0.0.1/32"}}, admin)
	require.NoError(c.t, err)
	require.Equal(c.t, http.StatusCreated, cab.StatusCode(), "%s", cab.Body)
	f := fixture{cabinetID: *cab.JSON201.Id, cabinetCode: code}
	tech := as(c.token("tech-1", pyxis.RoleTechnician))
	for i, qty := range onHand {
		med, err := c.api.CreateMedicationWithResponse(ctx, apiclient.MedicationBody{
			Code: fmt.Sprintf("%s-M%d", code, i), Name: fmt.Sprintf("Medication %d", i), Unit: ptr("ampoule"),
		}, admin)
		require.NoError(c.t, err)
		require.Equal(c.t, http.StatusCreated, med.StatusCode(), "%s", med.Body)
		id := *med.JSON201.Id
		row, err := c.api.SetStockWithResponse(ctx, f.cabinetID, id, apiclient.StockBody{OnHand: int32(qty), ParLevel: int32(qty)}, tech)
		require.NoError(c.t, err)
		require.Equal(c.t, http.StatusOK, row.StatusCode(), "%s", row.Body)
		f.meds = append(f.meds, id)
	}
	return f
}

// ptr returns a pointer to v, for the optional fields of the generated client's bodies.
func ptr[T any](v T) *T { return &v }

// create posts a request for the fixture's first medication and returns its id; extra is
// "Idempotency-Key", key when the test sends one.
func (c *apiClient) create(f fixture, nurse string, qty int, extra ...string) string {
	c.t.Helper()
	var params apiclient.CreateRequestParams
	if len(extra) == 2 && extra[0] == "Idempotency-Key" {
		params.IdempotencyKey = &extra[1]
	}
	resp, err := c.api.CreateRequestWithResponse(c.t.Context(), &params, apiclient.CreateRequestBody{
		CabinetId: f.cabinetID, Patient: apiclient.PatientBody{Mrn: "MRN-778899", Bed: ptr("12A")},
		Priority: apiclient.Stat, Items: []apiclient.ItemBody{{MedicationId: f.meds[0], Quantity: int32(qty)}},
	}, as(nurse))
	require.NoError(c.t, err)
	require.Equal(c.t, http.StatusCreated, resp.StatusCode(), "%s", resp.Body)
	return resp.JSON201.Id
}

// waitStatus polls the live state until the request reaches want, and returns that state.
func (c *apiClient) waitStatus(id, token, want string) apiclient.RequestView {
	c.t.Helper()
	var last apiclient.RequestView
	require.EventuallyWithT(c.t, func(t *assert.CollectT) {
		resp, err := c.api.GetRequestWithResponse(context.Background(), id, &apiclient.GetRequestParams{}, as(token))
		if !assert.NoError(t, err) || !assert.Equal(t, http.StatusOK, resp.StatusCode()) {
			return
		}
		last = *resp.JSON200
		assert.Equal(t, apiclient.RequestStatus(want), last.Status)
	}, 30*time.Second, 100*time.Millisecond, "request %s never reached %s; last: %+v", id, want, last)
	return last
}

// stock returns (on_hand, reserved) of a pocket from the API.
func (c *apiClient) stock(f fixture, med int64) (onHand, reserved int) {
	c.t.Helper()
	resp, err := c.api.ListStockWithResponse(context.Background(), f.cabinetID, as(c.token("tech-1", pyxis.RoleTechnician)))
	require.NoError(c.t, err)
	require.Equal(c.t, http.StatusOK, resp.StatusCode(), "%s", resp.Body)
	for _, row := range resp.JSON200.Data {
		if row.MedicationId == med {
			return int(row.OnHand), int(row.Reserved)
		}
	}
	c.t.Fatalf("medication %d not stocked in cabinet %d", med, f.cabinetID)
	return 0, 0
}

// auditActions lists the actions of a request's audit trail, in order.
func (c *apiClient) auditActions(id, token string) []string {
	c.t.Helper()
	resp, err := c.api.ListRequestAuditWithResponse(context.Background(), id, as(token))
	require.NoError(c.t, err)
	require.Equal(c.t, http.StatusOK, resp.StatusCode(), "%s", resp.Body)
	var actions []string
	for _, e := range resp.JSON200.Data {
		actions = append(actions, e.Action)
	}
	return actions
}
