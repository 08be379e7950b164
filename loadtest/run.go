package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/medreq/pyxis/loadtest/simuser"
)

// Env is what the caller knows about the system under test beyond its URL.
type Env struct {
	// Mode is "dev" (the system runs in this process) or "api".
	Mode string
	// TemporalStore is dev mode's Temporal store, for the report.
	TemporalStore string
	// JWTSecret signs the simulated users' tokens (HS256).
	JWTSecret []byte
	// TemporalAddress and Namespace reach the system's Temporal server; the baseline needs
	// them.
	TemporalAddress string
	Namespace       string
	// TemporalCompression is the system's own gRPC compression to Temporal (nil: the SDK's
	// default, gzip): the baseline's client uses the same, so both sides pay the same for
	// their calls.
	TemporalCompression client.GrpcCompression
	// InProcess says the system runs in this process: the report then gives its memory.
	InProcess bool
	// Disposable says the system is thrown away after the run: what the run leaves open
	// needs no cleaning up.
	Disposable bool
	// Progress, when set, receives a live progress line (give it only a terminal).
	Progress io.Writer
}

// runner is one run in progress.
type runner struct {
	cfg    Config
	env    Env
	start  time.Time
	rec    *recorder
	api    *apiClient
	people *simuser.People
	runID  string
	seed   uint64
	mem    *memSampler
	// cpu is the process's and the machine's CPU time when the measured phase began.
	cpu cpuMark

	// created counts requests answered 201; createFailures the creates that were not.
	created        atomic.Int64
	createFailures atomic.Int64
	// finished counts requests followed to their end, for the progress line.
	finished atomic.Int64

	mu       sync.Mutex
	requests []*tracked
}

// Run runs the scenario cfg names against the API at cfg.API and returns its report. cfg must
// have been normalized and validated.
func Run(ctx context.Context, cfg Config, env Env) (*Report, error) {
	if len(env.JWTSecret) == 0 {
		return nil, errors.New("no JWT secret to sign the simulated users' tokens with (PYXIS_JWT_SECRET, or --dev-dir of a dev mode)")
	}
	if (cfg.Baseline || cfg.Scenario == ScenarioBaseline) && env.TemporalAddress == "" {
		return nil, errors.New("--baseline runs workflows on the system's Temporal server: set TEMPORAL_ADDRESS")
	}
	// However the scenario goes, the run ends: its bound, the settle wait, and time for setup,
	// the backlog (filled and awaiting approval at two and a half a second or more) and the
	// baseline.
	bound := cfg.Duration
	if bound == 0 {
		bound = MaxDuration
	}
	if cfg.Scenario == ScenarioBacklog {
		bound += time.Duration(cfg.Backlog) * 400 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, bound+cfg.Settle+15*time.Minute)
	defer cancel()
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	r := &runner{
		cfg: cfg, env: env, seed: seed,
		people: newPeople(env.JWTSecret, cfg.UserRate, cfg.UserBurst),
		runID:  strconv.FormatUint(seed%(1<<32), 36) + strconv.FormatInt(time.Now().Unix()%100000, 36),
	}
	r.rec = newRecorder(time.Now())
	var err error
	if r.api, err = newAPIClient(cfg.API, cfg.HTTPTimeout, r.rec); err != nil {
		return nil, err
	}
	defer r.api.Close()
	if env.InProcess {
		r.mem = startMemSampler()
		defer r.mem.stop()
	}

	rep := &Report{Schema: SchemaVersion, Run: r.runInfo(), Environment: environment()}
	switch cfg.Scenario {
	case ScenarioLifecycle:
		err = r.lifecycle(ctx, rep)
	case ScenarioHotPocket:
		err = r.hotPocket(ctx, rep)
	case ScenarioBacklog:
		err = r.backlog(ctx, rep)
	case ScenarioBaseline:
		err = r.baselineOnly(ctx, rep)
	default:
		err = fmt.Errorf("unknown scenario %q", cfg.Scenario)
	}
	if err != nil {
		return nil, err
	}
	if r.mem != nil {
		rep.Memory = r.mem.report()
	}
	rep.Environment.LoadAverageEnd = loadAverage()
	rep.Targets = judge(cfg, rep)
	return rep, nil
}

// begin marks the start of the measured phase.
func (r *runner) begin(rep *Report) {
	now := time.Now()
	r.start = now
	r.rec = newRecorder(now)
	r.api.rec = r.rec
	rep.StartedAt = now.UTC()
	r.cpu = markCPU()
}

// end closes the measured phase and fills in the endpoints.
func (r *runner) end(rep *Report, endpoints []string) {
	now := time.Now()
	rep.FinishedAt = now.UTC()
	rep.DurationSeconds = round(now.Sub(r.start).Seconds(), 3)
	rep.Endpoints, rep.Aggregated, rep.ErrorExamples = r.rec.snapshot(endpoints, now)
	if self, machine, ok := r.cpu.spent(); ok && r.env.InProcess {
		c := &CPUReport{Seconds: round(self.Seconds(), 3), MachineSeconds: round(machine.Seconds(), 3)}
		if n := r.created.Load(); n > 0 {
			c.PerRequestMs, c.MachinePerRequestMs = perMs(self, n), perMs(machine, n)
		}
		rep.CPU = c
	}
}

func (r *runner) runInfo() RunInfo {
	c := r.cfg
	model := "open"
	if c.Closed() {
		model = "closed"
	}
	return RunInfo{
		Scenario: c.Scenario, Mode: r.env.Mode, API: c.API, TemporalStore: r.env.TemporalStore, Model: model,
		Rate: c.Rate, Users: c.Users, Pharmacists: c.Pharmacists, Requests: c.Requests,
		DurationSeconds: c.Duration.Seconds(), WithdrawAfterMs: float64(c.WithdrawAfter.Milliseconds()),
		WithdrawVia: c.WithdrawVia, PollIntervalMs: float64(c.PollInterval.Milliseconds()), Follow: c.Follow,
		ControlledShare: c.ControlledShare, RejectShare: c.RejectShare, Baseline: c.Baseline,
		BaselineUsers: c.BaselineUsers, BaselineActivities: c.BaselineActivities, Backlog: c.Backlog, PocketStock: c.PocketStock, Seed: r.seed,
	}
}

// rng returns a random source of its own for stream n, derived from the run's seed.
func (r *runner) rng(n uint64) *rand.Rand {
	return rand.New(rand.NewPCG(r.seed, n))
}

func environment() Environment {
	return Environment{
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), LoadAverageStart: loadAverage(),
	}
}

// loadAverage reads the 1, 5 and 15 minute load averages; nil where /proc is not there.
func loadAverage() []float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return nil
	}
	out := make([]float64, 3)
	for i := range out {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return nil
		}
		out[i] = v
	}
	return out
}

// budget hands out arrivals until the run's bound is reached: Requests, or Duration from
// start. The first refusal closes done.
type budget struct {
	limit    int64 // 0: none
	deadline time.Time
	taken    atomic.Int64
	once     sync.Once
	done     chan struct{}
	endedAt  atomic.Int64 // unix nanoseconds of the first refusal
}

func newBudget(requests int, duration time.Duration, start time.Time) *budget {
	b := &budget{limit: int64(requests), done: make(chan struct{})}
	if duration > 0 {
		b.deadline = start.Add(duration)
	} else {
		b.deadline = start.Add(MaxDuration)
	}
	return b
}

// take reports whether one more arrival is allowed.
func (b *budget) take() bool {
	if !time.Now().Before(b.deadline) || (b.limit > 0 && b.taken.Add(1) > b.limit) {
		b.close()
		return false
	}
	return true
}

// close ends the arrivals.
func (b *budget) close() {
	b.once.Do(func() {
		b.endedAt.Store(time.Now().UnixNano())
		close(b.done)
	})
}

// ended returns when arrivals ended.
func (b *budget) ended() time.Time { return time.Unix(0, b.endedAt.Load()) }

// settleContext returns a context that ends Settle after arrivals end (or with ctx): the
// bounded wait of the requests still open.
func (r *runner) settleContext(ctx context.Context, b *budget) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-b.done:
		case <-sctx.Done():
			return
		}
		t := time.NewTimer(r.cfg.Settle)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-sctx.Done():
		}
	}()
	return sctx, cancel
}

// perMs is d over n, in milliseconds.
func perMs(d time.Duration, n int64) float64 {
	return round(float64(d.Microseconds())/1000/float64(n), 3)
}
