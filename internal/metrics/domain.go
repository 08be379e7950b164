package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Buckets (seconds) of the domain histograms.
var (
	// ApprovalBuckets span a stat request's 15-minute deadline to a routine one's 4 hours.
	ApprovalBuckets = []float64{10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800}
	// LifecycleBuckets span a quick dispense to a day.
	LifecycleBuckets = []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400}
	// CabinetBuckets span an acknowledgment on a LAN to the 20-second limit of a wait.
	CabinetBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30}
)

// Request statuses, as the projection spells them (metrics sits below workflows).
const (
	statusSubmitted = "submitted"
	statusAwaiting  = "awaiting_approval"
	statusApproved  = "approved"
	statusDispensed = "dispensed"
	statusFailed    = "failed"
	// reasonInsufficientStock is the reason code of a refused admission.
	reasonInsufficientStock = "insufficient_stock"
)

// priorities are the priorities a request may have.
var priorities = []string{"stat", "urgent", "routine"}

// terminal are the statuses a request ends in.
var terminal = map[string]bool{statusDispensed: true, "rejected": true, "cancelled": true, "expired": true, statusFailed: true}

// Requests holds the metrics of the requests' lifecycle, exported by the worker: its
// activities record each transition in Postgres, and the store tells Observe of the ones it
// records for the first time after they commit. So a retried activity or a replayed workflow,
// which records nothing new, counts nothing twice.
type Requests struct {
	started   *prometheus.CounterVec
	ended     *prometheus.CounterVec
	approval  *prometheus.HistogramVec
	lifecycle *prometheus.HistogramVec
	refused   *prometheus.CounterVec
}

// Requests returns the request metrics, registering them on first use.
func (r *Registry) Requests() *Requests {
	if r == nil {
		return nil
	}
	return group(r, &r.requests, func() (*Requests, []prometheus.Collector) {
		m := &Requests{
			started:   counterVec(RequestsStarted),
			ended:     counterVec(RequestsEnded),
			approval:  histogramVec(ApprovalWait, ApprovalBuckets),
			lifecycle: histogramVec(RequestLifecycle, LifecycleBuckets),
			refused:   counterVec(ReservationsRefused),
		}
		// Every priority and terminal status from 0, so that increase() sees the first one.
		for _, p := range priorities {
			m.started.WithLabelValues(p)
			for status := range terminal {
				m.ended.WithLabelValues(status, p)
			}
		}
		return m, []prometheus.Collector{m.started, m.ended, m.approval, m.lifecycle, m.refused}
	})
}

// Transition is a transition of a request recorded for the first time, with what the
// metrics need to know of its request.
type Transition struct {
	RequestID string
	// From and Status are the statuses before and after; ReasonCode says why, if anything.
	From, Status, ReasonCode string
	At                       time.Time
	// Priority is the request's priority; Created when it was submitted; AwaitingSince when
	// it entered awaiting_approval (Created when it never did).
	Priority               string
	Created, AwaitingSince time.Time
}

// Observe counts one transition recorded for the first time (the store tells the worker's
// registry of each, after its commit).
func (m *Requests) Observe(t Transition) {
	if m == nil {
		return
	}
	switch {
	case t.Status == statusSubmitted:
		m.started.WithLabelValues(t.Priority).Inc()
	case t.Status == statusApproved && t.From == statusAwaiting:
		m.approval.WithLabelValues(t.Priority).Observe(seconds(t.At.Sub(t.AwaitingSince)))
	}
	if !terminal[t.Status] {
		return
	}
	m.ended.WithLabelValues(t.Status, t.Priority).Inc()
	switch {
	case t.Status == statusDispensed:
		m.lifecycle.WithLabelValues().Observe(seconds(t.At.Sub(t.Created)))
	case t.Status == statusFailed && t.ReasonCode == reasonInsufficientStock:
		m.refused.WithLabelValues().Inc()
	}
}

func seconds(d time.Duration) float64 { return max(d, 0).Seconds() }

// Cabinet commands, as the command label spells them.
const (
	CommandAuthorize  = "authorize"
	CommandRevoke     = "revoke"
	CommandItemUpdate = "item_update"
)

// Outcomes of a cabinet command.
const (
	OutcomeAccepted    = "accepted"
	OutcomeRefused     = "refused"
	OutcomeNotNow      = "not_now"
	OutcomeUnreachable = "unreachable"
)

// NoAck is the ack label of a command no acknowledgment came back for.
const NoAck = "none"

// Cabinets holds the metrics of cabinet commands, exported by the worker, which sends them.
// Every attempt counts: each is a message the cabinet receives (or should have).
type Cabinets struct {
	duration  *prometheus.HistogramVec
	commands  *prometheus.CounterVec
	reachable *prometheus.GaugeVec
}

// Cabinets returns the cabinet metrics, registering them on first use.
func (r *Registry) Cabinets() *Cabinets {
	if r == nil {
		return nil
	}
	return group(r, &r.cabinets, func() (*Cabinets, []prometheus.Collector) {
		m := &Cabinets{
			duration:  histogramVec(CabinetCommandDuration, CabinetBuckets),
			commands:  counterVec(CabinetCommands),
			reachable: gaugeVec(CabinetReachable),
		}
		return m, []prometheus.Collector{m.duration, m.commands, m.reachable}
	})
}

// CabinetCommand is one command sent to a cabinet, and how it went.
type CabinetCommand struct {
	Cabinet string
	// Command is CommandAuthorize, CommandRevoke or CommandItemUpdate.
	Command string
	// Ack is the acknowledgment code the cabinet answered ("" when none came).
	Ack string
	// Outcome is one of the Outcome constants.
	Outcome  string
	Duration time.Duration
	// Transport is true when the cabinet was not reached (no connection, no answer): it
	// marks the cabinet unreachable. An answer of any kind marks it reachable; a command
	// refused before it was sent changes neither.
	Transport bool
}

// Observe records one command.
func (m *Cabinets) Observe(c CabinetCommand) {
	if m == nil {
		return
	}
	ack := c.Ack
	if ack == "" {
		ack = NoAck
	}
	m.commands.WithLabelValues(c.Command, ack).Inc()
	m.duration.WithLabelValues(c.Command, c.Outcome).Observe(c.Duration.Seconds())
	switch {
	case c.Ack != "":
		m.reachable.WithLabelValues(c.Cabinet).Set(1)
	case c.Transport:
		m.reachable.WithLabelValues(c.Cabinet).Set(0)
	}
}

// HL7 report outcomes. A report counts once when the listener receives it, with one of the
// first four, and once when the inbox applier settles it, with one of the last five.
const (
	ReportAccepted = "accepted" // kept in the inbox (acknowledged AA)
	ReportResent   = "resent"   // the same report again: acknowledged, applied once
	ReportRefused  = "refused"  // AE (the sender must fix it) or AR for a peer that may not send it
	ReportError    = "error"    // not kept now (the database did not answer): AR, the cabinet resends
	ReportApplied  = "applied"
	ReportDup      = "duplicate" // applied before, through another door
	ReportUnmatch  = "unmatched" // a vend no request took: recorded for review
	ReportReview   = "review"    // kept as written for review: an unknown medication, a fractional amount, another patient or other units
	ReportFailed   = "failed"    // given up on: it can never be applied
)

// reportTypes names the transaction types a report may have (cabinet.EventKind, ZPM-1);
// any other is counted as other, since the label comes from the message.
var reportTypes = map[string]string{"V": "vend", "C": "count", "L": "load", "R": "return", "W": "waste", "U": "unload"}

// Reports holds the HL7 report metrics, exported by the api: its MLLP listener receives
// the reports and its inbox applier applies them.
type Reports struct {
	reports *prometheus.CounterVec
}

// Reports returns the report metrics, registering them on first use.
func (r *Registry) Reports() *Reports {
	if r == nil {
		return nil
	}
	return group(r, &r.reports, func() (*Reports, []prometheus.Collector) {
		m := &Reports{reports: counterVec(HL7Reports)}
		return m, []prometheus.Collector{m.reports}
	})
}

// Observe counts one report of a transaction type (cabinet.EventKind: V, C, L, R, W, U) with
// an outcome; the label spells the type out (vend, count, load, return, waste, unload).
func (m *Reports) Observe(kind, outcome string) {
	if m == nil {
		return
	}
	name, ok := reportTypes[kind]
	if !ok {
		name = "other"
	}
	m.reports.WithLabelValues(name, outcome).Inc()
}
