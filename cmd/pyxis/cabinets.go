package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/cabinet/drivers"
	"github.com/medreq/pyxis/cabinet/hl7driver"
	"github.com/medreq/pyxis/cabinet/intake"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/db"
)

// newCabinetDrivers returns the driver the activities command cabinets with: each cabinet row
// names "sim" (the in-process simulator) or "hl7" (HL7 v2 over MLLP to its address). The
// returned func releases the HL7 connections.
func newCabinetDrivers(sim *cabinet.Simulator, ackTimeout time.Duration) (cabinet.Driver, func()) {
	hl7d := hl7driver.New(hl7driver.Options{
		// Both well inside the cabinet activities' 30s StartToCloseTimeout, so a silent
		// cabinet fails the attempt and Temporal's capped retries decide.
		ConnectTimeout: 5 * time.Second,
		AckTimeout:     ackTimeout,
		PoolSize:       2,
		Logger:         slog.Default(),
	})
	return drivers.New(sim, hl7d), func() { _ = hl7d.Close() }
}

// listenMLLP binds the interface listener that receives what cabinets report (RDS^O13
// dispenses, OMS^O05 pocket events) and applies it through the intake.
func listenMLLP(addr string, in *intake.Intake) (*mllp.Server, error) {
	srv := hl7driver.NewEventServer(in, hl7driver.ListenerOptions{
		Logger: slog.Default(),
		// Tell the interface engine why a report was refused when the reason is the
		// report's own (unknown medication, stock below reserved); internal errors stay in
		// the logs.
		Explain: func(err error) string {
			switch {
			case errors.Is(err, intake.ErrUnknownCabinet), errors.Is(err, intake.ErrUnknownMedication),
				errors.Is(err, intake.ErrInvalidReport), errors.Is(err, intake.ErrRefused),
				errors.Is(err, db.ErrStockBelowReserved):
				return err.Error()
			}
			return ""
		},
	}, mllp.ServerOptions{})
	if err := srv.Listen(addr); err != nil {
		return nil, fmt.Errorf("cannot listen for cabinet reports on %s (set PYXIS_MLLP_ADDR to another address): %w", addr, err)
	}
	slog.Info("cabinet interface listening", "mllp", srv.Addr())
	return srv, nil
}

// startDevCabinetSim runs the cabinet simulator inside dev mode, on the wire like a real
// cabinet, reporting to the system's MLLP listener, and points the demo cabinets at it.
func startDevCabinetSim(ctx context.Context, store *db.Store, o devOptions, reportTo string, withdrawAfter time.Duration) (*cabsim.Sim, error) {
	sim, err := cabsim.New(cabsim.Config{
		Listen: o.CabinetSimAddr, Admin: o.CabinetSimAdmin, ReportTo: reportTo,
		WithdrawAfter: withdrawAfter, ReportFormat: cabsim.FormatRDS,
	})
	if err != nil {
		return nil, err
	}
	if err := sim.Start(ctx); err != nil {
		return nil, fmt.Errorf("cabinet simulator (PYXIS_DEV_CABINET_SIM_ADDR, PYXIS_DEV_CABINET_SIM_ADMIN): %w", err)
	}
	for _, c := range demoCabinets {
		if _, err := store.SetCabinetDriver(ctx, c.Code, "hl7", sim.Addr()); err != nil && !errors.Is(err, db.ErrNotFound) {
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
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:2576", "MLLP address for orders (RDE^O11)")
	fs.StringVar(&cfg.ReportTo, "report-to", "127.0.0.1:2575", "the system's MLLP listener, for withdrawal and pocket reports")
	fs.StringVar(&cfg.Admin, "admin", "127.0.0.1:2577", "admin HTTP address (/faults, /stats, /withdraw, /event); empty: none")
	fs.StringVar(&cfg.StockFile, "stock", "", "JSON file of pockets and quantities; orders beyond a pocket are refused AE")
	fs.StringVar(&cfg.ReportFormat, "report-format", cabsim.FormatRDS, "withdrawal report shape: rds (RDS^O13) or pade (OMS^O05 with ZPM)")
	fs.Var(&faults, "fault", "fault from the start: offline, slow=DUR, reject, drop, duplicate (repeatable)")
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
