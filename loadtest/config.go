package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Scenarios of a run.
const (
	ScenarioLifecycle = "lifecycle"
	ScenarioHotPocket = "hot-pocket"
	ScenarioBacklog   = "backlog"
	// ScenarioBaseline runs only the bare-Temporal baseline: Requests workflows, Users at
	// once. It measures the Temporal server alone, without the API, the database or polling.
	ScenarioBaseline = "baseline"
)

// Hard caps: no flag combination runs longer or creates more than this.
const (
	MaxRequests = 100_000
	MaxDuration = time.Hour
	// MaxRate bounds the open model's arrivals per second.
	MaxRate = 2_000
	// MaxUsers bounds the closed model's nurses, and the pharmacists.
	MaxUsers = 10_000
)

// How withdrawals are reported.
const (
	// WithdrawByCabinet leaves withdrawals to the system's cabinets (dev mode's simulator).
	WithdrawByCabinet = "cabinet"
	// WithdrawByAPI has the nurse report the withdrawal through POST /v1/cabinets/{id}/events.
	WithdrawByAPI = "api"
)

// Defaults of the flags.
const (
	DefaultAPI           = "http://localhost:8080"
	DefaultUsers         = 32
	DefaultPharmacists   = 4
	DefaultWithdrawAfter = 200 * time.Millisecond
	DefaultPollInterval  = 250 * time.Millisecond
	// FollowWait and FollowPoll are the ways a nurse follows her request (--follow).
	FollowWait       = "wait"
	FollowPoll       = "poll"
	DefaultHotPocket = 1000
	DefaultBacklog   = 10_000
)

// Config is one run's settings; RegisterFlags binds them to flags and Validate checks them.
type Config struct {
	// Scenario is ScenarioLifecycle, ScenarioHotPocket, ScenarioBacklog or ScenarioBaseline.
	Scenario string
	// API is the base URL of the system's REST API.
	API string
	// AllowRemote permits an API that is not on this machine's loopback interface.
	AllowRemote bool
	// Rate, when positive, selects the open model: arrivals per second.
	Rate float64
	// Users is the closed model's number of nurses (0: DefaultUsers when Rate is 0).
	Users int
	// Requests bounds the number of requests created (0: no bound but Duration).
	Requests int
	// Duration bounds the time arrivals go on (0: no bound but Requests).
	Duration time.Duration
	// Pharmacists is how many pharmacists work the queue.
	Pharmacists int
	// WithdrawAfter is how long after the authorization the withdrawal is reported.
	WithdrawAfter time.Duration
	// WithdrawVia is WithdrawByCabinet or WithdrawByAPI.
	WithdrawVia string
	// PollInterval is how often a nurse looks at her request when she polls, and how long
	// she pauses after a failed read when she waits.
	PollInterval time.Duration
	// Follow is how a nurse follows her request: FollowWait (a read that waits for the next
	// change, ?wait=&version=) or FollowPoll (a read every PollInterval, as an outside client
	// that does not know ?wait does).
	Follow string
	// QueueInterval is how long a pharmacist with nothing to do waits before looking again.
	QueueInterval time.Duration
	// Settle bounds the wait for outstanding requests once arrivals end (and, in the backlog
	// scenario, how long the queue may stop growing before measuring begins).
	Settle time.Duration
	// HTTPTimeout bounds one API call.
	HTTPTimeout time.Duration
	// UserRate and UserBurst pace each simulated user, below the API's per-user limit
	// (PYXIS_RATE_LIMIT 20/s, burst 40 by default), so a 429 is the system's doing.
	UserRate  float64
	UserBurst int
	// ControlledShare is the share of requests holding a medication that needs two
	// pharmacists; RejectShare the share that pharmacists reject.
	ControlledShare float64
	RejectShare     float64
	// Baseline also runs the bare-Temporal baseline; BaselineUsers is its concurrency in
	// open-model runs (closed-model runs use Users).
	Baseline      bool
	BaselineUsers int
	// BaselineActivities prices the lifecycle's shape in Temporal alone: the baseline
	// scenario's bare workflows take that many of a dispensed request's steps as no-op
	// activities (BaselineWorkflow). The ratio is judged against the bare shape, 0.
	BaselineActivities int
	// Backlog is how many requests the backlog scenario leaves awaiting approval.
	Backlog int
	// PocketStock is the hot-pocket scenario's on_hand.
	PocketStock int
	// MaxRSS is the memory target of an in-process run, in bytes (0: not judged).
	MaxRSS int64
	// Seed makes the random choices repeatable (0: from the clock).
	Seed uint64
	// JSONPath and HTMLPath, when set, receive the report.
	JSONPath string
	HTMLPath string
}

// DefaultConfig returns the flags' defaults.
func DefaultConfig() Config {
	return Config{
		Scenario:        ScenarioLifecycle,
		API:             DefaultAPI,
		Pharmacists:     DefaultPharmacists,
		WithdrawAfter:   DefaultWithdrawAfter,
		WithdrawVia:     WithdrawByCabinet,
		PollInterval:    DefaultPollInterval,
		Follow:          FollowWait,
		QueueInterval:   250 * time.Millisecond,
		Settle:          60 * time.Second,
		HTTPTimeout:     30 * time.Second,
		UserRate:        15,
		UserBurst:       20,
		ControlledShare: 0.2,
		RejectShare:     0.05,
		BaselineUsers:   DefaultUsers,
		Backlog:         DefaultBacklog,
		PocketStock:     100,
		MaxRSS:          2 << 30,
	}
}

// RegisterFlags binds c's fields to flags of fs, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Scenario, "scenario", c.Scenario, "lifecycle, hot-pocket, backlog, or baseline (bare Temporal workflows only)")
	fs.StringVar(&c.API, "api", c.API, "base URL of the API under test (ignored with --dev)")
	fs.BoolVar(&c.AllowRemote, "allow-remote", c.AllowRemote, "allow an API that is not on loopback (127.0.0.0/8, ::1, localhost)")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "open model: requests per second (excludes --users)")
	fs.IntVar(&c.Users, "users", c.Users, fmt.Sprintf("closed model: nurses, each creating a request and waiting until it is terminal (default %d without --rate)", DefaultUsers))
	fs.IntVar(&c.Requests, "requests", c.Requests, fmt.Sprintf("requests to create (at most %d; hot-pocket: concurrent requests, default %d)", MaxRequests, DefaultHotPocket))
	fs.DurationVar(&c.Duration, "duration", c.Duration, fmt.Sprintf("how long arrivals go on (at most %s)", MaxDuration))
	fs.IntVar(&c.Pharmacists, "pharmacists", c.Pharmacists, "pharmacists working the queue (at least 2 when requests hold controlled medications)")
	fs.DurationVar(&c.WithdrawAfter, "withdraw-after", c.WithdrawAfter, "the cabinet reports the withdrawal this long after authorizing")
	fs.StringVar(&c.WithdrawVia, "withdraw-via", c.WithdrawVia, "who reports withdrawals: cabinet (the system's cabinet driver or simulator) or api (the nurse, through POST /v1/cabinets/{id}/events)")
	fs.DurationVar(&c.PollInterval, "poll-interval", c.PollInterval, "with --follow poll: how often a nurse looks at her request")
	fs.StringVar(&c.Follow, "follow", c.Follow, "how a nurse follows her request: wait (each read waits for the next change, ?wait=&version=) or poll (a read every --poll-interval)")
	fs.DurationVar(&c.QueueInterval, "queue-interval", c.QueueInterval, "how long a pharmacist with nothing to do waits before looking at the queue again")
	fs.DurationVar(&c.Settle, "settle", c.Settle, "how long requests still open when arrivals end may take to become terminal (backlog: how long the queue may stop growing before measuring begins)")
	fs.DurationVar(&c.HTTPTimeout, "http-timeout", c.HTTPTimeout, "bound of one API call")
	fs.Float64Var(&c.UserRate, "user-rate", c.UserRate, "calls per second of one simulated user (keep below the API's PYXIS_RATE_LIMIT)")
	fs.IntVar(&c.UserBurst, "user-burst", c.UserBurst, "burst of one simulated user's calls (keep below PYXIS_RATE_BURST)")
	fs.Float64Var(&c.ControlledShare, "controlled-share", c.ControlledShare, "share of requests holding a controlled medication (two pharmacists)")
	fs.Float64Var(&c.RejectShare, "reject-share", c.RejectShare, "share of requests the pharmacists reject")
	fs.BoolVar(&c.Baseline, "baseline", c.Baseline, "also run as many bare workflows of the same shape on the same Temporal server")
	fs.IntVar(&c.BaselineUsers, "baseline-users", c.BaselineUsers, "concurrency of the baseline in open-model runs")
	fs.IntVar(&c.BaselineActivities, "baseline-activities", c.BaselineActivities, fmt.Sprintf("baseline scenario: steps of a dispensed request each bare workflow takes as no-op activities, 0 to %d (3: the lifecycle's shape in Temporal alone)", MaxBaselineActivities))
	fs.IntVar(&c.Backlog, "backlog", c.Backlog, "backlog scenario: requests left awaiting approval")
	fs.IntVar(&c.PocketStock, "pocket-stock", c.PocketStock, "hot-pocket scenario: on_hand of the pocket")
	fs.Int64Var(&c.MaxRSS, "max-rss", c.MaxRSS, "memory target of an in-process run, bytes (0: not judged)")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the random choices (0: from the clock)")
	fs.StringVar(&c.JSONPath, "json", c.JSONPath, "write the report as JSON to this file")
	fs.StringVar(&c.HTMLPath, "html", c.HTMLPath, "write the report as a self-contained HTML page to this file")
}

// Normalize fills in the defaults that depend on other settings.
func (c *Config) Normalize() {
	if c.Rate == 0 && c.Users == 0 {
		c.Users = DefaultUsers
	}
	if c.Scenario == ScenarioHotPocket && c.Requests == 0 {
		c.Requests = DefaultHotPocket
	}
}

// Closed reports whether arrivals follow the closed model.
func (c Config) Closed() bool { return c.Rate <= 0 }

// Validate reports every problem of c at once. Call Normalize first.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Scenario {
	case ScenarioLifecycle, ScenarioHotPocket, ScenarioBacklog:
	case ScenarioBaseline:
		if !c.Closed() || c.Requests == 0 {
			bad("the baseline scenario runs --requests bare workflows, --users at once: give --requests, not --rate")
		}
	default:
		bad("--scenario %q: want lifecycle, hot-pocket, backlog or baseline", c.Scenario)
	}
	if err := CheckTarget(c.API, c.AllowRemote); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.Rate < 0 || c.Rate > MaxRate:
		bad("--rate %g: want 0 < rate <= %d", c.Rate, MaxRate)
	case c.Rate > 0 && c.Users > 0:
		bad("--rate and --users exclude each other: --rate is the open model, --users the closed one")
	}
	if c.Users < 0 || c.Users > MaxUsers {
		bad("--users %d: want 1 to %d", c.Users, MaxUsers)
	}
	if c.Requests < 0 || c.Requests > MaxRequests {
		bad("--requests %d: want at most %d", c.Requests, MaxRequests)
	}
	if c.Duration < 0 || c.Duration > MaxDuration {
		bad("--duration %s: want at most %s", c.Duration, MaxDuration)
	}
	if c.Requests == 0 && c.Duration == 0 && c.Scenario != ScenarioHotPocket {
		bad("give --requests, --duration or both: a run needs a bound")
	}
	if c.Pharmacists < 1 || c.Pharmacists > MaxUsers {
		bad("--pharmacists %d: want 1 to %d", c.Pharmacists, MaxUsers)
	} else if c.Pharmacists < 2 && c.ControlledShare > 0 && c.Scenario == ScenarioLifecycle {
		bad("--pharmacists %d: controlled requests need two different pharmacists; use 2 or more, or --controlled-share 0", c.Pharmacists)
	}
	if c.WithdrawAfter < 0 || c.WithdrawAfter > time.Hour {
		bad("--withdraw-after %s: want 0 to 1h", c.WithdrawAfter)
	}
	if c.WithdrawVia != WithdrawByCabinet && c.WithdrawVia != WithdrawByAPI {
		bad("--withdraw-via %q: want cabinet or api", c.WithdrawVia)
	}
	if c.Follow != FollowWait && c.Follow != FollowPoll {
		bad("--follow %q: want wait or poll", c.Follow)
	}
	if c.PollInterval < 10*time.Millisecond {
		bad("--poll-interval %s: want at least 10ms", c.PollInterval)
	}
	if c.QueueInterval < 10*time.Millisecond {
		bad("--queue-interval %s: want at least 10ms", c.QueueInterval)
	}
	if c.Settle < 0 || c.Settle > time.Hour {
		bad("--settle %s: want 0 to 1h", c.Settle)
	}
	if c.HTTPTimeout <= 0 || c.HTTPTimeout > 5*time.Minute {
		bad("--http-timeout %s: want more than 0, at most 5m", c.HTTPTimeout)
	}
	if c.UserRate <= 0 || c.UserBurst < 1 {
		bad("--user-rate and --user-burst must be positive")
	}
	if c.ControlledShare < 0 || c.ControlledShare > 1 {
		bad("--controlled-share %g: want 0 to 1", c.ControlledShare)
	}
	if c.RejectShare < 0 || c.RejectShare > 1 {
		bad("--reject-share %g: want 0 to 1", c.RejectShare)
	}
	if c.BaselineUsers < 1 || c.BaselineUsers > MaxUsers {
		bad("--baseline-users %d: want 1 to %d", c.BaselineUsers, MaxUsers)
	}
	switch {
	case c.BaselineActivities < 0 || c.BaselineActivities > MaxBaselineActivities:
		bad("--baseline-activities %d: want 0 to %d", c.BaselineActivities, MaxBaselineActivities)
	case c.BaselineActivities > 0 && c.Scenario != ScenarioBaseline:
		// baseline_ratio is judged against the bare shape; another would move the target.
		bad("--baseline-activities is for --scenario baseline: the lifecycle's baseline_ratio is judged against bare workflows")
	}
	if c.Scenario == ScenarioBacklog && (c.Backlog < 1 || c.Backlog > MaxRequests) {
		bad("--backlog %d: want 1 to %d", c.Backlog, MaxRequests)
	}
	if c.Scenario == ScenarioBacklog && c.Closed() {
		bad("the backlog scenario measures under a steady rate: give --rate")
	}
	if c.Scenario == ScenarioHotPocket && (c.PocketStock < 1 || c.PocketStock > 1_000_000) {
		bad("--pocket-stock %d: want 1 to 1000000", c.PocketStock)
	}
	if c.MaxRSS < 0 {
		bad("--max-rss %d: want 0 or more bytes", c.MaxRSS)
	}
	return errors.Join(errs...)
}

// ErrNotLoopback is returned for a target that is not on this machine's loopback interface.
var ErrNotLoopback = errors.New("not a loopback address")

// CheckTarget refuses an API URL that is not http(s) on the loopback interface (127.0.0.0/8,
// ::1, localhost), unless allowRemote: a load test is not to be pointed at someone's server by
// a typo. Names other than localhost are not resolved; they are refused.
func CheckTarget(rawURL string, allowRemote bool) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--api %q: want an http(s) URL such as %s", rawURL, DefaultAPI)
	}
	if allowRemote {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--api %q: %w (127.0.0.0/8, ::1, localhost); pass --allow-remote to load another machine", rawURL, ErrNotLoopback)
}
