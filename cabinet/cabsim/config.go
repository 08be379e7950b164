// Package cabsim is a cabinet simulator that behaves like a BD Pyxis cabinet on the wire: it
// takes dispense authorizations (RDE^O11) over MLLP and acknowledges them, reports
// withdrawals back (RDS^O13 or OMS^O05) to the system's MLLP listener, can hold a stock of
// pockets, and shows faults on demand. It is the library behind the `pyxis cabinet-sim`
// subcommand and what the HL7 tests run against.
//
// A small HTTP admin endpoint drives it at run time:
//
//	GET  /stats     {"orders_accepted","duplicates_recognised","orders_cancelled","orders_refused","reports_sent","reports_failed"}
//	GET  /faults    {"faults": [...]}
//	POST /faults    {"faults": ["offline","slow=2s","reject","drop","duplicate"]}  (an empty list clears)
//	POST /withdraw  {"order": "<request id>"}  reports the withdrawal now
//	POST /event     {"kind":"L|C|R|W|U","medication_code","drawer","pocket","amount","count",
//	                 "user","witness","controlled_class","order","cabinet"}  sends a pocket event
package cabsim

import (
	"fmt"
	"slices"
	"strings"
	"time"
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
	// Drop reads an order, starts an answer frame and closes the connection mid-frame.
	Drop bool
	// Duplicate sends each report twice with the same control id.
	Duplicate bool
}

// ParseFaults reads faults written as "offline", "slow=2s", "reject", "drop" and
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
			return Faults{}, fmt.Errorf("cabsim: unknown fault %q (offline, slow=DUR, reject, drop, duplicate)", s)
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
	}{{f.Reject, "reject"}, {f.Drop, "drop"}, {f.Duplicate, "duplicate"}} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return slices.Clip(out)
}
