package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/db"
)

// loopbackSources are the report sources of dev mode's demo cabinets: this machine.
var loopbackSources = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}

// devCabinetSimState is the simulated cabinet's state file in dev mode's data folder.
const devCabinetSimState = "cabinet-sim.json"

// startDevCabinetSim runs the cabinet simulator inside dev mode, on the wire like a real
// cabinet, reporting to the system's MLLP listener, and points the demo cabinets at it. It
// keeps its state in the data folder (o.Dir), so that a restart of dev mode, even after a
// crash, finds the orders the cabinet held and the reports it had not delivered.
func startDevCabinetSim(ctx context.Context, store *db.Store, o devOptions, reportTo string, withdrawAfter time.Duration) (*cabsim.Sim, error) {
	sim, err := cabsim.New(cabsim.Config{
		Listen: o.CabinetSimAddr, Admin: o.CabinetSimAdmin, ReportTo: reportTo,
		WithdrawAfter: withdrawAfter, ReportFormat: cabsim.FormatRDS,
		StateFile: filepath.Join(o.Dir, devCabinetSimState),
	})
	if err != nil {
		return nil, err
	}
	if err := sim.Start(ctx); err != nil {
		return nil, fmt.Errorf("cabinet simulator (PYXIS_DEV_CABINET_SIM_ADDR, PYXIS_DEV_CABINET_SIM_ADMIN): %w", err)
	}
	for _, c := range demoCabinets {
		cab, err := store.SetCabinetDriver(ctx, c.Code, "hl7", sim.Addr())
		if errors.Is(err, db.ErrNotFound) {
			continue
		}
		if err == nil {
			// The simulator reports from this machine: the demo cabinets believe it.
			_, err = store.SetCabinetReportSources(ctx, cab.ID, loopbackSources, db.Actor{})
		}
		if err != nil {
			_ = sim.Close()
			return nil, fmt.Errorf("point %s at the simulator: %w", c.Code, err)
		}
	}
	return sim, nil
}

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
