package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/medreq/pyxis/check"
	"github.com/medreq/pyxis/codec"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/service"
)

// runCheck runs `pyxis check`: it verifies the system's invariants against DATABASE_URL and
// TEMPORAL_ADDRESS and prints what it found; it fails when an invariant does not hold.
func runCheck(ctx context.Context, cfg service.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	stuck := fs.Duration("stuck-after", 2*time.Minute, "how long a retrying activity, an unrecorded step or a passed deadline may last before a request counts as stuck")
	settle := fs.Duration("settle", 30*time.Second, "how long to wait for the projection and the workflows to agree")
	sim := fs.String("cabinet-sim", "", "admin URL of a cabinet simulator (http://127.0.0.1:2577): check that no authorization was applied twice")
	var cabinets []string
	fs.Func("cabinet", "check only this cabinet code (repeatable)", func(v string) error {
		cabinets = append(cabinets, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.DatabaseURL == "" || cfg.TemporalAddress == "" {
		return errors.New("DATABASE_URL and TEMPORAL_ADDRESS are needed")
	}
	pool, err := service.OpenDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := db.NewStore(pool)
	tc, err := service.DialTemporal(ctx, cfg, store)
	if err != nil {
		return err
	}
	defer tc.Close()
	o := check.Options{Namespace: cfg.TemporalNamespace, StuckAfter: *stuck, Settle: *settle, CabinetCodes: cabinets}
	if !cfg.Codec.Disabled && len(cfg.Codec.Keys) > 0 {
		cd, err := codec.New(cfg.Codec.Keys)
		if err != nil {
			return err
		}
		// Failure messages are sealed in Temporal: open them for the report.
		_, o.Failures = service.PayloadConverters(cd, nil)
	}
	for _, code := range cabinets {
		cab, err := store.GetCabinetByCode(ctx, code)
		if err != nil {
			return fmt.Errorf("cabinet %s: %w", code, err)
		}
		o.Scope.CabinetIDs = append(o.Scope.CabinetIDs, cab.ID)
	}
	if *sim != "" {
		o.Authorizations = check.SimulatorAuthorizations(*sim, os.Getenv("PYXIS_SIM_ADMIN_TOKEN"))
	}
	rep, err := check.Run(ctx, store, tc, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, rep.Summary())
	}
	if !rep.OK() {
		return fmt.Errorf("%d invariant violations", len(rep.Violations))
	}
	return nil
}
