package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/codec"
	"github.com/medreq/pyxis/service"
	"github.com/medreq/pyxis/worker"
)

// pyxisProcess is `pyxis api` or `pyxis worker` running as a subprocess (this test binary,
// re-executed as main) against the e2e stack's database, with its stderr (JSON lines) kept.
type pyxisProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func (p *pyxisProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *pyxisProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func startPyxis(t *testing.T, command string, env ...string) *pyxisProcess {
	t.Helper()
	p := &pyxisProcess{done: make(chan error, 1)}
	p.cmd = exec.Command(os.Args[0], command)
	p.cmd.Env = append(os.Environ(), execMainEnv+"=1", "DATABASE_URL="+e2e.dbURL, "PYXIS_CODEC_KEYS="+e2e.codecKeys,
		"PYXIS_LOG_FORMAT=json", "PYXIS_METRICS_ADDR=127.0.0.1:0", "PYXIS_HL7_TIMEZONE=UTC")
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	require.NoError(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLine waits until the process logs a line holding s.
func (p *pyxisProcess) waitLine(t *testing.T, s string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(p.output(), s) }, 2*time.Minute, 50*time.Millisecond,
		"the process never logged %q:\n%s", s, p.output())
}

// stop sends SIGTERM and requires an exit with status 0 within bound.
func (p *pyxisProcess) stop(t *testing.T, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	return p.waitExit(t, start, bound)
}

func (p *pyxisProcess) waitExit(t *testing.T, since time.Time, bound time.Duration) time.Duration {
	t.Helper()
	select {
	case err := <-p.done:
		require.NoError(t, err, "exit status 0 after SIGTERM:\n%s", p.output())
		return time.Since(since)
	case <-time.After(bound):
		t.Fatalf("still running %s after SIGTERM:\n%s", bound, p.output())
		return 0
	}
}

// logIndex is the position of the first line whose msg is msg, or -1.
func logIndex(out, msg string) int {
	for i, l := range strings.Split(out, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			return i
		}
	}
	return -1
}

// outcome is what one HTTP request of the load got.
type outcome struct {
	afterSignal bool // sent after SIGTERM
	gotConn     bool
	status      int
	err         error
}

// sendTracked sends req on a connection of its own and reports whether it got one, and a
// complete answer.
func sendTracked(req *http.Request) outcome {
	var got atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { got.Store(true) },
	}))
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	resp, err := cl.Do(req)
	o := outcome{err: err}
	if err == nil {
		var body map[string]any
		o.err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		o.status = resp.StatusCode
	}
	o.gotConn = got.Load()
	return o
}

func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err != nil
}

// `pyxis api` under load gets SIGTERM: /readyz answers 503 at once while requests are still
// served for PYXIS_SHUTDOWN_DELAY (the load, like a load balancer, stops sending when it sees
// 503); then it stops accepting, and requests in flight (bodies still arriving) complete; then
// the MLLP listener stops accepting and the frame under way is read, stored and acknowledged
// AA; then the applier stops, and the process exits 0 within the bound. No request that got a
// connection lost its answer, and none was answered 5xx but a 503.
func TestAPIStopsGracefullyOnSIGTERM(t *testing.T) {
	httpAddr, mllpAddr := freeAddr(t), freeAddr(t)
	const delay, timeout = 2 * time.Second, 20 * time.Second
	p := startPyxis(t, "api", "TEMPORAL_ADDRESS="+e2e.temporalAddr, "TEMPORAL_NAMESPACE="+e2e.namespace,
		"PYXIS_JWT_SECRET="+string(e2e.secret), "PYXIS_HTTP_ADDR="+httpAddr, "PYXIS_MLLP_ADDR="+mllpAddr,
		"PYXIS_ALLOW_SIMULATED_CABINETS=true", "PYXIS_RATE_LIMIT=0",
		"PYXIS_SHUTDOWN_DELAY="+delay.String(), "PYXIS_SHUTDOWN_TIMEOUT="+timeout.String())
	base := "http://" + httpAddr
	require.Eventually(t, func() bool { ok, _ := service.HTTPOK(context.Background(), base+"/readyz"); return ok },
		2*time.Minute, 100*time.Millisecond, "the api never became ready:\n%s", p.output())
	// Without an OTLP endpoint nothing is recorded, but every answer still names its trace.
	resp, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Regexp(t, `^[0-9a-f]{32}$`, resp.Header.Get(api.TraceIDHeader))
	c := newAPIClient(t, base)
	f := c.fixture(10_000)
	nurse := c.token("nurse-sigterm", pyxis.RoleNurse)
	createBody := func() []byte {
		b, _ := json.Marshal(map[string]any{"cabinet_id": f.cabinetID, "priority": "routine",
			"patient": map[string]any{"mrn": "MRN-SIGTERM", "bed": "1A"},
			"items":   []map[string]any{{"medication_id": f.meds[0], "quantity": 1}}})
		return b
	}
	newReq := func(method, path string, body io.Reader) *http.Request {
		req, err := http.NewRequest(method, base+path, body)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+nurse)
		req.Header.Set("Content-Type", "application/json")
		return req
	}

	// A cabinet reporting over HL7, and a count report whose frame starts before SIGTERM and
	// ends after the listener stopped accepting.
	admin := c.token("admin-sigterm", pyxis.RoleAdmin)
	code := fmt.Sprintf("T%d", time.Now().UnixNano()%1e9)
	controlID := "TERM-" + code
	status, cab := c.do("POST", "/v1/cabinets", admin, map[string]any{"code": code, "name": "n", "unit": "ICU", "driver": "hl7",
		"address": "127.0.0.1:9", "report_sources": []string{"127.0.0.1/32"}})
	require.Equal(t, http.StatusCreated, status, cab)
	status, med := c.do("POST", "/v1/medications", admin, map[string]any{"code": code + "-M", "name": "Ondansetron", "unit": "ampoule"})
	require.Equal(t, http.StatusCreated, status, med)
	status, row := c.do("PUT", fmt.Sprintf("/v1/cabinets/%d/stock/%d", int64(cab["id"].(float64)), int64(med["id"].(float64))),
		c.token("tech-sigterm", pyxis.RoleTechnician), map[string]any{"on_hand": 5, "par_level": 5})
	require.Equal(t, http.StatusOK, status, row)
	report, err := hl7.BuildOMS(hl7.Report{Event: cabinet.Event{Kind: cabinet.EventCount, CabinetCode: code,
		MessageControlID: controlID, At: time.Now(), MedicationCode: code + "-M", Actual: cabinet.CountOf(5)},
		MedicationName: "Ondansetron", Unit: "ampoule"})
	require.NoError(t, err)
	raw, err := report.Encode()
	require.NoError(t, err)
	frame := mllp.AppendFrame(nil, raw)
	mc, err := net.DialTimeout("tcp", mllpAddr, 2*time.Second)
	require.NoError(t, err)
	defer mc.Close()
	_, err = mc.Write(frame[:20])
	require.NoError(t, err)

	// Two requests whose bodies are still arriving when the server stops accepting.
	type slow struct {
		w    *io.PipeWriter
		body []byte
		res  chan outcome
	}
	var slows []slow
	for range 2 {
		pr, pw := io.Pipe()
		s := slow{w: pw, body: createBody(), res: make(chan outcome, 1)}
		req := newReq("POST", "/v1/requests", pr)
		req.ContentLength = int64(len(s.body))
		go func() { s.res <- sendTracked(req) }()
		_, err := pw.Write(s.body[:len(s.body)/2])
		require.NoError(t, err)
		slows = append(slows, s)
	}

	// The load: creates and lists, until /readyz answers 503.
	var (
		signalled, stopSending atomic.Bool
		mu                     sync.Mutex
		outcomes               []outcome
		wg                     sync.WaitGroup
		saw503                 = make(chan struct{})
	)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 2000 && !stopSending.Load(); n++ {
				after := signalled.Load()
				var o outcome
				if i%3 == 2 {
					o = sendTracked(newReq("GET", "/v1/requests?limit=5", nil))
				} else {
					o = sendTracked(newReq("POST", "/v1/requests", bytes.NewReader(createBody())))
				}
				o.afterSignal = after
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		}()
	}
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			o := sendTracked(newReq("GET", "/readyz", nil))
			if o.status == http.StatusServiceUnavailable || (o.err != nil && signalled.Load()) {
				stopSending.Store(true)
				close(saw503)
				return
			}
		}
	}()
	// The signal comes once the load is under way: a few dozen answers in.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(outcomes) >= 30
	}, time.Minute, 20*time.Millisecond, "the load never got going")
	signalledAt := time.Now()
	signalled.Store(true)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-saw503:
	case <-time.After(delay):
		t.Fatal("/readyz did not answer 503 within the shutdown delay")
	}
	wg.Wait()
	assert.False(t, refused(httpAddr), "still accepting during the delay")

	// The HTTP listener closes once the delay is over; the two slow bodies then arrive.
	require.Eventually(t, func() bool { return refused(httpAddr) }, delay+10*time.Second, 20*time.Millisecond)
	for _, s := range slows {
		_, err := s.w.Write(s.body[len(s.body)/2:])
		require.NoError(t, err)
		require.NoError(t, s.w.Close())
	}
	for _, s := range slows {
		o := <-s.res
		require.NoError(t, o.err, "a request in flight gets its whole answer")
		assert.Equal(t, http.StatusCreated, o.status)
	}
	// Then the MLLP listener closes; the frame under way ends and is acknowledged.
	require.Eventually(t, func() bool { return refused(mllpAddr) }, 10*time.Second, 20*time.Millisecond)
	_, err = mc.Write(frame[20:])
	require.NoError(t, err)
	require.NoError(t, mc.SetReadDeadline(time.Now().Add(10*time.Second)))
	answer, err := mllp.NewReader(mc, 0).ReadFrame()
	require.NoError(t, err, "the frame under way is answered")
	ack, err := hl7.ParseACK(answer)
	require.NoError(t, err)
	assert.True(t, ack.Code.Accepted(), "acknowledged %s %s", ack.Code, ack.Text)

	took := p.waitExit(t, signalledAt, delay+timeout+10*time.Second)
	t.Logf("exited %s after SIGTERM (delay %s)", took.Round(time.Millisecond), delay)

	var stored string
	require.NoError(t, e2e.pool.QueryRow(context.Background(),
		"SELECT state::text FROM cabinet_inbox WHERE message_control_id = $1", controlID).Scan(&stored),
		"the acknowledged report is in the inbox")
	served, servedAfter := 0, 0
	for _, o := range outcomes {
		if !o.gotConn {
			assert.True(t, o.afterSignal, "no connection before SIGTERM: %v", o.err)
			continue
		}
		if !assert.NoError(t, o.err, "a request that got a connection gets a complete answer") {
			continue
		}
		if o.status >= 500 {
			assert.True(t, o.status == http.StatusServiceUnavailable && o.afterSignal, "status %d", o.status)
			continue
		}
		assert.Contains(t, []int{http.StatusCreated, http.StatusOK}, o.status)
		served++
		if o.afterSignal {
			servedAfter++
		}
	}
	t.Logf("%d requests served, %d of them sent after SIGTERM", served, servedAfter)
	assert.Positive(t, served)

	out := p.output()
	order := []string{"api shutting down: /readyz answers 503", "http server stopped", "mllp listener stopped", "inbox applier stopped"}
	prev := -1
	for _, msg := range order {
		i := logIndex(out, msg)
		assert.Greater(t, i, prev, "%q logged after %v:\n%s", msg, order, out)
		prev = i
	}
}

// `pyxis worker` gets SIGTERM while cabinet commands run (the cabinets take 2s to
// acknowledge): it stops polling, lets the running commands finish, and exits 0 within
// PYXIS_SHUTDOWN_TIMEOUT. No activity was cut short (no failure, timeout or cancellation in
// any history; the cabinets saw each order once), and requests approved while it stopped
// complete once a new worker starts.
func TestWorkerStopsGracefullyOnSIGTERM(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	interceptors, err := service.TemporalInterceptors()
	require.NoError(t, err)
	tc := ts.NewClientWithOptions(client.Options{DataConverter: codec.NewDataConverter(e2e.codec), Interceptors: interceptors,
		Logger: sdklog.NewStructuredLogger(e2eLogger)})
	saCtx, saCancel := context.WithTimeout(context.Background(), time.Minute)
	defer saCancel()
	require.NoError(t, worker.EnsureSearchAttributes(saCtx, tc, ts.GetDefaultNamespace()))
	cfg := testConfig()
	cfg.JWTSecret, cfg.Codec = e2e.secret, e2e.codec
	as := api.NewServer(e2e.store, tc, cfg)
	srv := httptestServer(t, as)
	c := newAPIClient(t, srv)

	// Cabinets that never report a withdrawal: the requests end ready at the cabinet.
	cabs := []hl7Cabinet{c.hl7Cabinet(cabsim.FormatRDS, 0, 10), c.hl7Cabinet(cabsim.FormatRDS, 0, 10)}
	slowAck, err := cabsim.ParseFaults([]string{"slow=2s"})
	require.NoError(t, err)
	for _, cab := range cabs {
		cab.sim.SetFaults(slowAck)
	}
	const timeout = 15 * time.Second
	w1 := startPyxis(t, "worker", "TEMPORAL_ADDRESS="+ts.GetFrontendHostPort(), "TEMPORAL_NAMESPACE="+ts.GetDefaultNamespace(),
		"PYXIS_CABINET_ACK_TIMEOUT=8s", "PYXIS_SHUTDOWN_TIMEOUT="+timeout.String())
	w1.waitLine(t, "worker started")

	nurse := c.token("nurse-wstop", pyxis.RoleNurse)
	var ids []string
	for _, cab := range cabs {
		for range 2 {
			ids = append(ids, c.create(cab.fixture, nurse, 1))
		}
	}
	for _, id := range ids {
		c.waitStatus(id, nurse, "awaiting_approval")
		c.approveOnce(id)
	}
	// Wait for a cabinet command under way on the worker.
	running := ""
	require.Eventually(t, func() bool {
		for _, id := range ids {
			d, err := tc.DescribeWorkflowExecution(context.Background(), id, "")
			if err != nil {
				continue
			}
			for _, pa := range d.GetPendingActivities() {
				if pa.GetActivityType().GetName() == "DispenseOrder" && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
					running = id
					return true
				}
			}
		}
		return false
	}, time.Minute, 20*time.Millisecond, "a cabinet command runs")
	took := w1.stop(t, timeout+10*time.Second)
	t.Logf("worker exited %s after SIGTERM", took.Round(time.Millisecond))
	assert.GreaterOrEqual(t, logIndex(w1.output(), "worker stopped"), 0, w1.output())

	// The command that ran when SIGTERM came completed on that worker.
	dispense := map[int64]bool{}
	completed := false
	for _, e := range historyEvents(t, tc, running) {
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "DispenseOrder" {
			dispense[e.GetEventId()] = true
		}
		if a := e.GetActivityTaskCompletedEventAttributes(); a != nil && dispense[a.GetScheduledEventId()] {
			completed = true
		}
	}
	assert.True(t, completed, "the cabinet command that ran at SIGTERM completed before the worker exited")

	// A request made while no worker runs, then a new worker: every request ends ready at
	// its cabinet.
	id := c.create(cabs[0].fixture, nurse, 1)
	ids = append(ids, id)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.ServeWorker(ctx, tc, e2e.store, service.Config{TemporalNamespace: ts.GetDefaultNamespace(), CabinetAckTimeout: 8 * time.Second})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	c.waitStatus(id, nurse, "awaiting_approval")
	c.approveOnce(id)
	for _, id := range ids {
		c.waitStatus(id, nurse, "ready_at_cabinet")
		for _, e := range historyEvents(t, tc, id) {
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
				enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
				t.Errorf("request %s: an activity was cut short: %v", id, e)
			}
		}
	}
	accepted, dup := 0, 0
	for _, cab := range cabs {
		st := cab.sim.Stats()
		accepted += st.OrdersAccepted
		dup += st.DuplicatesRecognised
	}
	assert.Equal(t, len(ids), accepted, "each order reached its cabinet")
	assert.Zero(t, dup, "no command was sent again after being cut short")
}

func httptestServer(t *testing.T, as *api.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := service.NewHTTPServer(as.Handler())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); as.Close() })
	return "http://" + ln.Addr().String()
}

func historyEvents(t *testing.T, tc client.Client, id string) []*historypb.HistoryEvent {
	t.Helper()
	it := tc.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if errors.Is(err, context.Canceled) {
			break
		}
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}
