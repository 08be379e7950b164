package loadtest

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
)

// Command is `pyxis-dev loadtest` as its flags give it: the load (Config), and where the
// system under load runs and what else the run does.
type Command struct {
	Config
	// Dev starts the whole system in this process for the run (TemporalStore says where its
	// Temporal server keeps its state); DevDir is the data folder of a running dev mode, whose
	// jwt-secret signs the users' tokens.
	Dev           bool
	DevDir        string
	TemporalStore string
	// CPUProfile and MemProfile are files to write profiles of this process to.
	CPUProfile, MemProfile string
	// Verbose keeps the system's informational log lines; FailOnTarget makes a missed target
	// an error.
	Verbose, FailOnTarget bool
	// Fault names a fault scenario: the run starts a system of its own with the api and the
	// worker as processes, injects the fault and checks every invariant (package faultsuite).
	Fault string
}

// Choices are what ParseCommand needs to know of the tool around it: the Temporal stores of
// --temporal-store (the first is the default) and the fault scenarios of --fault.
type Choices struct {
	TemporalStores []string
	FaultScenarios []string
}

// ParseCommand reads the flags of `pyxis-dev loadtest`. PYXIS_DEV_TEMPORAL_STORE (read with
// getenv) gives --temporal-store its default. The load's settings are normalized and
// validated, except for a fault scenario, which sizes its own load.
func ParseCommand(args []string, getenv func(string) string, known Choices) (Command, error) {
	c := Command{Config: DefaultConfig()}
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	c.RegisterFlags(fs)
	defStore := ""
	if len(known.TemporalStores) > 0 {
		defStore = known.TemporalStores[0]
	}
	fs.BoolVar(&c.Dev, "dev", false, "start the whole system in this process on free ports (a temporary data folder, Temporal on --temporal-store, a throw-away database), run, stop and clean up")
	fs.StringVar(&c.DevDir, "dev-dir", "", "against a running pyxis-dev: its data folder, whose jwt-secret signs the users' tokens (else PYXIS_JWT_SECRET)")
	fs.StringVar(&c.TemporalStore, "temporal-store", cmp.Or(getenv("PYXIS_DEV_TEMPORAL_STORE"), defStore), "with --dev: the Temporal server's store, "+strings.Join(known.TemporalStores, " or ")+" (PYXIS_DEV_TEMPORAL_STORE)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of this process (with --dev: the whole system) to this file")
	fs.StringVar(&c.MemProfile, "memprofile", "", "write a heap profile of this process at the end of the run to this file")
	fs.BoolVar(&c.Verbose, "verbose", false, "log the system's informational messages too (with --dev)")
	fs.BoolVar(&c.FailOnTarget, "fail-on-target", false, "exit with an error when a target is missed")
	fs.StringVar(&c.Fault, "fault", "", "run a fault scenario on a system of its own (a private Postgres, Temporal on SQLite, the api and the worker as processes, the simulated cabinet behind proxies) and print scenario=NAME requests=N faults=K lost= duplicated= stuck= ledger= audit=; --requests (default 200), --rate (default 20) and --seed apply; one of: "+strings.Join(known.FaultScenarios, ", "))
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.Fault != "" {
		if !slices.Contains(known.FaultScenarios, c.Fault) {
			return c, fmt.Errorf("no fault scenario %q (have %s)", c.Fault, strings.Join(known.FaultScenarios, ", "))
		}
		if c.Dev || c.DevDir != "" {
			return c, errors.New("--fault starts a system of its own; --dev and --dev-dir are for the other scenarios")
		}
		return c, nil
	}
	c.Normalize()
	if c.Dev {
		// The API's address is known once it listens; this stands in for the checks.
		c.API = "http://127.0.0.1:1"
		if !slices.Contains(known.TemporalStores, c.TemporalStore) {
			return c, fmt.Errorf("--temporal-store (PYXIS_DEV_TEMPORAL_STORE) %q: want %s", c.TemporalStore, strings.Join(known.TemporalStores, " or "))
		}
		if c.DevDir != "" {
			return c, errors.New("--dev starts a system of its own; --dev-dir is for a running one")
		}
	}
	return c, c.Validate()
}
