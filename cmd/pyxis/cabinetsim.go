package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/cabinet/hl7"
)

// runCabinetSim runs `pyxis cabinet-sim`: a simulated cabinet on the wire.
func runCabinetSim(ctx context.Context, args []string) error {
	cfg, err := parseCabinetSimFlags(args)
	if err != nil {
		return err
	}
	return cabsim.Run(ctx, cfg, slog.Default())
}

func parseCabinetSimFlags(args []string) (cabsim.Config, error) {
	fs := flag.NewFlagSet("cabinet-sim", flag.ContinueOnError)
	var cfg cabsim.Config
	var faults multiFlag
	withdraw := fs.String("withdraw-after", "3s", "how long after an authorization the simulated nurse withdraws; off: only through POST /withdraw")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:2576", "MLLP address for orders (RDE^O11) and item master updates (MFN^M01)")
	fs.StringVar(&cfg.ReportTo, "report-to", "127.0.0.1:2575", "the system's MLLP listener, for withdrawal and pocket reports")
	fs.StringVar(&cfg.Admin, "admin", "127.0.0.1:2577", "admin HTTP address (/faults, /stats, /items, /withdraw, /event); empty: none")
	fs.StringVar(&cfg.StockFile, "stock", "", "JSON file of pockets and quantities; orders beyond a pocket are refused AE")
	fs.StringVar(&cfg.StateFile, "state", "", "file the simulator keeps its held orders, stock, item master, stats and unacknowledged reports in, to carry on after a restart; empty: memory only")
	fs.StringVar(&cfg.ReportFormat, "report-format", cabsim.FormatRDS, "withdrawal report shape: rds (RDS^O13) or pade (OMS^O05 with ZPM)")
	fs.StringVar(&cfg.ProcessingID, "processing-id", hl7.ProcessingProduction, "MSH-11 of the reports sent and of the messages taken: P, T or D")
	fs.Var(&faults, "fault", "fault from the start: offline, slow=DUR, reject, busy, drop, duplicate (repeatable)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.Faults = faults
	if *withdraw != "off" {
		d, err := time.ParseDuration(*withdraw)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("--withdraw-after %q: want a duration such as 3s, or off", *withdraw)
		}
		cfg.WithdrawAfter = d
	}
	return cfg, nil
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
