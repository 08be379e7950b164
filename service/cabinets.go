package service

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/drivers"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/hl7driver"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/intake"
)

// HL7Config is how the system speaks HL7 to cabinets, beyond the listener's address and the
// ACK timeout. Its zero value is the defaults.
type HL7Config struct {
	// ProcessingID is MSH-11 of what the system sends and the only one it takes
	// (PYXIS_HL7_PROCESSING_ID: P, T or D; P).
	ProcessingID string
	// Location is the hospital's zone (PYXIS_HL7_TIMEZONE, an IANA name): everything sent
	// is written in it with its offset, and report timestamps without an offset are read in
	// it. Nil when unset: the api and the worker then refuse to start while a cabinet uses
	// the hl7 driver (RequireZone), and reports are read in UTC.
	Location *time.Location
	// SendingFacility and ReceivingFacility are MSH-4 and MSH-6 of what the system sends
	// (PYXIS_HL7_SENDING_FACILITY, PYXIS_HL7_RECEIVING_FACILITY; empty).
	SendingFacility   string
	ReceivingFacility string
	// AssigningAuthority is PID-3.4, the authority of the MRN
	// (PYXIS_HL7_ASSIGNING_AUTHORITY; the sending facility); PatientClass is PV1-2
	// (PYXIS_HL7_PATIENT_CLASS, HL7 table 0004; I).
	AssigningAuthority string
	PatientClass       string
	// Enhanced asks cabinets for enhanced-mode commit acknowledgments (PYXIS_HL7_ACK_MODE
	// enhanced; original).
	Enhanced bool
	// ConnectTimeout bounds one connection attempt to a cabinet
	// (PYXIS_CABINET_CONNECT_TIMEOUT; 5s), PoolSize the connections to one cabinet
	// (PYXIS_CABINET_POOL_SIZE; 1).
	ConnectTimeout time.Duration
	PoolSize       int
	// IDRetention is how long a cabinet's message control ids are remembered
	// (PYXIS_HL7_ID_RETENTION: a Go duration or a number of days such as 30d; 720h).
	IDRetention time.Duration
	// TLSCert and TLSKey make the MLLP listener speak TLS (PYXIS_MLLP_TLS_CERT,
	// PYXIS_MLLP_TLS_KEY); TLSClientCA requires client certificates of that CA
	// (PYXIS_MLLP_TLS_CLIENT_CA).
	TLSCert, TLSKey, TLSClientCA string
	// CabinetTLSCA makes the connections to cabinets TLS, verifying each cabinet's
	// certificate against this CA and its address's host (PYXIS_CABINET_TLS_CA);
	// CabinetTLSCert and CabinetTLSKey are the client certificate presented
	// (PYXIS_CABINET_TLS_CERT, PYXIS_CABINET_TLS_KEY; optional).
	CabinetTLSCA, CabinetTLSCert, CabinetTLSKey string
	// MaxFrame bounds one MLLP frame; larger ones are refused unread (PYXIS_MLLP_MAX_FRAME,
	// bytes; 64 KiB).
	MaxFrame int
	// FirstFrameTimeout is how long a new connection has to complete its first frame
	// (PYXIS_MLLP_FIRST_FRAME_TIMEOUT; 10s), IdleTimeout how long one may be silent between
	// frames (PYXIS_MLLP_IDLE_TIMEOUT; 10m).
	FirstFrameTimeout, IdleTimeout time.Duration
}

// String writes the settings for the start-up log (file paths, no secrets).
func (h HL7Config) String() string {
	loc, pid, mode := "(unset)", h.ProcessingID, "original"
	if h.Location != nil {
		loc = h.Location.String()
	}
	if pid == "" {
		pid = hl7.ProcessingProduction
	}
	if h.Enhanced {
		mode = "enhanced"
	}
	tls := "off"
	if h.TLSCert != "" {
		tls = "on"
		if h.TLSClientCA != "" {
			tls = "client-certificates"
		}
	}
	cabTLS := "off"
	if h.CabinetTLSCA != "" {
		cabTLS = "verified"
		if h.CabinetTLSCert != "" {
			cabTLS = "mutual"
		}
	}
	return fmt.Sprintf("hl7_processing_id=%s hl7_timezone=%s hl7_ack_mode=%s hl7_id_retention=%s cabinet_pool_size=%d mllp_tls=%s cabinet_tls=%s mllp_max_frame=%d mllp_first_frame_timeout=%s mllp_idle_timeout=%s",
		pid, loc, mode, h.IDRetention, max(h.PoolSize, 1), tls, cabTLS, h.MaxFrame, h.FirstFrameTimeout, h.IdleTimeout)
}

// loadHL7 reads the HL7 settings from the environment.
func loadHL7(getenv func(string) string, h *HL7Config) []error {
	var errs []error
	h.ProcessingID = envOr(getenv, "PYXIS_HL7_PROCESSING_ID", hl7.ProcessingProduction)
	if !hl7.ValidProcessingID(h.ProcessingID) {
		errs = append(errs, fmt.Errorf("PYXIS_HL7_PROCESSING_ID=%q: want P (production), T (training) or D (debugging)", h.ProcessingID))
	}
	h.Location = nil
	if v := getenv("PYXIS_HL7_TIMEZONE"); v != "" {
		loc, err := time.LoadLocation(v)
		if err != nil || v == "Local" {
			errs = append(errs, fmt.Errorf("PYXIS_HL7_TIMEZONE=%q: want an IANA time zone such as America/Sao_Paulo", v))
		} else {
			h.Location = loc
		}
	}
	h.SendingFacility = getenv("PYXIS_HL7_SENDING_FACILITY")
	h.ReceivingFacility = getenv("PYXIS_HL7_RECEIVING_FACILITY")
	h.AssigningAuthority = getenv("PYXIS_HL7_ASSIGNING_AUTHORITY")
	h.PatientClass = envOr(getenv, "PYXIS_HL7_PATIENT_CLASS", "I")
	if !slices.Contains(patientClasses, h.PatientClass) {
		errs = append(errs, fmt.Errorf("PYXIS_HL7_PATIENT_CLASS=%q: want a patient class of HL7 table 0004 (%s)", h.PatientClass, strings.Join(patientClasses, ", ")))
	}
	switch v := envOr(getenv, "PYXIS_HL7_ACK_MODE", "original"); v {
	case "original":
	case "enhanced":
		h.Enhanced = true
	default:
		errs = append(errs, fmt.Errorf("PYXIS_HL7_ACK_MODE=%q: want original or enhanced", v))
	}
	h.ConnectTimeout = 5 * time.Second
	if v := getenv("PYXIS_CABINET_CONNECT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 20*time.Second {
			errs = append(errs, fmt.Errorf("PYXIS_CABINET_CONNECT_TIMEOUT=%q: want a positive duration up to 20s", v))
		} else {
			h.ConnectTimeout = d
		}
	}
	h.PoolSize = 1
	if v := getenv("PYXIS_CABINET_POOL_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 16 {
			errs = append(errs, fmt.Errorf("PYXIS_CABINET_POOL_SIZE=%q: want a number from 1 to 16", v))
		} else {
			h.PoolSize = n
		}
	}
	h.IDRetention = intake.DefaultIDRetention
	if v := getenv("PYXIS_HL7_ID_RETENTION"); v != "" {
		d, err := parseDays(v)
		if err != nil || d < time.Hour {
			errs = append(errs, fmt.Errorf("PYXIS_HL7_ID_RETENTION=%q: want a duration of at least 1h, such as 720h or 30d", v))
		} else {
			h.IDRetention = d
		}
	}
	h.MaxFrame = 64 << 10
	if v := getenv("PYXIS_MLLP_MAX_FRAME"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1<<10 || n > mllp.MaxFrameSize {
			errs = append(errs, fmt.Errorf("PYXIS_MLLP_MAX_FRAME=%q: want a number of bytes from 1024 to %d", v, mllp.MaxFrameSize))
		} else {
			h.MaxFrame = n
		}
	}
	h.FirstFrameTimeout, h.IdleTimeout = 10*time.Second, 10*time.Minute
	for name, dst := range map[string]*time.Duration{"PYXIS_MLLP_FIRST_FRAME_TIMEOUT": &h.FirstFrameTimeout, "PYXIS_MLLP_IDLE_TIMEOUT": &h.IdleTimeout} {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 100*time.Millisecond {
				errs = append(errs, fmt.Errorf("%s=%q: want a duration of at least 100ms such as 10s", name, v))
			} else {
				*dst = d
			}
		}
	}
	h.CabinetTLSCA, h.CabinetTLSCert, h.CabinetTLSKey = getenv("PYXIS_CABINET_TLS_CA"), getenv("PYXIS_CABINET_TLS_CERT"), getenv("PYXIS_CABINET_TLS_KEY")
	if h.CabinetTLSCA != "" || h.CabinetTLSCert != "" || h.CabinetTLSKey != "" {
		if _, err := mllp.ClientTLSConfig(h.CabinetTLSCA, h.CabinetTLSCert, h.CabinetTLSKey); err != nil {
			errs = append(errs, fmt.Errorf("PYXIS_CABINET_TLS_* (PYXIS_CABINET_TLS_CA is required with a client certificate): %w", err))
		}
	}
	h.TLSCert, h.TLSKey, h.TLSClientCA = getenv("PYXIS_MLLP_TLS_CERT"), getenv("PYXIS_MLLP_TLS_KEY"), getenv("PYXIS_MLLP_TLS_CLIENT_CA")
	switch {
	case (h.TLSCert == "") != (h.TLSKey == ""):
		errs = append(errs, errors.New("PYXIS_MLLP_TLS_CERT and PYXIS_MLLP_TLS_KEY go together"))
	case h.TLSClientCA != "" && h.TLSCert == "":
		errs = append(errs, errors.New("PYXIS_MLLP_TLS_CLIENT_CA needs PYXIS_MLLP_TLS_CERT and PYXIS_MLLP_TLS_KEY"))
	case h.TLSCert != "":
		if _, err := mllp.ServerTLSConfig(h.TLSCert, h.TLSKey, h.TLSClientCA); err != nil {
			errs = append(errs, fmt.Errorf("PYXIS_MLLP_TLS_*: %w", err))
		}
	}
	return errs
}

// patientClasses are the values of HL7 table 0004 (PV1-2): emergency, inpatient, outpatient,
// preadmit, recurring, obstetrics, commercial account, not applicable, unknown.
var patientClasses = []string{"E", "I", "O", "P", "R", "B", "C", "N", "U"}

// parseDays reads a Go duration, or a whole number of days written Nd (30d).
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 3650 {
			return 0, fmt.Errorf("%q: not a number of days", v)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// CabinetLister lists the cabinets of the database (db.CabinetStore).
type CabinetLister interface {
	ListCabinets(ctx context.Context) ([]pyxis.Cabinet, error)
}

// RequireZone refuses to run with cabinets commanded over HL7 while PYXIS_HL7_TIMEZONE is
// unset. A cabinet server or an engine reads the wall-clock time of an order (its start, its
// end) and often ignores the offset, so a time written in the wrong zone shifts the window
// in which a nurse may withdraw; no zone is guessed for production. The cabinets are the
// database's rows: they are what the worker will command.
func (h HL7Config) RequireZone(ctx context.Context, cabs CabinetLister) error {
	if h.Location != nil {
		return nil
	}
	list, err := cabs.ListCabinets(ctx)
	if err != nil {
		return fmt.Errorf("list cabinets to check PYXIS_HL7_TIMEZONE: %w", err)
	}
	var hl7Cabs []string
	for _, c := range list {
		if c.Driver == drivers.HL7 {
			hl7Cabs = append(hl7Cabs, c.Code)
		}
	}
	if len(hl7Cabs) == 0 {
		return nil
	}
	return fmt.Errorf("PYXIS_HL7_TIMEZONE is not set, and cabinet %s use the hl7 driver: set it to the hospital's IANA time zone (such as America/Sao_Paulo); every time sent to a cabinet is written in it",
		strings.Join(hl7Cabs, ", "))
}

// NewCabinetDrivers returns the driver the activities command cabinets with: each cabinet row
// names "sim" (the in-process simulator; refused when sim is nil) or "hl7" (HL7 v2 over MLLP
// to its address). The returned func releases the HL7 connections.
func NewCabinetDrivers(sim *cabinet.Simulator, cfg Config) (cabinet.Driver, func()) {
	var client mllp.ClientOptions
	if cfg.HL7.CabinetTLSCA != "" {
		// Checked when the configuration was loaded; a file gone since fails every send.
		tc, err := mllp.ClientTLSConfig(cfg.HL7.CabinetTLSCA, cfg.HL7.CabinetTLSCert, cfg.HL7.CabinetTLSKey)
		if err != nil {
			slog.Error("cabinet TLS (PYXIS_CABINET_TLS_*) not usable: commands to HL7 cabinets will fail", "error", err)
			tc = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: x509.NewCertPool()}
		}
		client.TLS = tc
	}
	hl7d := hl7driver.New(hl7driver.Options{
		Client: client,
		// Both well inside the cabinet activities' 30s StartToCloseTimeout, so a silent
		// cabinet fails the attempt and Temporal's capped retries decide.
		ConnectTimeout:     cfg.HL7.ConnectTimeout,
		AckTimeout:         cfg.CabinetAckTimeout,
		PoolSize:           cfg.HL7.PoolSize,
		SendingFacility:    cfg.HL7.SendingFacility,
		ReceivingFacility:  cfg.HL7.ReceivingFacility,
		ProcessingID:       cfg.HL7.ProcessingID,
		Enhanced:           cfg.HL7.Enhanced,
		Location:           cfg.HL7.Location,
		AssigningAuthority: cfg.HL7.AssigningAuthority,
		PatientClass:       cfg.HL7.PatientClass,
		Logger:             slog.Default(),
	})
	var simDriver cabinet.Driver // a nil *Simulator must not become a non-nil Driver
	if sim != nil {
		simDriver = sim
	}
	return drivers.New(simDriver, hl7d), func() { _ = hl7d.Close() }
}

// CabinetDirectory is what the listener's peer check needs of the store.
type CabinetDirectory interface {
	ListCabinets(ctx context.Context) ([]pyxis.Cabinet, error)
	AppendAudit(ctx context.Context, e pyxis.AuditEntry, idemKey string) error
}

// ListenMLLP binds the interface listener that receives what cabinets report (RDS^O13
// dispenses, OMS^O05 pocket events) and applies it through the intake, over TLS when
// PYXIS_MLLP_TLS_CERT is set. A connection is accepted only from a peer that may report for
// some cabinet of cabs (its certificate names one, or its address is in one's
// report_sources), before any of its bytes is read; which cabinet it may report for is the
// intake's check, per message. Refused peers are audited (mllp_peer_refused), at most once a
// minute each, with the count. A nil cabs accepts every peer (tests of the intake alone).
func ListenMLLP(cfg Config, in *intake.Intake, cabs CabinetDirectory) (*mllp.Server, error) {
	so := mllp.ServerOptions{
		MaxFrameSize: cfg.HL7.MaxFrame, FirstFrameTimeout: cfg.HL7.FirstFrameTimeout, IdleTimeout: cfg.HL7.IdleTimeout,
	}
	if cabs != nil {
		so.AcceptPeer = func(ctx context.Context, p mllp.Peer) error {
			list, err := cabs.ListCabinets(ctx)
			if err != nil {
				// The database is away: let the connection in rather than count a refusal
				// against a genuine cabinet (which would cut it off for a minute once the
				// database is back). Each report is still checked against its cabinet, and
				// answered AR "resend later" while the database is away; the frame and shape
				// bounds hold as ever.
				slog.Warn("MLLP peer check skipped: cabinets not readable", "peer", p.Addr.String(), "error", err)
				return nil
			}
			if !intake.MayConnect(list, p) {
				return errors.New("no cabinet may report from this peer")
			}
			return nil
		}
		so.OnRefused = func(addr netip.Addr, reason string, count int) {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err := cabs.AppendAudit(ctx, pyxis.AuditEntry{Actor: pyxis.System, Action: "mllp_peer_refused",
					Details: map[string]any{"peer": addr.String(), "reason": reason, "refusals": count}}, "")
				if err != nil {
					slog.Error("audit of a refused MLLP peer", "peer", addr.String(), "error", err)
				}
			}()
		}
	}
	if cfg.HL7.TLSCert != "" {
		tc, err := mllp.ServerTLSConfig(cfg.HL7.TLSCert, cfg.HL7.TLSKey, cfg.HL7.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("cabinet interface TLS (PYXIS_MLLP_TLS_*): %w", err)
		}
		so.TLS = tc
	}
	srv := hl7driver.NewEventServer(in, hl7driver.ListenerOptions{
		Location:     cfg.HL7.Location,
		ProcessingID: cfg.HL7.ProcessingID,
		Logger:       slog.Default(),
	}, so)
	if err := srv.Listen(cfg.MLLPAddr); err != nil {
		return nil, fmt.Errorf("cannot listen for cabinet reports on %s (set PYXIS_MLLP_ADDR to another address): %w", cfg.MLLPAddr, err)
	}
	slog.Info("cabinet interface listening", "mllp", srv.Addr(), "tls", so.TLS != nil)
	return srv, nil
}
