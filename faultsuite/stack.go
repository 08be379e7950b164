package faultsuite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/pgcluster"
	"github.com/medreq/pyxis/devstack"
	"github.com/medreq/pyxis/faultsuite/proxy"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/service"
	"github.com/medreq/pyxis/worker"
)

// Config says which fault scenario to run, and how big.
type Config struct {
	Scenario string
	// Requests is the size of the load (at least 200 in the tests); Rate how many start a
	// second.
	Requests int
	Rate     float64
	// Exe runs `pyxis api` and `pyxis worker` (this binary); Env is added to their
	// environment (the tests re-execute their binary as main).
	Exe string
	Env []string
	// Log receives progress lines; nil: none.
	Log io.Writer
	// SettleWithin bounds the wait for every request to end after the faults are healed.
	SettleWithin time.Duration
	// Seed makes the load repeatable.
	Seed uint64
	// DiscardData removes the data folder also after a run that found losses (kept otherwise,
	// for a look).
	DiscardData bool
	// CheckSettle is how long the checker lets projection and workflows catch up (30s).
	CheckSettle time.Duration
	// BeforeVerdict, when set, runs after the requests settled and before the verdict, with
	// the system's database: a test breaks an invariant there on purpose, and the verdict
	// must show it.
	BeforeVerdict func(ctx context.Context, databaseURL string) error
}

// stack is the system a fault scenario runs: a private Postgres cluster, a Temporal
// server in this process on a SQLite file, `pyxis api` (REST and the MLLP listener with its
// applier) and `pyxis worker` as processes of their own, the simulated cabinet (in this
// process, keeping its state in a file), and a proxy on each cabinet link: orders (worker →
// cabinet) and reports (cabinet → MLLP listener).
type stack struct {
	fc  Config
	dir string

	pg       *pgcluster.Cluster
	dbURL    string
	closeDB  func()
	store    *db.Store
	tOpts    devstack.TemporalOptions
	temporal *devstack.Temporal
	tc       client.Client

	sim                  *cabsim.Sim
	orders, reports      *proxy.Proxy
	apiAddr, mllpAddr    string
	secret               string
	env                  []string
	api, worker          *child
	cabinetIDs, plainIDs []int64

	// With replicas: a second api (api2Addr, mllp2Addr) and worker, and the balancer in
	// front of both apis. front is where the load goes: the balancer, or the one api.
	api2, worker2       *child
	api2Addr, mllp2Addr string
	lb                  *balancer
	front               string
}

// timings are the cabinet and withdrawal timings of a scenario's system.
type timings struct {
	// Window is the requests' withdrawal window, which bounds a cabinet command's retries
	// (0: the default).
	Window        time.Duration
	RetryInterval time.Duration
	AckTimeout    time.Duration
	WithdrawAfter time.Duration
	// PoolSize is how many connections the worker keeps to a cabinet (1 unless set).
	PoolSize int
	// Replicas runs two api and two worker processes, the apis behind a balancer; the
	// cabinet reports to the second api's listener, and the first applies the inbox.
	Replicas bool
}

func (fs *stack) logf(format string, args ...any) {
	if fs.fc.Log != nil {
		fmt.Fprintf(fs.fc.Log, "%s  "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...)
	}
}

// startStack starts the system; stop it with stop.
func startStack(ctx context.Context, fc Config, tm timings) (_ *stack, err error) {
	fs := &stack{fc: fc}
	defer func() {
		if err != nil {
			fs.stop(false)
		}
	}()
	if fs.dir, err = os.MkdirTemp("", "pyxis-fault-"); err != nil {
		return nil, err
	}
	// A private Postgres runs as the postgres OS user when we are root: it must reach it.
	if err := os.Chmod(fs.dir, 0o755); err != nil {
		return nil, err
	}
	if fs.pg, err = pgcluster.Start(ctx, filepath.Join(fs.dir, "postgres"), 0); err != nil {
		return nil, err
	}
	if fs.dbURL, err = devstack.CreateDatabase(ctx, fs.pg.URL("postgres"), "pyxis"); err != nil {
		return nil, err
	}
	pool, err := db.Open(ctx, fs.dbURL)
	if err != nil {
		return nil, err
	}
	fs.closeDB = pool.Close
	if err := db.Migrate(ctx, pool); err != nil {
		return nil, err
	}
	fs.store = db.NewStore(pool)
	if err := fs.seed(ctx); err != nil {
		return nil, err
	}

	frontend, err := devstack.FreePorts(1)
	if err != nil {
		return nil, err
	}
	fs.tOpts = devstack.TemporalOptions{
		FrontendAddr: fmt.Sprintf("127.0.0.1:%d", frontend[0]), Namespace: "default",
		DBFile: filepath.Join(fs.dir, "temporal.db"), LogFile: filepath.Join(fs.dir, "temporal.log"),
		PortsFile: filepath.Join(fs.dir, "temporal-ports.json"), ShardsFile: filepath.Join(fs.dir, "temporal-shards.json"),
	}
	if fs.temporal, err = devstack.StartTemporal(fs.tOpts); err != nil {
		return nil, err
	}
	// The api's ports are drawn once the Temporal server holds its own (drawn from the same
	// range), so the api subprocess never finds one of them taken.
	ports, err := devstack.FreePorts(4)
	if err != nil {
		return nil, err
	}
	fs.apiAddr, fs.mllpAddr = fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	fs.api2Addr, fs.mllp2Addr = fmt.Sprintf("127.0.0.1:%d", ports[2]), fmt.Sprintf("127.0.0.1:%d", ports[3])
	fs.front = fs.apiAddr
	fs.secret = "fault-scenarios-secret-" + filepath.Base(fs.dir)
	vars := map[string]string{
		"DATABASE_URL": fs.dbURL, "TEMPORAL_ADDRESS": fs.temporal.HostPort(), "TEMPORAL_NAMESPACE": "default",
		"PYXIS_JWT_SECRET": fs.secret, "PYXIS_HTTP_ADDR": fs.apiAddr, "PYXIS_MLLP_ADDR": fs.mllpAddr,
		"PYXIS_CODEC_DISABLED": "true", "PYXIS_LOG_FORMAT": "json", "PYXIS_LOG_LEVEL": "info", "PYXIS_RATE_LIMIT": "0",
		"PYXIS_METRICS_ADDR":           "off",
		"PYXIS_CABINET_RETRY_INTERVAL": tm.RetryInterval.String(), "PYXIS_CABINET_ACK_TIMEOUT": tm.AckTimeout.String(),
		"PYXIS_CABINET_CONNECT_TIMEOUT": "1s", "PYXIS_CABINET_POOL_SIZE": fmt.Sprint(max(tm.PoolSize, 1)), "PYXIS_SHUTDOWN_TIMEOUT": "10s", "PYXIS_SHUTDOWN_DELAY": "0s",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "", "PYXIS_ALLOW_SIMULATED_CABINETS": "false",
		"PYXIS_HL7_TIMEZONE": "UTC",
	}
	if tm.Window > 0 {
		vars["PYXIS_WITHDRAWAL_TIMEOUT"] = tm.Window.String()
	}
	fs.env = append(os.Environ(), fc.Env...)
	for k, v := range vars {
		fs.env = append(fs.env, k+"="+v)
	}
	cfg, err := service.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		return nil, err
	}
	if fs.tc, err = service.DialTemporal(ctx, cfg, nil); err != nil {
		return nil, err
	}
	saCtx, cancel := context.WithTimeout(ctx, time.Minute)
	err = worker.EnsureSearchAttributes(saCtx, fs.tc, "default")
	cancel()
	if err != nil {
		return nil, err
	}

	// The cabinet, behind its two links. With replicas it reports to the second api, so that
	// killing the first (the inbox's applier) takes the applier away and not the listener.
	reportTo := fs.mllpAddr
	if tm.Replicas {
		reportTo = fs.mllp2Addr
	}
	if fs.reports, err = proxy.New(reportTo); err != nil {
		return nil, err
	}
	fs.sim, err = cabsim.New(cabsim.Config{
		Listen: "127.0.0.1:0", ReportTo: fs.reports.Addr(), WithdrawAfter: tm.WithdrawAfter,
		ReportFormat: cabsim.FormatRDS, StateFile: filepath.Join(fs.dir, devstack.CabinetSimState),
	})
	if err != nil {
		return nil, err
	}
	if err := fs.sim.Start(ctx); err != nil {
		return nil, err
	}
	if fs.orders, err = proxy.New(fs.sim.Addr()); err != nil {
		return nil, err
	}
	if err := devstack.PointDemoCabinets(ctx, fs.store, fs.orders.Addr()); err != nil {
		return nil, err
	}

	if err := fs.startWorker(ctx); err != nil {
		return nil, err
	}
	if err := fs.startAPI(ctx); err != nil {
		return nil, err
	}
	if tm.Replicas {
		if err := fs.startReplicas(ctx); err != nil {
			return nil, err
		}
	}
	return fs, nil
}

// startReplicas starts the second worker and, once the first api leads the inbox, the second
// api and the balancer in front of both.
func (fs *stack) startReplicas(ctx context.Context) error {
	if err := waitFor(ctx, 30*time.Second, func() (bool, error) {
		return fs.store.LeadHeld(ctx, intake.InboxLeaderKey)
	}, "the first api to lead the inbox"); err != nil {
		return err
	}
	w, err := fs.spawn("worker")
	if err != nil {
		return err
	}
	fs.worker2 = w
	if err := waitStarted(ctx, w); err != nil {
		return err
	}
	a, err := fs.spawn("api", "PYXIS_HTTP_ADDR="+fs.api2Addr, "PYXIS_MLLP_ADDR="+fs.mllp2Addr)
	if err != nil {
		return err
	}
	fs.api2 = a
	if err := waitReady(ctx, a, fs.api2Addr); err != nil {
		return err
	}
	if fs.lb, err = newBalancer([]string{fs.apiAddr, fs.api2Addr}); err != nil {
		return err
	}
	fs.front = fs.lb.Addr()
	return nil
}

// stockPerPocket is what every plain pocket holds at the start: more than any run takes.
const stockPerPocket = 50_000

// seed loads the demo catalogue and fills the plain pockets.
func (fs *stack) seed(ctx context.Context) error {
	d, err := devstack.Seed(ctx, fs.store)
	if err != nil {
		return err
	}
	meds, err := fs.store.ListMedications(ctx)
	if err != nil {
		return err
	}
	seeder := pyxis.Actor{ID: "fault-seed", Role: pyxis.RoleSystem}
	for _, cab := range d.Cabinets {
		fs.cabinetIDs = append(fs.cabinetIDs, cab.ID)
		for _, m := range meds {
			if m.Controlled() {
				continue
			}
			if _, err := fs.store.SetStock(ctx, cab.ID, m.ID, stockPerPocket, devstack.DemoParLevel, seeder); err != nil {
				return err
			}
		}
	}
	for _, m := range meds {
		if !m.Controlled() {
			fs.plainIDs = append(fs.plainIDs, m.ID)
		}
	}
	return nil
}

// child is `pyxis api` or `pyxis worker`, its output in a file of the data folder.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// spawn starts `pyxis name` with the stack's environment and extra (KEY=value, overriding).
func (fs *stack) spawn(name string, extra ...string) (*child, error) {
	c := &child{name: name, done: make(chan struct{})}
	n := 0
	for {
		c.log = filepath.Join(fs.dir, fmt.Sprintf("%s-%d.log", name, n))
		if _, err := os.Stat(c.log); errors.Is(err, os.ErrNotExist) {
			break
		}
		n++
	}
	f, err := os.Create(c.log)
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(fs.fc.Exe, name)
	// exec uses the last value of a key given twice.
	c.cmd.Env = append(slices.Clone(fs.env), extra...)
	c.cmd.Stdout, c.cmd.Stderr = f, f
	if err := c.cmd.Start(); err != nil {
		_ = f.Close()
		return nil, err
	}
	go func() {
		c.err = c.cmd.Wait()
		_ = f.Close()
		close(c.done)
	}()
	return c, nil
}

// output is what the process logged so far.
func (c *child) output() string {
	b, _ := os.ReadFile(c.log)
	return string(b)
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill() {
	c.killLive()
}

// killLive is kill, reporting whether the process was running until the signal: a fault
// injected, not a dead process buried.
func (c *child) killLive() bool {
	if c == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
	}
	err := c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
	return err == nil
}

// terminate sends SIGTERM and waits up to bound, then kills.
func (c *child) terminate(bound time.Duration) {
	if c == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(bound):
		c.kill()
	}
}

func (fs *stack) startWorker(ctx context.Context) error {
	w, err := fs.spawn("worker")
	if err != nil {
		return err
	}
	fs.worker = w
	return waitStarted(ctx, w)
}

// waitStarted waits until worker w polls.
func waitStarted(ctx context.Context, w *child) error {
	return waitFor(ctx, time.Minute, func() (bool, error) {
		select {
		case <-w.done:
			return false, fmt.Errorf("pyxis worker exited (%v):\n%s", w.err, tail(w.output(), 20))
		default:
		}
		return strings.Contains(w.output(), `"msg":"worker started"`), nil
	}, "pyxis worker to start")
}

func (fs *stack) startAPI(ctx context.Context) error {
	a, err := fs.spawn("api")
	if err != nil {
		return err
	}
	fs.api = a
	return waitReady(ctx, a, fs.apiAddr)
}

// waitReady waits until api a at addr answers /readyz.
func waitReady(ctx context.Context, a *child, addr string) error {
	return waitFor(ctx, time.Minute, func() (bool, error) {
		select {
		case <-a.done:
			return false, fmt.Errorf("pyxis api exited (%v):\n%s", a.err, tail(a.output(), 20))
		default:
		}
		ok, _ := service.HTTPOK(ctx, "http://"+addr+"/readyz")
		return ok, nil
	}, "pyxis api to be ready")
}

// restartTemporal stops the Temporal server and starts it again on its store and address.
func (fs *stack) restartTemporal(down time.Duration) error {
	if err := fs.temporal.Stop(); err != nil {
		return fmt.Errorf("stop temporal: %w", err)
	}
	time.Sleep(down)
	t, err := devstack.StartTemporal(fs.tOpts)
	if err != nil {
		return fmt.Errorf("start temporal again: %w", err)
	}
	fs.temporal = t
	return nil
}

// stop stops everything; keep leaves the data folder (logs, databases) for a look.
func (fs *stack) stop(keep bool) {
	if fs.lb != nil {
		_ = fs.lb.Close()
	}
	for _, c := range []*child{fs.api, fs.api2, fs.worker, fs.worker2} {
		c.terminate(15 * time.Second)
	}
	if fs.sim != nil {
		_ = fs.sim.Close()
	}
	for _, p := range []*proxy.Proxy{fs.orders, fs.reports} {
		if p != nil {
			_ = p.Close()
		}
	}
	if fs.tc != nil {
		fs.tc.Close()
	}
	if fs.temporal != nil {
		_ = fs.temporal.Stop()
	}
	if fs.closeDB != nil {
		fs.closeDB()
	}
	if fs.pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_ = fs.pg.Stop(ctx)
		cancel()
	}
	if fs.dir != "" && !keep {
		_ = os.RemoveAll(fs.dir)
	}
}

// waitFor polls cond every 100ms until it holds, fails, or bound passes.
func waitFor(ctx context.Context, bound time.Duration, cond func() (bool, error), what string) error {
	deadline := time.Now().Add(bound)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s", bound, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
