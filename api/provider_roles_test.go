package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// TestJWKSModeTakesRolesFromTheProvider: with Auth jwks an HS256 token signed with the
// configured secret is refused; the role is the token's every time (a demotion at the
// provider counts at once, even inside the directory's cache), the directory mirrors it and
// cannot raise it, and a deactivation in the directory still refuses.
func TestJWKSModeTakesRolesFromTheProvider(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	p := newIDP(t)
	p.addRSA("rsa-1")
	h := serverWith(t, store, func(c *Config) {
		c.Auth = AuthJWKS
		c.JWKSURL, c.JWTIssuer, c.JWTAudience, c.JWKSRefreshInterval = p.srv.URL, testIssuer, testAudience, 0
		c.UserCacheTTL = MaxUserCacheTTL
	})
	as := func(sub, role string) string {
		return p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(func(c jwt.MapClaims) { c["sub"], c["role"] = sub, role }))
	}

	requireError(t, call(h, "GET", "/v1/medications", testToken(t, "admin-hs", pyxis.RoleAdmin), ""), http.StatusUnauthorized, CodeUnauthorized)

	admin := as("admin-1", pyxis.RoleAdmin)
	require.Equal(t, http.StatusOK, call(h, "GET", "/v1/users", admin, "").Code)
	require.Equal(t, http.StatusOK, call(h, "GET", "/v1/users", as("u-ana", pyxis.RoleAdmin), "").Code, "joins just in time as the provider says")
	// Demoted at the provider: the next token is a nurse's, whatever the directory cached.
	requireError(t, call(h, "GET", "/v1/users", as("u-ana", pyxis.RoleNurse), ""), http.StatusForbidden, CodeForbidden)
	u, err := store.GetUser(t.Context(), "u-ana")
	require.NoError(t, err)
	assert.Equal(t, pyxis.RoleNurse, u.Role, "the directory mirrors the last role it saw")

	// The directory cannot raise: an admin setting a role is refused, and a role set in the
	// database behind the API's back gives nothing the token does not say.
	requireError(t, call(h, "PATCH", "/v1/users/u-ana", admin, `{"role": "admin"}`), http.StatusUnprocessableEntity, CodeValidation, "role")
	require.NoError(t, store.UpsertUser(t.Context(), db.User{ID: "u-bia", Name: "Bia", Role: pyxis.RoleAdmin, Active: true}))
	requireError(t, call(h, "GET", "/v1/users", as("u-bia", pyxis.RoleNurse), ""), http.StatusForbidden, CodeForbidden)

	// It can take access away.
	require.Equal(t, http.StatusOK, call(h, "PATCH", "/v1/users/u-ana", admin, `{"active": false}`).Code)
	requireError(t, call(h, "GET", "/v1/medications", as("u-ana", pyxis.RoleNurse), ""), http.StatusUnauthorized, CodeUnauthorized)
}

func TestTokenLimits(t *testing.T) {
	_, err := IssueToken(testSecret, "u", "U", pyxis.RoleNurse, MaxTokenTTL+time.Second, time.Now())
	require.Error(t, err, "no token beyond a day")
	_, err = IssueCabinetToken(testSecret, "c", "C", "CAB-1", 48*time.Hour, time.Now())
	require.Error(t, err)
	_, err = IssueToken(testSecret, "u", "U", pyxis.RoleNurse, MaxTokenTTL, time.Now())
	require.NoError(t, err)

	// A leeway configured beyond MaxJWTLeeway is held to it.
	cfg := DefaultConfig()
	cfg.JWTSecret, cfg.JWTLeeway = testSecret, time.Hour
	h := authRouter(t, cfg)
	stale, err := IssueToken(testSecret, "u", "U", pyxis.RoleNurse, time.Minute, time.Now().Add(-4*time.Minute))
	require.NoError(t, err)
	status, _ := who(t, h, stale)
	assert.Equal(t, http.StatusUnauthorized, status)
}
