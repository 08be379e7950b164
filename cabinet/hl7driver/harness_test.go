package hl7driver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/cabinet/hl7driver"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// recorder is an EventHandler standing in for the system: it keeps what it is given and
// answers with fail's error when set.
type recorder struct {
	mu     sync.Mutex
	events []cabinet.Event
	fail   func(cabinet.Event) error
}

func (r *recorder) HandleEvent(_ context.Context, e cabinet.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(e); err != nil {
			return err
		}
	}
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) got() []cabinet.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]cabinet.Event(nil), r.events...)
}

// waitEvents waits until the recorder holds n events and returns them.
func (r *recorder) waitEvents(t *testing.T, n int) []cabinet.Event {
	t.Helper()
	require.Eventually(t, func() bool { return len(r.got()) >= n }, 5*time.Second, 10*time.Millisecond,
		"waiting for %d events", n)
	return r.got()
}

// startListener runs the system's report listener on a free port with rec as its handler.
func startListener(t *testing.T, rec *recorder) string {
	t.Helper()
	return startListenerWith(t, rec, hl7driver.ListenerOptions{})
}

// startListenerWith runs the report listener with these options.
func startListenerWith(t *testing.T, rec *recorder, o hl7driver.ListenerOptions) string {
	t.Helper()
	srv := hl7driver.NewEventServer(rec, o, mllp.ServerOptions{})
	require.NoError(t, srv.Listen("127.0.0.1:0"))
	go func() { _ = srv.Serve(context.Background()) }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Addr().String()
}

// env is a simulated cabinet wired to a listener, and a driver that talks to it.
type env struct {
	sim    *cabsim.Sim
	rec    *recorder
	driver *hl7driver.Driver
	admin  string
}

func newEnv(t *testing.T, cfg cabsim.Config, opts hl7driver.Options) *env {
	t.Helper()
	rec := &recorder{}
	cfg.Listen, cfg.Admin, cfg.ReportTo = "127.0.0.1:0", "127.0.0.1:0", startListener(t, rec)
	sim, err := cabsim.New(cfg)
	require.NoError(t, err)
	require.NoError(t, sim.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, sim.Close()) })
	d, _ := fastDriver(t, opts)
	return &env{sim: sim, rec: rec, driver: d, admin: "http://" + sim.AdminAddr()}
}

// order returns a one-line order for the simulated cabinet.
func (e *env) order(requestID string, qty int32) cabinet.Order {
	return cabinet.Order{
		RequestID: requestID, CabinetCode: "PYX-ICU-01", CabinetUnit: "ICU", Driver: "hl7",
		Address: e.sim.Addr(), PatientMRN: "MRN0042", PatientFamily: "Souza", PatientGiven: "Maria", PatientBed: "12B",
		Priority: cabinet.PriorityUrgent,
		Lines: []cabinet.Line{{MedicationCode: "MORF10", MedicationName: "Morphine 10 mg/mL", Unit: "ampoule", Quantity: qty,
			Strength: "10 mg/mL, 1 mL", Form: "ampoule"}},
	}
}

// items returns the simulator's item master (GET /items).
func (e *env) items(t *testing.T) []cabinet.Item {
	t.Helper()
	resp, err := e.do(t, http.MethodGet, "/items", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var items []cabinet.Item
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&items))
	return items
}

// post sends a JSON body to the admin endpoint and decodes the answer into out (if not nil).
func (e *env) post(t *testing.T, path string, body any, out any) int {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := e.do(t, http.MethodPost, path, bytes.NewReader(raw))
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

// do sends one request to the admin endpoint with the simulator's token.
func (e *env) do(t *testing.T, method, path string, body io.Reader) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(method, e.admin+path, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.sim.AdminToken())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return http.DefaultClient.Do(req)
}

func (e *env) faults(t *testing.T, faults ...string) {
	t.Helper()
	require.Equal(t, http.StatusOK, e.post(t, "/faults", map[string][]string{"faults": faults}, nil))
}

func (e *env) stats(t *testing.T) cabsim.Stats {
	t.Helper()
	resp, err := e.do(t, http.MethodGet, "/stats", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st cabsim.Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

// writeStock writes a stock file for PYX-ICU-01 and returns its path.
func writeStock(t *testing.T, pockets ...cabsim.StockPocket) string {
	t.Helper()
	raw, err := json.Marshal(cabsim.StockFile{Cabinet: "PYX-ICU-01", Pockets: pockets})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "stock.json")
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	return path
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// dialListener opens a raw connection to write arbitrary bytes to.
func dialListener(t *testing.T, addr string) (net.Conn, *mllp.Reader) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(5*time.Second)))
	return nc, mllp.NewReader(nc, 0)
}
