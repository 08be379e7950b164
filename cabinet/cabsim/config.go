// Package cabsim is a cabinet simulator that behaves like a BD Pyxis cabinet on the wire: it
// takes dispense authorizations (RDE^O11, one ORDER group per line) and item master updates
// (MFN^M01) over MLLP and acknowledges them as INTERFACE.md says, reports withdrawals back
// (RDS^O13 with one RXD per line, or one OMS^O05 per line) to the system's MLLP listener, can
// hold a stock of pockets, and shows faults on demand. It is the library behind the
// `pyxis cabinet-sim` subcommand and what the HL7 tests run against.
//
// A small HTTP admin endpoint drives it at run time:
//
//	GET  /stats     {"orders_accepted","duplicates_recognised","orders_cancelled","orders_refused",
//	                 "orders_deferred","items_updated","reports_sent","reports_failed"}
//	GET  /items     [{"Code","Name","Strength","Form","Unit","ControlledList",...}]  the item master
//	GET  /faults    {"faults": [...]}
//	POST /faults    {"faults": ["offline","slow=2s","reject","busy","drop","duplicate"]}  (an empty list clears)
//	POST /withdraw  {"order": "<request id>", "lines": [{"medication_code": "...", "amount": 1}]}
//	                reports the withdrawal now; "lines" (optional) replaces, line by line, the drug
//	                or the amount vended (null or empty keeps what was ordered), and lines beyond
//	                the order's are vended too
//	POST /event     {"kind":"L|C|R|W|U","medication_code","drawer","pocket","amount","count",
//	                 "user","witness","controlled_class","order","cabinet"}  sends a pocket event
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
