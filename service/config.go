package service

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/internal/metrics"
	"github.com/medreq/pyxis/worker"
)

// Config is every setting of every subcommand, read from the environment (README lists them).
type Config struct {
	DatabaseURL string
	// TemporalAddress and TemporalNamespace come from TemporalConn, the Temporal CLI's own
	// environment configuration (temporal.go); dev mode sets the address of its own server.
	TemporalAddress   string
	TemporalNamespace string
	// TemporalConn is the rest of it: TLS, mutual TLS, API key, gRPC metadata.
	TemporalConn envconfig.ClientConfigProfile
	// TemporalCompression is the gRPC compression of calls to Temporal: "gzip" (the SDK's
	// default, for a frontend across a network) or "none". Dev mode's in-process server is
	// on loopback, where gzip only costs CPU (7% of the whole process under load).
	TemporalCompression string
	HTTPAddr            string
	// MLLPAddr is where the api listens for cabinet reports (HL7 v2 over MLLP).
	MLLPAddr string
	// CabinetAckTimeout bounds the wait for a cabinet's HL7 acknowledgment.
	CabinetAckTimeout time.Duration
	// InboxRawRetention is how long the raw HL7 of a settled report is kept in the inbox
	// (PYXIS_INBOX_RAW_RETENTION; 30 days); the parsed report stays.
	InboxRawRetention time.Duration
	// HL7 holds the rest of the HL7 interface's settings (cabinets.go).
	HL7       HL7Config
	JWTSecret string
	API       api.Config
	// Codec encrypts workflow payloads (security.go).
	Codec CodecConfig
	// SimWithdrawAfter is how long after an authorization the simulator reports the
	// withdrawal; 0 (the default outside dev mode) means never: withdrawals then come only
	// through the API.
	SimWithdrawAfter time.Duration
	// AllowSimulatedCabinets lets cabinets with the sim driver exist and be commanded by the
	// in-process simulator (PYXIS_ALLOW_SIMULATED_CABINETS=true; dev mode sets it). Every log
	// line and /readyz then say so.
	AllowSimulatedCabinets bool
	// Worker tunes the Temporal worker (pollers, slots).
	Worker worker.Options
	// Obs is how the process logs, traces and stops (observability.go).
	Obs ObsConfig
	// Metrics are the Prometheus settings (metrics.go).
	Metrics MetricsConfig

	// Retired lists the settings of earlier releases that are set but no longer read
	// (retiredSettings); Setup warns about each.
	Retired []string

	// Registry is the process's metrics registry, made by the subcommand that serves it (nil:
	// none).
	Registry *metrics.Registry
}

// String masks the secret, so a Config can be logged.
func (c Config) String() string {
	secret := "(unset)"
	if c.JWTSecret != "" {
		secret = "(set)"
	}
	return fmt.Sprintf("database=%s temporal=%s namespace=%s http=%s jwt_secret=%s approval=%v withdrawal=%s sim_withdraw_after=%s allow_simulated_cabinets=%t mllp=%s",
		MaskURL(c.DatabaseURL), c.TemporalAddress, c.TemporalNamespace, c.HTTPAddr, secret,
		c.API.ApprovalTimeouts, c.API.WithdrawalTimeout, c.SimWithdrawAfter, c.AllowSimulatedCabinets, c.MLLPAddr) +
		" " + c.HL7.String() + " " + c.Metrics.String() + " " + c.temporalString() + " " + c.securityString() + " " + c.Obs.String()
}

// retiredSettings are settings earlier releases read and this one does not: a deployment
// that still sets one is told so, not left to believe it works.
var retiredSettings = []string{
	// A cabinet command is retried until the withdrawal window closes (issue 16).
	"PYXIS_CABINET_ATTEMPTS",
}

// LoadConfig reads the environment. Every problem is reported at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:         envOr(getenv, "DATABASE_URL", ""),
		TemporalCompression: getenv("PYXIS_TEMPORAL_COMPRESSION"),
		HTTPAddr:            envOr(getenv, "PYXIS_HTTP_ADDR", ":8080"),
		MLLPAddr:            envOr(getenv, "PYXIS_MLLP_ADDR", "127.0.0.1:2575"),
		API:                 api.DefaultConfig(),
		CabinetAckTimeout:   10 * time.Second,
		InboxRawRetention:   intake.DefaultRawRetention,
	}
	var errs []error
	dur := func(name string, dst *time.Duration) {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a positive duration such as 15m", name, v))
				return
			}
			*dst = d
		}
	}
	timeouts := c.API.ApprovalTimeouts
	for _, p := range []pyxis.Priority{pyxis.PriorityStat, pyxis.PriorityUrgent, pyxis.PriorityRoutine} {
		d := timeouts[p]
		dur("PYXIS_APPROVAL_TIMEOUT_"+strings.ToUpper(string(p)), &d)
		timeouts[p] = d
	}
	dur("PYXIS_WITHDRAWAL_TIMEOUT", &c.API.WithdrawalTimeout)
	dur("PYXIS_CABINET_RETRY_INTERVAL", &c.API.CabinetRetryInterval)
	dur("PYXIS_CABINET_ACK_TIMEOUT", &c.CabinetAckTimeout)
	dur("PYXIS_INBOX_RAW_RETENTION", &c.InboxRawRetention)
	if c.CabinetAckTimeout > 20*time.Second {
		errs = append(errs, fmt.Errorf("PYXIS_CABINET_ACK_TIMEOUT=%s: at most 20s, inside the cabinet command's 30s timeout", c.CabinetAckTimeout))
	}
	for _, name := range retiredSettings {
		if getenv(name) != "" {
			c.Retired = append(c.Retired, name)
		}
	}
	if v := getenv("PYXIS_DUAL_APPROVAL_LISTS"); v != "" {
		lists, err := parseLists(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("PYXIS_DUAL_APPROVAL_LISTS=%q: %w", v, err))
		}
		c.API.DualApprovalLists = lists
	}
	boolSetting(getenv, &errs, "PYXIS_ALLOW_SIMULATED_CABINETS", &c.AllowSimulatedCabinets)
	switch v := getenv("PYXIS_SIM_WITHDRAW_AFTER"); v {
	case "":
	case "off":
		c.SimWithdrawAfter = 0
	default:
		dur("PYXIS_SIM_WITHDRAW_AFTER", &c.SimWithdrawAfter)
	}
	for _, knob := range []struct {
		name string
		dst  *int
		// min is the SDK's: it refuses (panics on) one workflow task poller or slot, since
		// a sticky queue and its normal queue need one each.
		min int
	}{
		{"PYXIS_WORKER_WORKFLOW_POLLERS", &c.Worker.WorkflowPollers, 2},
		{"PYXIS_WORKER_ACTIVITY_POLLERS", &c.Worker.ActivityPollers, 1},
		{"PYXIS_WORKER_WORKFLOW_SLOTS", &c.Worker.WorkflowSlots, 2},
		{"PYXIS_WORKER_ACTIVITY_SLOTS", &c.Worker.ActivitySlots, 1},
		{"PYXIS_WORKER_LOCAL_ACTIVITY_SLOTS", &c.Worker.LocalActivitySlots, 1},
	} {
		name, dst := knob.name, knob.dst
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < knob.min || n > 10000 {
				errs = append(errs, fmt.Errorf("%s=%q: want a number from %d to 10000", name, v, knob.min))
			}
			*dst = n
		}
	}
	switch c.TemporalCompression {
	case "", "gzip", "none":
	default:
		errs = append(errs, fmt.Errorf("PYXIS_TEMPORAL_COMPRESSION=%q: want gzip or none", c.TemporalCompression))
	}
	errs = append(errs, loadMetrics(getenv, &c.Metrics)...)
	errs = append(errs, loadTemporal(getenv, &c)...)
	errs = append(errs, loadSecurity(getenv, &c)...)
	errs = append(errs, loadHL7(getenv, &c.HL7)...)
	errs = append(errs, loadObs(getenv, &c.Obs)...)
	c.Worker.StopTimeout = c.Obs.ShutdownTimeout
	if c.CabinetAckTimeout >= c.Obs.ShutdownTimeout {
		errs = append(errs, fmt.Errorf("PYXIS_SHUTDOWN_TIMEOUT=%s must be longer than PYXIS_CABINET_ACK_TIMEOUT=%s: a stopping worker lets the cabinet command in flight finish",
			c.Obs.ShutdownTimeout, c.CabinetAckTimeout))
	}
	return c, errors.Join(errs...)
}

// parseLists reads a comma-separated set of controlled lists; "none" is the empty set.
func parseLists(v string) ([]string, error) {
	if strings.TrimSpace(v) == "none" {
		return []string{}, nil
	}
	var lists []string
	for _, l := range strings.Split(v, ",") {
		l = strings.ToUpper(strings.TrimSpace(l))
		if !slices.Contains(db.ControlledLists, l) {
			return nil, fmt.Errorf("%q is not a controlled list (%s), and \"none\" stands alone", l, strings.Join(db.ControlledLists, ", "))
		}
		lists = append(lists, l)
	}
	return lists, nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// requireServices checks what the api and worker subcommands cannot default.
func (c Config) requireServices(needSecret bool) error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL is not set"))
	}
	if c.TemporalAddress == "" {
		errs = append(errs, errors.New("TEMPORAL_ADDRESS is not set"))
	}
	if needSecret {
		errs = append(errs, c.requireAuth())
	}
	errs = append(errs, c.requireCodec())
	return errors.Join(errs...)
}

// MaskURL describes a database connection string for logs and banners without its
// password. The string is read with pgx's own parser, so both forms it takes are covered
// (postgres://user:secret@host/db and host=... password=secret) however they quote or escape,
// and what is shown is what pgx understood: user, hosts, ports, database, and sslmode=disable
// when TLS is never tried; a password, wherever it came from (the string, PGPASSWORD), shows
// as ***. Nothing else of the string is repeated. A string pgx cannot read
// is not shown at all.
func MaskURL(connString string) string {
	if connString == "" {
		return ""
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return "(unreadable connection string)"
	}
	cc := cfg.ConnConfig
	q := url.Values{}
	var hosts []string
	tls := false
	for _, h := range append([]*pgconn.FallbackConfig{{Host: cc.Host, Port: cc.Port, TLSConfig: cc.TLSConfig}}, cc.Fallbacks...) {
		tls = tls || h.TLSConfig != nil
		if strings.HasPrefix(h.Host, "/") { // a Unix socket directory
			q.Set("host", h.Host)
			continue
		}
		hp := net.JoinHostPort(h.Host, strconv.Itoa(int(h.Port)))
		if !slices.Contains(hosts, hp) {
			hosts = append(hosts, hp)
		}
	}
	if !tls {
		q.Set("sslmode", "disable")
	}
	var b strings.Builder
	b.WriteString("postgres://")
	if cc.User != "" || cc.Password != "" {
		b.WriteString(url.User(cc.User).String())
		if cc.Password != "" {
			b.WriteString(":***")
		}
		b.WriteString("@")
	}
	b.WriteString(strings.Join(hosts, ","))
	b.WriteString((&url.URL{Path: "/" + cc.Database}).EscapedPath())
	if len(q) > 0 {
		b.WriteString("?" + q.Encode())
	}
	return b.String()
}
