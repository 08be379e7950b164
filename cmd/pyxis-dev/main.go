// Command pyxis-dev is the tool for working on and around the medication request system.
// Without a command it runs the whole system on this machine (dev mode); its other commands
// are the load test (with the fault scenarios) and a simulated cabinet. The production
// binary is pyxis; nothing of this tool is in it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/devstack"
	"github.com/medreq/pyxis/faultsuite"
	"github.com/medreq/pyxis/service"
)

const usage = `usage: pyxis-dev [flags]            run the whole system locally: Temporal + Web UI, Postgres,
                                  worker, simulated cabinet, API (see --help)
       pyxis-dev <command> [flags]

commands:
  loadtest     the morning medication pass as load: against --api URL, or --dev (the whole
               system in this process); a report as text, --json and --html (see --help);
               --fault NAME runs a fault scenario:
%s
  cabinet-sim  a simulated Pyxis cabinet speaking HL7 v2 over MLLP (see --help)

Configuration is read from the environment; README lists every variable. The production
binary is pyxis (api, worker, migrate, check, token, healthcheck).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return // -h printed the flags: asked for, not an error
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pyxis-dev:", err)
		os.Exit(1)
	}
}

// scenarioList lists the fault scenarios for the usage, indented, a few to a line.
func scenarioList() string {
	var b strings.Builder
	line := "              "
	for i, name := range faultsuite.Names() {
		if i > 0 {
			line += ","
		}
		if len(line)+len(name) > 90 {
			b.WriteString(line + "\n")
			line = "              "
		}
		line += " " + name
	}
	return b.String() + line
}

// run dispatches a command; no command (or flags first) is dev mode. The hidden commands api
// and worker run them as pyxis does: the fault scenarios start them from this binary.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd, rest := "dev", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest = args[0], args[1:]
	}
	switch cmd {
	case "help":
		fmt.Fprintf(stdout, usage, scenarioList())
		return nil
	case "dev", "loadtest", "cabinet-sim", "api", "worker":
	default:
		fmt.Fprintf(stdout, usage, scenarioList())
		return fmt.Errorf("unknown command %q", cmd)
	}
	if cmd == "dev" || cmd == "loadtest" {
		devstack.TuneGC(getenv)
	}
	env := service.NewEnv(getenv)
	getenv = env.Getenv
	cfg, done, err := service.Setup(ctx, cmd, getenv)
	if err != nil {
		return err
	}
	defer done()
	switch cmd {
	case "loadtest":
		return runLoadtest(ctx, cfg, rest, getenv, stdout)
	case "cabinet-sim":
		simCfg, err := cabsim.ParseFlags(rest)
		if err != nil {
			return err
		}
		return cabsim.Run(ctx, simCfg, slog.Default())
	case "api", "worker":
		env.WarnUnread(os.Environ(), "pyxis-dev "+cmd)
		return service.Run(ctx, cmd, cfg)
	}
	// The flags are read here first, and again by Run, so that the settings dev mode reads
	// through them are counted before the warning.
	if _, err := devstack.ParseFlags(rest, getenv, cfg); err != nil {
		return err
	}
	env.WarnUnread(os.Environ(), "pyxis-dev")
	return devstack.Run(ctx, cfg, rest, getenv, stdout)
}
