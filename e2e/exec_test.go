package e2e

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/medreq/pyxis/devstack"
	"github.com/medreq/pyxis/service"
)

// execMain is this test binary run as a subprocess of a test (execMainEnv): `api` and
// `worker` as pyxis runs them (and pyxis-dev's hidden commands of the same names, which the
// fault scenarios start), anything else as pyxis-dev's dev mode. It calls what the two
// binaries' main functions call, and returns the exit status.
func execMain(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	command := "dev"
	if len(args) > 0 && (args[0] == "api" || args[0] == "worker") {
		command, args = args[0], args[1:]
	}
	cfg, done, err := service.Setup(ctx, command, os.Getenv)
	if err == nil {
		if command == "dev" {
			err = devstack.Run(ctx, cfg, args, os.Getenv, os.Stdout)
		} else {
			err = service.Run(ctx, command, cfg)
		}
		done()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return 0
}
