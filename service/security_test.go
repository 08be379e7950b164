package service

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/codec"
)

func TestSecurityConfig(t *testing.T) {
	key := codec.FormatKeys([]codec.Key{{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}, {ID: "k2", Secret: bytes.Repeat([]byte{2}, 32)}})
	env := func(kv ...string) func(string) string {
		// Later pairs win, so a test can still override these two.
		return envOf(append([]string{"DATABASE_URL", "postgres://u:p@h/db", "TEMPORAL_ADDRESS", "h:7233"}, kv...)...)
	}
	secret := "0d8f3a6c29e14b7f5a0c8e3d61b2f47a"

	cfg, err := LoadConfig(env())
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, cfg.API.JWTLeeway)
	assert.Equal(t, "role", cfg.API.JWTRoleClaim)
	assert.EqualValues(t, 20, cfg.API.RateLimit)
	assert.Equal(t, 40, cfg.API.RateBurst)
	assert.ErrorContains(t, cfg.requireServices(false), "PYXIS_CODEC_KEYS is not set", "no silent plaintext")
	assert.ErrorContains(t, cfg.requireServices(true), "PYXIS_JWT_SECRET")

	cfg, err = LoadConfig(env("PYXIS_CODEC_DISABLED", "true", "PYXIS_JWT_SECRET", secret))
	require.NoError(t, err)
	assert.NoError(t, cfg.requireServices(true), "an explicit opt-out")
	cd, err := cfg.payloadCodec()
	require.NoError(t, err)
	assert.Nil(t, cd)
	dc, fc := PayloadConverters(cd, nil)
	assert.Nil(t, dc, "the SDK's default converters")
	assert.Nil(t, fc)

	cfg, err = LoadConfig(env("PYXIS_CODEC_KEYS", key, "PYXIS_JWKS_URL", "https://idp.example/certs",
		"PYXIS_JWT_ISSUER", "https://idp.example", "PYXIS_JWT_AUDIENCE", "pyxis", "PYXIS_JWT_ROLE_CLAIM", "realm_access.roles",
		"PYXIS_JWT_LEEWAY", "5s", "PYXIS_CODEC_CORS_ORIGINS", "https://ui.example, http://localhost:8233",
		"PYXIS_RATE_LIMIT", "2.5", "PYXIS_RATE_BURST", "5", "PYXIS_HSTS", "true"))
	require.NoError(t, err)
	assert.NoError(t, cfg.requireServices(true), "a JWKS alone is enough")
	assert.Equal(t, "realm_access.roles", cfg.API.JWTRoleClaim)
	assert.Equal(t, 5*time.Second, cfg.API.JWTLeeway)
	assert.Equal(t, []string{"https://ui.example", "http://localhost:8233"}, cfg.API.CodecCORSOrigins)
	assert.Equal(t, 2.5, cfg.API.RateLimit)
	assert.True(t, cfg.API.HSTS)
	cd, err = cfg.payloadCodec()
	require.NoError(t, err)
	assert.Equal(t, "k2", cd.KeyID())
	assert.NotContains(t, cfg.String(), key[4:20], "keys are never logged")
	assert.Contains(t, cfg.String(), "encrypting with k2")

	_, err = LoadConfig(env("PYXIS_JWKS_URL", "https://idp.example/certs", "PYXIS_CODEC_KEYS", "k1:short",
		"PYXIS_CODEC_CORS_ORIGINS", "*", "PYXIS_RATE_LIMIT", "-1", "PYXIS_JWT_LEEWAY", "soon", "PYXIS_HSTS", "maybe"))
	for _, want := range []string{"PYXIS_JWT_ISSUER and PYXIS_JWT_AUDIENCE", "PYXIS_CODEC_KEYS", "PYXIS_CODEC_CORS_ORIGINS", "PYXIS_RATE_LIMIT", "PYXIS_JWT_LEEWAY", "PYXIS_HSTS"} {
		assert.ErrorContains(t, err, want)
	}
	cfg, err = LoadConfig(env("PYXIS_JWT_SECRET", "short", "PYXIS_CODEC_DISABLED", "true"))
	require.NoError(t, err)
	assert.ErrorContains(t, cfg.requireServices(true), "at least 32 characters")
}

// TestAuthModes: PYXIS_AUTH=jwks turns HS256 off and does not read the secret; hs256 takes
// only a secret that is no placeholder and not guessable; the leeway is bounded.
func TestAuthModes(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return envOf(append([]string{"DATABASE_URL", "postgres://u:p@h/db", "TEMPORAL_ADDRESS", "h:7233", "PYXIS_CODEC_DISABLED", "true"}, kv...)...)
	}
	idp := []string{"PYXIS_JWKS_URL", "https://idp.example/certs", "PYXIS_JWT_ISSUER", "https://idp.example", "PYXIS_JWT_AUDIENCE", "pyxis"}
	good := "0d8f3a6c29e14b7f5a0c8e3d61b2f47a"

	cfg, err := LoadConfig(env(append([]string{"PYXIS_JWT_SECRET", good}, idp...)...))
	require.NoError(t, err)
	assert.Equal(t, api.AuthJWKS, cfg.API.Auth, "a JWKS URL alone means jwks")
	assert.Empty(t, cfg.JWTSecret, "with jwks the secret is not read")
	require.NoError(t, cfg.requireServices(true))
	cfg, err = LoadConfig(env("PYXIS_AUTH", "jwks"))
	require.NoError(t, err)
	assert.ErrorContains(t, cfg.requireServices(true), "PYXIS_JWKS_URL")

	cfg, err = LoadConfig(env("PYXIS_JWT_SECRET", good))
	require.NoError(t, err)
	assert.Equal(t, api.AuthHS256, cfg.API.Auth, "the default without a provider")
	require.NoError(t, cfg.requireServices(true))
	_, err = LoadConfig(env(append([]string{"PYXIS_AUTH", "hs256", "PYXIS_JWT_SECRET", good}, idp...)...))
	assert.ErrorContains(t, err, "PYXIS_AUTH=hs256")
	_, err = LoadConfig(env("PYXIS_AUTH", "both"))
	assert.ErrorContains(t, err, "PYXIS_AUTH")

	for _, bad := range []string{
		"CHANGE-ME-to-at-least-32-random-characters", // deploy/kubernetes/secrets.example.yaml
		strings.Repeat("s", 32), strings.Repeat("ab", 20), "test-secret-test-secret-test-secret",
	} {
		cfg, err := LoadConfig(env("PYXIS_JWT_SECRET", bad))
		require.NoError(t, err)
		assert.Error(t, cfg.requireServices(true), bad)
	}

	_, err = LoadConfig(env("PYXIS_JWT_SECRET", good, "PYXIS_JWT_LEEWAY", "3m"))
	assert.ErrorContains(t, err, "PYXIS_JWT_LEEWAY")
	_, err = LoadConfig(env("PYXIS_JWT_SECRET", good, "PYXIS_JWT_LEEWAY", "2m"))
	assert.NoError(t, err)
}

func TestInboxRawRetention(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return envOf(append([]string{"DATABASE_URL", "postgres://u:p@h/db", "TEMPORAL_ADDRESS", "h:7233"}, kv...)...)
	}
	cfg, err := LoadConfig(env())
	require.NoError(t, err)
	assert.Equal(t, 30*24*time.Hour, cfg.InboxRawRetention)
	cfg, err = LoadConfig(env("PYXIS_INBOX_RAW_RETENTION", "168h"))
	require.NoError(t, err)
	assert.Equal(t, 7*24*time.Hour, cfg.InboxRawRetention)
	_, err = LoadConfig(env("PYXIS_INBOX_RAW_RETENTION", "-1h"))
	assert.ErrorContains(t, err, "PYXIS_INBOX_RAW_RETENTION")
}
