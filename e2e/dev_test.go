package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/medreq/pyxis/codec"
	"github.com/medreq/pyxis/db/dbtest"
	"github.com/medreq/pyxis/devstack"
)

// devProcess is `pyxis-dev` (dev mode) running as a subprocess (this test binary, re-executed as main).
type devProcess struct {
	t                 *testing.T
	cmd               *exec.Cmd
	api, ui, temporal string
	mu                sync.Mutex
	out               strings.Builder
	tokens            map[string]string
	done              chan error
}

var tokenLine = regexp.MustCompile(`export ([A-Z_]+_TOKEN)=(\S+)`)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// startDev runs `pyxis-dev` with args and waits for its banner.
func startDev(t *testing.T, env []string, args ...string) *devProcess {
	t.Helper()
	p := &devProcess{t: t, api: freeAddr(t), ui: freeAddr(t), temporal: freeAddr(t), tokens: map[string]string{}, done: make(chan error, 1)}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(os.Environ(), execMainEnv+"=1",
		"PYXIS_HTTP_ADDR="+p.api, "PYXIS_DEV_UI_ADDR="+p.ui, "PYXIS_DEV_TEMPORAL_ADDR="+p.temporal,
		"PYXIS_MLLP_ADDR="+freeAddr(t), "PYXIS_DEV_CABINET_SIM_ADDR="+freeAddr(t), "PYXIS_DEV_CABINET_SIM_ADMIN="+freeAddr(t),
		"PYXIS_SIM_WITHDRAW_AFTER=1s", "TEMPORAL_ADDRESS=")
	p.cmd.Env = append(p.cmd.Env, env...)
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	p.cmd.Stderr = &lockedWriter{p: p}
	require.NoError(t, p.cmd.Start())
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			if m := tokenLine.FindStringSubmatch(line); m != nil {
				p.tokens[m[1]] = m[2]
			}
			p.mu.Unlock()
			if strings.Contains(line, "Press Ctrl-C to stop") {
				close(ready)
			}
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
	})
	select {
	case <-ready:
	case err := <-p.done:
		t.Fatalf("dev mode exited early (%v):\n%s", err, p.output())
	case <-time.After(3 * time.Minute):
		t.Fatalf("dev mode never became ready:\n%s", p.output())
	}
	return p
}

type lockedWriter struct{ p *devProcess }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

func (p *devProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// stop sends SIGINT, as Ctrl-C does, and requires a clean exit.
func (p *devProcess) stop() {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-p.done:
		require.NoError(p.t, err, "dev mode must exit cleanly on SIGINT:\n%s", p.output())
	case <-time.After(time.Minute):
		p.t.Fatalf("dev mode did not stop within a minute of SIGINT:\n%s", p.output())
	}
}

// client returns an API client of the subprocess using the tokens its banner printed.
func (p *devProcess) client() *apiClient {
	return newAPIClient(p.t, "http://"+p.api)
}

func (p *devProcess) token(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	tok, ok := p.tokens[name]
	require.True(p.t, ok, "banner printed no %s; tokens: %v", name, p.tokens)
	return tok
}

func (p *devProcess) demoRequest(c *apiClient, nurse string) string {
	p.t.Helper()
	status, cabs := c.do("GET", "/v1/cabinets", nurse, nil)
	require.Equal(p.t, http.StatusOK, status, cabs)
	status, meds := c.do("GET", "/v1/medications", nurse, nil)
	require.Equal(p.t, http.StatusOK, status, meds)
	require.Len(p.t, cabs["data"], 2, "two demo cabinets")
	require.GreaterOrEqual(p.t, len(meds["data"].([]any)), 12, "a dozen demo medications")
	cab := cabs["data"].([]any)[0].(map[string]any)
	med := meds["data"].([]any)[0].(map[string]any)
	status, body := c.do("POST", "/v1/requests", nurse, map[string]any{
		"cabinet_id": cab["id"], "patient": map[string]any{"mrn": "MRN-DEV-1", "bed": "7"},
		"priority": "urgent", "items": []map[string]any{{"medication_id": med["id"], "quantity": 1}},
	})
	require.Equal(p.t, http.StatusCreated, status, body)
	return body["id"].(string)
}

func TestDevModeRunsTheWholeSystem(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a full dev stack in a subprocess")
	}
	p := startDev(t, nil, "--ephemeral")
	out := p.output()
	assert.Contains(t, out, "http://"+p.api)
	assert.Contains(t, out, "REQ=$(curl", "the banner shows how to create a request")
	assert.Contains(t, out, "/approve", "the banner shows how to approve it")

	c := p.client()
	nurse, pharmacist := p.token("NURSE_ANA_TOKEN"), p.token("PHARM_BRUNO_TOKEN")
	id := p.demoRequest(c, nurse)
	c.waitStatus(id, nurse, "awaiting_approval")
	status, body := c.do("POST", "/v1/requests/"+id+"/approve", pharmacist, map[string]any{"note": "ok"})
	require.Equal(t, http.StatusAccepted, status, body)
	// The simulator withdraws by itself after PYXIS_SIM_WITHDRAW_AFTER.
	c.waitStatus(id, nurse, "dispensed")
	// One process, one registry: the api's /metrics has the worker's metrics too.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		m := scrapeMetrics(ct, "http://"+p.api)
		assert.Equal(ct, 1.0, m.value("pyxis_requests_ended_total", map[string]string{"status": "dispensed", "priority": "urgent"}))
		assert.Positive(ct, m.value("pyxis_http_requests_total", map[string]string{"route": "/v1/requests/:id/approve"}))
		assert.Positive(ct, m.value("temporal_num_pollers", nil))
	}, 15*time.Second, 250*time.Millisecond)

	resp, err := http.Get("http://" + p.ui + "/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, strings.ToLower(string(page)), "<html")

	// The UI decodes payloads through the API's codec endpoint, which answers its preflight.
	resp, err = http.Get("http://" + p.ui + "/api/v1/settings")
	require.NoError(t, err)
	settings, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(settings), `"Endpoint":"http://`+p.api+`/codec"`)
	preflight, err := http.NewRequest(http.MethodOptions, "http://"+p.api+"/codec/decode", nil)
	require.NoError(t, err)
	preflight.Header.Set("Origin", "http://"+p.ui)
	preflight.Header.Set("Access-Control-Request-Method", "POST")
	resp, err = http.DefaultClient.Do(preflight)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, "http://"+p.ui, resp.Header.Get("Access-Control-Allow-Origin"))

	tc, err := client.Dial(client.Options{HostPort: p.temporal, Namespace: "default", Logger: quietLogger{}})
	require.NoError(t, err)
	defer tc.Close()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp, err := tc.ListWorkflow(context.Background(), listRequest(`RequestStatus="dispensed" AND Priority="urgent" AND RequestedBy="nurse-ana"`))
		if assert.NoError(ct, err) && assert.Len(ct, resp.GetExecutions(), 1) {
			assert.Equal(ct, id, resp.GetExecutions()[0].GetExecution().GetWorkflowId())
		}
	}, 15*time.Second, 250*time.Millisecond)

	p.checkUICodecSession(tc, id)
	p.stop()
}

var sessionLine = regexp.MustCompile(`(http://\S+/codec/session)\?token=(\S+)`)

// checkUICodecSession follows the banner's codec-session link as a browser would, then
// decodes the request's encrypted input as the dev Web UI does: with the session cookie, no
// Authorization header.
func (p *devProcess) checkUICodecSession(tc client.Client, id string) {
	t := p.t
	m := sessionLine.FindStringSubmatch(p.output())
	require.NotNil(t, m, "the banner prints the link that lets the dev UI decode payloads")

	it := tc.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first, err := it.Next()
	require.NoError(t, err)
	payloads := first.GetWorkflowExecutionStartedEventAttributes().GetInput()
	require.NotNil(t, payloads)
	assert.NotContains(t, string(payloads.GetPayloads()[0].GetData()), "MRN-DEV-1", "history holds ciphertext")
	body, err := protojson.Marshal(payloads)
	require.NoError(t, err)
	decode := func(cookie *http.Cookie) (int, string) {
		req, err := http.NewRequest(http.MethodPost, "http://"+p.api+"/codec/decode", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://"+p.ui)
		req.Header.Set("X-Namespace", "default")
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	status, _ := decode(nil)
	assert.Equal(t, http.StatusUnauthorized, status, "no session, no token: no patient data")

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(m[1] + "?token=" + m[2])
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Location"), p.ui, "back to the Web UI")
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "pyxis_codec_token" {
			session = ck
		}
	}
	require.NotNil(t, session, "the session cookie is set")
	assert.True(t, session.HttpOnly)
	assert.Equal(t, "/codec", session.Path)

	status, decoded := decode(session)
	require.Equal(t, http.StatusOK, status, decoded)
	var out struct {
		Payloads []struct {
			Data []byte `json:"data"`
		} `json:"payloads"`
	}
	require.NoError(t, json.Unmarshal([]byte(decoded), &out))
	require.NotEmpty(t, out.Payloads)
	assert.Contains(t, string(out.Payloads[0].Data), "MRN-DEV-1", "the session decodes the patient's data")

	resp, err = noRedirect.Get(m[1] + "?token=" + p.token("NURSE_ANA_TOKEN"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a nurse's token opens no codec session")
}

func TestDevModeResumesWorkflowsAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a full dev stack in a subprocess twice")
	}
	dir := t.TempDir()
	dbURL := dbtest.URL(t)
	// Dev mode keeps its Temporal's databases beside its own; they go with the test's.
	dbtest.DropBeside(t, dbURL, "_temporal", "_temporal_visibility")
	env := []string{"DATABASE_URL=" + dbURL, "PYXIS_DEV_DIR=" + dir}
	p := startDev(t, env)
	c := p.client()
	nurse, pharmacist := p.token("NURSE_ANA_TOKEN"), p.token("PHARM_BRUNO_TOKEN")
	id := p.demoRequest(c, nurse)
	c.waitStatus(id, nurse, "awaiting_approval")
	p.stop()

	p2 := startDev(t, env)
	c2 := p2.client()
	status, body := c2.do("POST", "/v1/requests/"+id+"/approve", pharmacist, nil)
	require.Equal(t, http.StatusAccepted, status, "a token from the first run still works after restart: %v", body)
	c2.waitStatus(id, nurse, "dispensed")
	p2.captureHistory(dir, id, "dispensed_across_restart")
	p2.stop()
	// Temporal's state is in PostgreSQL (dev mode's default store), beside the database; the
	// data folder records the store's history shard count.
	raw, err := os.ReadFile(dir + "/temporal-shards.json")
	require.NoError(t, err, "the store's history shard count is recorded in the data folder")
	assert.JSONEq(t, fmt.Sprintf(`{"postgres": %d}`, devstack.DefaultHistoryShards), string(raw))
}

// captureHistory writes the history of the dev stack's run id, once it has ended, as the
// end-to-end tests' captureHistory does, when captureEnv is set; dir is the stack's data
// folder, which holds its codec key.
func (p *devProcess) captureHistory(dir, id, name string) {
	if os.Getenv(captureEnv) == "" {
		return
	}
	raw, err := os.ReadFile(filepath.Join(dir, "codec-keys"))
	require.NoError(p.t, err)
	keys, err := codec.ParseKeys(strings.TrimSpace(string(raw)))
	require.NoError(p.t, err)
	cd, err := codec.New(keys)
	require.NoError(p.t, err)
	tc, err := client.Dial(client.Options{HostPort: p.temporal, Namespace: "default", Logger: quietLogger{}})
	require.NoError(p.t, err)
	defer tc.Close()
	writeHistory(p.t, tc, cd, id, name, true)
}

// quietLogger drops the Temporal client's logs in tests.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
