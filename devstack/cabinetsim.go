package devstack

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/db"
)

// CabinetSimState is the simulated cabinet's state file in dev mode's data folder.
const CabinetSimState = "cabinet-sim.json"

// startCabinetSim runs the cabinet simulator inside dev mode, on the wire like a real
// cabinet, reporting to the system's MLLP listener, and points the demo cabinets at it. It
// keeps its state in the data folder (o.Dir), so that a restart of dev mode, even after a
// crash, finds the orders the cabinet held and the reports it had not delivered.
func startCabinetSim(ctx context.Context, store *db.Store, o Options, reportTo string, withdrawAfter time.Duration) (*cabsim.Sim, error) {
	sim, err := cabsim.New(cabsim.Config{
		Listen: o.CabinetSimAddr, Admin: o.CabinetSimAdmin, ReportTo: reportTo,
		WithdrawAfter: withdrawAfter, ReportFormat: cabsim.FormatRDS,
		StateFile: filepath.Join(o.Dir, CabinetSimState),
	})
	if err != nil {
		return nil, err
	}
	if err := sim.Start(ctx); err != nil {
		return nil, fmt.Errorf("cabinet simulator (PYXIS_DEV_CABINET_SIM_ADDR or --cabinet-sim-addr, PYXIS_DEV_CABINET_SIM_ADMIN or --cabinet-sim-admin): %w", err)
	}
	if err := PointDemoCabinets(ctx, store, sim.Addr()); err != nil {
		_ = sim.Close()
		return nil, err
	}
	return sim, nil
}

// PointDemoCabinets makes the demo cabinets cabinets on the wire: commanded over HL7 at addr
// (a simulated cabinet, or a proxy in front of one), and believed when they report from this
// machine.
func PointDemoCabinets(ctx context.Context, store *db.Store, addr string) error {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	for _, c := range demoCabinets {
		cab, err := store.SetCabinetDriver(ctx, c.Code, "hl7", addr)
		if errors.Is(err, pyxis.ErrNotFound) {
			continue
		}
		if err == nil {
			_, err = store.SetCabinetReportSources(ctx, cab.ID, loopback, pyxis.Actor{})
		}
		if err != nil {
			return fmt.Errorf("point %s at the simulator: %w", c.Code, err)
		}
	}
	return nil
}
