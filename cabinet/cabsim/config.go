// Package cabsim is a cabinet simulator that behaves like a BD Pyxis cabinet on the wire: it
// takes dispense authorizations (RDE^O11, one ORDER group per line) and item master updates
// (MFN^M01) over MLLP and acknowledges them as INTERFACE.md says, reports withdrawals back
// (RDS^O13 with one RXD per line, or one OMS^O05 per line) to the system's MLLP listener, can
// hold a stock of pockets, and shows faults on demand. It is the library behind the
// `pyxis-dev cabinet-sim` command and what the HL7 tests run against.
//
// # Reports: the outbox
//
// Every report (a withdrawal, an override, a pocket event) goes into an outbox before it is
// first sent, and leaves it only when the system answers AA, or AE (final: the report is
// counted in reports_failed and its reason kept in the stats' failures). A report answered
// AR, or not answered, is sent again, byte for byte the same message, after 1 s, doubling up
// to 30 s, for as long as it takes. Each cabinet's reports go in the order they were queued:
// one is not sent before the one before it was answered, since the system applies them in
// order. Withdraw, Override and SendEvent return once their reports are acknowledged; when
// the caller's context ends first they return an error wrapping ErrQueued, and the reports
// are delivered later all the same.
//
// # The state file
//
// With Config.StateFile (`--state`) the simulator keeps on disk what a real cabinet keeps
// across a power cut: its held orders (the order, when it was accepted, when its automatic
// withdrawal is due, whether it was cancelled or withdrawn), the control ids it acknowledged,
// the pockets' quantities, the item master, the stats and the outbox. New reads it; Start
// carries on: orders whose withdrawal fell due while the simulator was down are withdrawn at
// once, in the order they fell due, the others at their time; cancelled and withdrawn orders
// stay done; the outbox is sent again. Orders done, and control ids acknowledged, more than
// 24 hours ago are forgotten. A state file that exists but does not read whole (empty,
// truncated, damaged) is refused at New: starting empty would lose what the cabinet held.
//
// The file is replaced atomically (a temporary file in the same folder, fsync, rename, fsync
// of the folder), so it is always either the previous state or the next, whole. Writes are
// coalesced: one goroutine writes whatever changed, at most every 50 ms, and Close writes a
// last time. The rule that makes this safe is that nothing leaves the simulator before the
// change it stands for is on disk:
//
//   - an AA to an order, a cancellation, an item master update or a resend of any of them is
//     sent only once a write holding its effect has finished (a crash right after the AA
//     cannot lose the order); if the write fails or takes more than 5 s the answer is AR
//     (resend later) instead, and if the simulator closes meanwhile there is no answer;
//   - a report is sent for the first time only once a write holding it in the outbox, with
//     the order marked withdrawn and the stock changed, has finished (a crash after the send
//     cannot withdraw the order a second time with a different message);
//   - a report leaves the outbox after its AA; a crash before that is written sends it again,
//     and the system recognises the resend by its control id and content.
//
// Many orders arriving together share one write; each waits at most one interval plus a
// write for its AA. Without a state file everything is in memory and nothing waits.
//
// # Admin endpoint
//
// A small HTTP admin endpoint drives it at run time:
//
//	GET  /stats     {"orders_accepted","duplicates_recognised","orders_cancelled","orders_refused",
//	                 "orders_deferred","items_updated","reports_sent","reports_failed","outbox",
//	                 "failures":[{"control_id","cabinet","kind","reason","at"}]}
//	GET  /items     [{"Code","Name","Strength","Form","Unit","ControlledList",...}]  the item master
//	GET  /faults    {"faults": [...]}
//	POST /faults    {"faults": ["offline","slow=2s","reject","busy","drop","duplicate"]}  (an empty list clears)
//	POST /withdraw  {"order": "<request id>", "lines": [{"medication_code": "...", "amount": 1}]}
//	                reports the withdrawal now; "lines" (optional) replaces, line by line, the drug
//	                or the amount vended (null or empty keeps what was ordered), and lines beyond
//	                the order's are vended too
//	POST /override  {"cabinet","order","lines":[{"medication_code","amount"}]}  a vend not ordered
//	POST /event     {"kind":"L|C|R|W|U","medication_code","drawer","pocket","amount","count",
//	                 "user","witness","controlled_class","order","cabinet"}  sends a pocket event
//
// POST /withdraw, /override and /event answer 200 once the system acknowledged the reports,
// 502 when it refused one AE, and 202 with "queued": true when it has not answered within
// 10 s: the reports stay in the outbox and are delivered later.
package cabsim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/medreq/pyxis/cabinet/hl7"
)

// Report formats.
const (
	// FormatRDS reports a withdrawal as the standard dispense message RDS^O13.
	FormatRDS = "rds"
	// FormatPADE reports it as the VA vendor-neutral pocket event OMS^O05 with ZPM-1 V.
	FormatPADE = "pade"
)

// Config is what the simulator is told at start.
type Config struct {
	// Listen is the MLLP address for orders (host:port; port 0 picks a free one).
	Listen string
	// ReportTo is the system's MLLP listener that receives the reports.
	ReportTo string
	// Admin is the admin HTTP address; empty runs no admin endpoint.
	Admin string
	// AdminToken is what every admin request must carry as `Authorization: Bearer <token>`
	// (PYXIS_SIM_ADMIN_TOKEN). Empty: the simulator makes one at start (AdminToken) and logs
	// it, so the endpoint is never open to whoever reaches its port.
	AdminToken string
	// WithdrawAfter is how long after an authorization the simulated nurse withdraws; 0
	// never, withdrawals then come only through POST /withdraw.
	WithdrawAfter time.Duration
	// StockFile is a JSON stock (see StockFile); empty accepts any medication.
	StockFile string
	// Faults are shown from the start, in the syntax of ParseFaults.
	Faults []string
	// ReportFormat is FormatRDS (the default when empty) or FormatPADE.
	ReportFormat string
	// ProcessingID is MSH-11 of the reports sent and of the messages taken: P (the default
	// when empty), T or D. A message with another is answered AR 202.
	ProcessingID string
	// StateFile keeps the simulator's state on disk, so that a restart (or a crash) carries
	// on where it stopped: held orders and their withdrawal times, acknowledged control ids,
	// the stock's quantities, the item master, the stats and the outbox. Empty keeps it in
	// memory only. See the package documentation for when it is written.
	StateFile string
}

func (c Config) validate() error {
	if c.Listen == "" {
		return fmt.Errorf("cabsim: no MLLP listen address")
	}
	if c.WithdrawAfter < 0 {
		return fmt.Errorf("cabsim: negative withdraw-after %s", c.WithdrawAfter)
	}
	switch c.ReportFormat {
	case "", FormatRDS, FormatPADE:
	default:
		return fmt.Errorf("cabsim: report format %q is not %q or %q", c.ReportFormat, FormatRDS, FormatPADE)
	}
	if c.ProcessingID != "" && !hl7.ValidProcessingID(c.ProcessingID) {
		return fmt.Errorf("cabsim: processing id %q is not P, T or D", c.ProcessingID)
	}
	return nil
}

// Faults is the set of failures the simulator shows.
type Faults struct {
	// Offline refuses connections: the MLLP listener is closed and open connections dropped.
	Offline bool
	// Slow delays each acknowledgment by this long.
	Slow time.Duration
	// Reject answers every order AE.
	Reject bool
	// Busy answers every message AR (not now): the sender retries.
	Busy bool
	// Drop reads an order, starts an answer frame and closes the connection mid-frame.
	Drop bool
	// Duplicate sends each report twice with the same control id.
	Duplicate bool
}

// ParseFaults reads faults written as "offline", "slow=2s", "reject", "busy", "drop" and
// "duplicate"; an empty list is no fault.
func ParseFaults(list []string) (Faults, error) {
	var f Faults
	for _, s := range list {
		name, arg, hasArg := strings.Cut(strings.TrimSpace(s), "=")
		if hasArg != (name == "slow") {
			return Faults{}, fmt.Errorf("cabsim: fault %q: only slow takes a value (slow=DUR)", s)
		}
		switch name {
		case "offline":
			f.Offline = true
		case "reject":
			f.Reject = true
		case "busy":
			f.Busy = true
		case "drop":
			f.Drop = true
		case "duplicate":
			f.Duplicate = true
		case "slow":
			d, err := time.ParseDuration(arg)
			if err != nil || d <= 0 {
				return Faults{}, fmt.Errorf("cabsim: fault %q: slow needs a positive duration", s)
			}
			f.Slow = d
		default:
			return Faults{}, fmt.Errorf("cabsim: unknown fault %q (offline, slow=DUR, reject, busy, drop, duplicate)", s)
		}
	}
	return f, nil
}

// List writes the faults back in ParseFaults' syntax, in a fixed order.
func (f Faults) List() []string {
	out := []string{}
	if f.Offline {
		out = append(out, "offline")
	}
	if f.Slow > 0 {
		out = append(out, "slow="+f.Slow.String())
	}
	for _, x := range []struct {
		on   bool
		name string
	}{{f.Reject, "reject"}, {f.Busy, "busy"}, {f.Drop, "drop"}, {f.Duplicate, "duplicate"}} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return slices.Clip(out)
}
