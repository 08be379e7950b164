package main

import (
	"context"
	"errors"
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

// runLoadtest runs `pyxis-dev loadtest`: against a running API, or (--dev) against the whole
// system started in this process for the run, or (--fault) a fault scenario.
func runLoadtest(ctx context.Context, cfg service.Config, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := loadtest.ParseCommand(args, getenv, loadtest.Choices{TemporalStores: devstack.TemporalStores(), FaultScenarios: faultsuite.Names()})
	if err != nil {
		return err
	}
	lc := o.Config
	if !o.Verbose {
		// The API logs every call: at a hundred calls a second that drowns the report.
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	if o.Fault != "" {
		return runFaultScenario(ctx, o, stdout)
	}
	if o.CPUProfile != "" {
		stop, err := startCPUProfile(o.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	var progress io.Writer
	if f, ok := stdout.(*os.File); ok && loadtest.IsTerminal(f) {
		progress = stdout
	}
	env := loadtest.Env{Namespace: cfg.TemporalNamespace, Progress: progress}
	if o.Dev {
		stack, release, err := devstack.StartForLoad(ctx, cfg, lc, o.TemporalStore)
		if err != nil {
			return err
		}
		defer release()
		lc.API = stack.APIURL
		env = stack.LoadEnv(o.TemporalStore)
		env.Progress = progress
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

// runFaultScenario runs `pyxis-dev loadtest --fault NAME`: progress on stderr, the verdict
// line (and what was found beside it) on stdout; an error when something was lost. The api and
// the worker of the scenario's system are this binary's hidden api and worker commands.
func runFaultScenario(ctx context.Context, o loadtest.Command, stdout io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	res, err := faultsuite.Run(ctx, faultsuite.Config{
		Scenario: o.Fault, Requests: o.Requests, Rate: o.Rate, Exe: exe, Log: os.Stderr, Seed: o.Seed,
	})
	if err != nil {
		return err
	}
	return res.Write(stdout)
}
