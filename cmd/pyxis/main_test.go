package main

import (
	"bytes"
	"context"
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
)

// noEnv is an empty environment.
func noEnv(string) string { return "" }

// A subcommand's -h is a question answered, not a failure: main exits 0 on flag.ErrHelp.
func TestSubcommandHelpIsNotAnError(t *testing.T) {
	// Not dev, api or worker: run would install (and on return shut down) the process's global
	// TracerProvider, which the end-to-end trace test relies on.
	for _, cmd := range []string{"check", "loadtest", "token", "cabinet-sim"} {
		err := run(context.Background(), []string{cmd, "-h"}, noEnv, &bytes.Buffer{})
		assert.ErrorIs(t, err, flag.ErrHelp, cmd)
	}
}

// The api subcommand reads its configuration before anything else, and refuses to start
// with a bad one.
func TestAPIRefusesABadConfiguration(t *testing.T) {
	env := map[string]string{"PYXIS_JWKS_URL": "http://idp.example/certs", "PYXIS_JWT_ISSUER": "https://idp.example", "PYXIS_JWT_AUDIENCE": "pyxis"}
	err := run(t.Context(), []string{"api"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	assert.ErrorContains(t, err, "configuration")
	assert.ErrorContains(t, err, "loopback")
}
