package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/api"
)

// noEnv is an empty environment.
func noEnv(string) string { return "" }

// A subcommand's -h is a question answered, not a failure: main exits 0 on flag.ErrHelp.
func TestSubcommandHelpIsNotAnError(t *testing.T) {
	// Not dev, api or worker: run would install (and on return shut down) the process's global
	// TracerProvider, which the end-to-end trace test relies on.
	for _, cmd := range []string{"check", "token"} {
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

func TestTokenCommand(t *testing.T) {
	secret := "4b1e9a07c3d25f68e0a7b4c19d3f2e85"
	env := func(k string) string {
		if k == "PYXIS_JWT_SECRET" {
			return secret
		}
		return ""
	}
	token := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"token"}, args...), env, &out)
		return strings.TrimSpace(out.String()), err
	}
	raw, err := token("--sub", "cab-icu", "--name", "ICU interface", "--role", "cabinet", "--cabinet", "PYX-ICU-01")
	require.NoError(t, err)
	var claims api.Claims
	_, err = jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return []byte(secret), nil })
	require.NoError(t, err)
	assert.Equal(t, "cabinet", claims.Role)
	assert.Equal(t, "PYX-ICU-01", claims.Cabinet)
	assert.Equal(t, "cab-icu", claims.Subject)

	_, err = token("--sub", "cab-icu", "--role", "cabinet")
	assert.ErrorContains(t, err, "--cabinet")
	_, err = token("--sub", "nurse-1", "--role", "nurse", "--cabinet", "PYX-ICU-01")
	assert.ErrorContains(t, err, "--cabinet is for tokens of role cabinet")
	raw, err = token("--sub", "nurse-1", "--name", "Nina", "--role", "nurse")
	require.NoError(t, err)
	claims = api.Claims{}
	_, err = jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return []byte(secret), nil })
	require.NoError(t, err)
	assert.Empty(t, claims.Cabinet)

	_, err = token("--sub", "nurse-1", "--role", "nurse", "--ttl", "25h")
	assert.ErrorContains(t, err, "at most 24h", "a leaked token is good for a day at most")
	secret = strings.Repeat("k", 32)
	_, err = token("--sub", "nurse-1", "--role", "nurse")
	assert.ErrorContains(t, err, "entropy")
}

// TestTokenWithoutSecretSaysWhereDevModesIs: a newcomer who runs pyxis token beside dev mode
// learns where its secret is.
func TestTokenWithoutSecretSaysWhereDevModesIs(t *testing.T) {
	err := run(t.Context(), []string{"token", "--sub", "nurse-new", "--role", "nurse"}, noEnv, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PYXIS_JWT_SECRET=$(cat .pyxis-dev/jwt-secret) pyxis token")
}
