package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIdentityConfig(t *testing.T) {
	env := envOf
	cfg, err := LoadConfig(env())
	require.NoError(t, err)
	assert.False(t, cfg.API.RequireKnownUsers)
	assert.Equal(t, 30*time.Second, cfg.API.UserCacheTTL)
	assert.Empty(t, cfg.API.TrustedProxies)

	cfg, err = LoadConfig(env("PYXIS_REQUIRE_KNOWN_USERS", "true", "PYXIS_USER_CACHE_TTL", "5s",
		"PYXIS_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7"))
	require.NoError(t, err)
	assert.True(t, cfg.API.RequireKnownUsers)
	assert.Equal(t, 5*time.Second, cfg.API.UserCacheTTL)
	assert.Equal(t, []string{"10.0.0.0/8", "192.168.1.7"}, cfg.API.TrustedProxies)
	assert.Contains(t, cfg.String(), "require_known_users=true")

	_, err = LoadConfig(env("PYXIS_REQUIRE_KNOWN_USERS", "sometimes", "PYXIS_USER_CACHE_TTL", "2m", "PYXIS_TRUSTED_PROXIES", "everyone"))
	for _, want := range []string{"PYXIS_REQUIRE_KNOWN_USERS", "PYXIS_USER_CACHE_TTL", "PYXIS_TRUSTED_PROXIES"} {
		assert.ErrorContains(t, err, want)
	}

	idp := []string{"PYXIS_JWT_ISSUER", "https://idp.example", "PYXIS_JWT_AUDIENCE", "pyxis"}
	for url, ok := range map[string]bool{
		"https://idp.example/certs":      true,
		"http://127.0.0.1:8080/certs":    true,
		"http://[::1]:8080/certs":        true,
		"http://localhost:8080/certs":    true,
		"http://idp.example/certs":       false,
		"http://keycloak.internal/certs": false,
		"ftp://idp.example/certs":        false,
	} {
		_, err := LoadConfig(env(append([]string{"PYXIS_JWKS_URL", url}, idp...)...))
		if ok {
			assert.NoError(t, err, url)
			continue
		}
		if assert.Error(t, err, url) {
			assert.Contains(t, err.Error(), "PYXIS_JWKS_URL", url)
			assert.Contains(t, err.Error(), "https", url)
		}
	}
	_, err = LoadConfig(env(append([]string{"PYXIS_JWKS_URL", "http://idp.example/certs"}, idp...)...))
	assert.ErrorContains(t, err, "loopback", "plain http only on loopback")
}
