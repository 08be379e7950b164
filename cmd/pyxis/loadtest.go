package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"

	"github.com/medreq/pyxis/devstack"
	"github.com/medreq/pyxis/faultsuite"
	"github.com/medreq/pyxis/loadtest"
	"github.com/medreq/pyxis/service"
)

// loadtestOptions are the flags of `pyxis loadtest` that concern where the system runs, beside
// the load's own (loadtest.Config).
type loadtestOptions struct {
	Dev           bool
	DevDir        string
	TemporalStore string
	CPUProfile    string
	MemProfile    string
	Verbose       bool
	FailOnTarget  bool
	// Fault names a fault scenario (faultscenarios.go): the run starts its own system with
	// the API and the worker as processes, injects the fault and checks every invariant.
	Fault string
}

func parseLoadtestFlags(args []string, getenv func(string) string) (loadtest.Config, loadtestOptions, error) {
	lc := loadtest.DefaultConfig()
	var o loadtestOptions
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	lc.RegisterFlags(fs)
	fs.BoolVar(&o.Dev, "dev", false, "start the whole system in this process on free ports (a temporary data folder with Temporal on SQLite, a throw-away database), run, stop and clean up")
	fs.StringVar(&o.DevDir, "dev-dir", "", "against a running pyxis dev: its data folder, whose jwt-secret signs the users' tokens (else PYXIS_JWT_SECRET)")
	fs.StringVar(&o.TemporalStore, "temporal-store", cmp.Or(getenv("PYXIS_DEV_TEMPORAL_STORE"), devstack.TemporalStoreSQLite), "with --dev: the Temporal server's store, sqlite or postgres (PYXIS_DEV_TEMPORAL_STORE)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of this process (with --dev: the whole system) to this file")
	fs.StringVar(&o.MemProfile, "memprofile", "", "write a heap profile of this process at the end of the run to this file")
	fs.BoolVar(&o.Verbose, "verbose", false, "log the system's informational messages too (with --dev)")
	fs.BoolVar(&o.FailOnTarget, "fail-on-target", false, "exit with an error when a target is missed")
	fs.StringVar(&o.Fault, "fault", "", "run a fault scenario on a system of its own (a private Postgres, Temporal on SQLite, pyxis api and pyxis worker as processes, the simulated cabinet behind proxies) and print scenario=NAME requests=N faults=K lost= duplicated= stuck= ledger= audit=; --requests (default 200), --rate (default 20) and --seed apply; one of: "+strings.Join(faultsuite.Names(), ", "))
	if err := fs.Parse(args); err != nil {
		return lc, o, err
	}
	if fs.NArg() > 0 {
		return lc, o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if o.Fault != "" {
		if err := faultsuite.CheckName(o.Fault); err != nil {
			return lc, o, err
		}
		if o.Dev || o.DevDir != "" {
			return lc, o, errors.New("--fault starts a system of its own; --dev and --dev-dir are for the other scenarios")
		}
		return lc, o, nil
	}
	lc.Normalize()
	if o.Dev {
		// The API's address is known once it listens; this stands in for the checks.
		lc.API = "http://127.0.0.1:1"
		if err := devstack.CheckTemporalStore(o.TemporalStore); err != nil {
			return lc, o, err
		}
		if o.DevDir != "" {
			return lc, o, errors.New("--dev starts a system of its own; --dev-dir is for a running one")
		}
	}
	return lc, o, lc.Validate()
}

// runLoadtest runs `pyxis loadtest`: against a running API, or (--dev) against the whole
// system started in this process for the run.
func runLoadtest(ctx context.Context, cfg service.Config, args []string, getenv func(string) string, stdout io.Writer) error {
	lc, o, err := parseLoadtestFlags(args, getenv)
	if err != nil {
		return err
	}
	if !o.Verbose {
		// The API logs every call: at a hundred calls a second that drowns the report.
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	if o.Fault != "" {
		return runFaultLoadtest(ctx, lc, o, stdout)
	}
	if o.CPUProfile != "" {
		stop, err := startCPUProfile(o.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	env := loadtest.Env{Namespace: cfg.TemporalNamespace}
	if f, ok := stdout.(*os.File); ok && loadtest.IsTerminal(f) {
		env.Progress = stdout
	}
	if o.Dev {
		stack, release, err := devstack.StartForLoad(ctx, cfg, lc, o.TemporalStore)
		if err != nil {
			return err
		}
		defer release()
		lc.API = stack.APIURL
		env.Mode, env.TemporalStore = "dev", o.TemporalStore
		env.JWTSecret = []byte(stack.Secret)
		env.TemporalAddress, env.TemporalCompression = stack.TemporalAddr, stack.TemporalCompression
		env.InProcess, env.Disposable = true, true
		fmt.Fprintf(stdout, "Load test against the whole system in this process: API %s, Temporal %s (%s)\n", stack.APIURL, stack.TemporalAddr, o.TemporalStore)
	} else {
		env.Mode = "api"
		env.TemporalAddress, env.TemporalCompression = cfg.TemporalAddress, cfg.GRPCCompression()
		secret := cfg.JWTSecret
		if o.DevDir != "" {
			raw, err := os.ReadFile(filepath.Join(o.DevDir, "jwt-secret"))
			if err != nil {
				return fmt.Errorf("--dev-dir: %w", err)
			}
			secret = strings.TrimSpace(string(raw))
		}
		env.JWTSecret = []byte(secret)
	}

	rep, err := loadtest.Run(ctx, lc, env)
	if err != nil {
		return err
	}
	if o.MemProfile != "" {
		if err := writeHeapProfile(o.MemProfile); err != nil {
			return err
		}
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if err := rep.WriteFiles(lc); err != nil {
		return err
	}
	if o.FailOnTarget && !rep.TargetsMet() {
		return errors.New("a target was missed (see Targets above)")
	}
	return nil
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("--memprofile: %w", err)
	}
	return f.Close()
}

// runFaultLoadtest runs `pyxis loadtest --fault NAME`: progress on stderr, the verdict line
// (and what was found beside it) on stdout; an error when something was lost.
func runFaultLoadtest(ctx context.Context, lc loadtest.Config, o loadtestOptions, stdout io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	res, err := faultsuite.Run(ctx, faultsuite.Config{
		Scenario: o.Fault, Requests: lc.Requests, Rate: lc.Rate, Exe: exe, Log: os.Stderr, Seed: lc.Seed,
	})
	if err != nil {
		return err
	}
	return res.Write(stdout)
}
