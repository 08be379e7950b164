package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// TestDeactivatedPharmacistDoesNotCountTowardDualApproval runs a request that needs two
// pharmacists on the real stack: the first approver is deactivated before the second
// approval arrives, so the second does not complete it; a third, active pharmacist does.
func TestDeactivatedPharmacistDoesNotCountTowardDualApproval(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	morphine := c.controlledMedication(f, "A1", 5)
	nurse := c.token("nurse-void", pyxis.RoleNurse)
	first, second, third := c.token("pharm-void-1", pyxis.RolePharmacist), c.token("pharm-void-2", pyxis.RolePharmacist),
		c.token("pharm-void-3", pyxis.RolePharmacist)
	admin := c.token("admin-1", pyxis.RoleAdmin)

	status, body := c.do("POST", "/v1/requests", nurse, map[string]any{
		"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": "MRN-VOID-1", "bed": "4"}, "priority": "urgent",
		"items": []map[string]any{{"medication_id": morphine, "quantity": 1}},
	})
	require.Equal(t, http.StatusCreated, status, body)
	id := body["id"].(string)
	c.waitStatus(id, nurse, "awaiting_approval")
	status, body = c.do("POST", "/v1/requests/"+id+"/approve", first, map[string]any{"note": "first check"})
	require.Equal(t, http.StatusAccepted, status, body)
	require.Equal(t, "awaiting_approval", body["status"])
	// The API learns the first approval from the projection.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Contains(ct, c.auditActions(id, nurse), "approval_recorded")
	}, 10*time.Second, 50*time.Millisecond)

	status, body = c.do("PATCH", "/v1/users/pharm-void-1", admin, map[string]any{"active": false})
	require.Equal(t, http.StatusOK, status, body)
	status, _ = c.do("GET", "/v1/requests/"+id, first, nil)
	assert.Equal(t, http.StatusUnauthorized, status, "a deactivated pharmacist's token is refused")

	status, body = c.do("POST", "/v1/requests/"+id+"/approve", second, nil)
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "awaiting_approval", body["status"], "the deactivated pharmacist's approval no longer counts")
	approvals := body["approvals"].([]any)
	require.Len(t, approvals, 1)
	assert.Equal(t, "pharm-void-2", approvals[0].(map[string]any)["actor"].(map[string]any)["id"])

	status, body = c.do("POST", "/v1/requests/"+id+"/approve", third, nil)
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "approved", body["status"])
	c.waitStatus(id, nurse, "ready_at_cabinet")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, []string{"submitted", "stock_reserved", "approval_recorded", "approval_voided", "approval_recorded", "approved", "authorized_at_cabinet"},
			c.auditActions(id, nurse))
	}, 10*time.Second, 100*time.Millisecond)
	c.requireProjectionMatchesWorkflow(id, nurse)
	captureRunningHistory(t, id, "dual_approval_voided")
}

// TestNeedToKnowAndAccessLogEndToEnd reads a request over the real stack as nurses of its
// cabinet's unit and of none, and finds the reads in the access log.
func TestNeedToKnowAndAccessLogEndToEnd(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5) // its cabinet is on "Test unit"
	owner := c.token("nurse-ntk-owner", pyxis.RoleNurse)
	id := c.create(f, owner, 1)
	c.waitStatus(id, owner, "awaiting_approval")
	admin := c.token("admin-1", pyxis.RoleAdmin)
	status, body := c.do("POST", "/v1/users", admin, map[string]any{"id": "nurse-ntk-unit", "name": "Unit Nurse", "role": "nurse", "unit": "Test unit"})
	require.Equal(t, http.StatusCreated, status, body)
	colleague, stranger := c.token("nurse-ntk-unit", pyxis.RoleNurse), c.token("nurse-ntk-stranger", pyxis.RoleNurse)

	status, body = c.do("GET", "/v1/requests/"+id, colleague, nil, "X-Request-ID", "e2e-ntk-read")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "MRN-778899", body["patient"].(map[string]any)["mrn"])
	status, body = c.do("GET", "/v1/requests/"+id, stranger, nil)
	assert.Equal(t, http.StatusNotFound, status, body)
	assert.NotContains(t, fmt.Sprint(body), "MRN")
	status, body = c.do("GET", "/v1/requests/"+id+"/audit", stranger, nil)
	assert.Equal(t, http.StatusNotFound, status, body)
	status, body = c.do("GET", fmt.Sprintf("/v1/requests?cabinet_id=%d", f.cabinetID), stranger, nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Empty(t, body["data"])

	status, body = c.do("GET", "/v1/access-log?request_id="+id+"&actor_id=nurse-ntk-unit", admin, nil)
	require.Equal(t, http.StatusOK, status, body)
	entries := body["data"].([]any)
	require.Len(t, entries, 1)
	e := entries[0].(map[string]any)
	assert.Equal(t, "request.read", e["action"])
	assert.Equal(t, "e2e-ntk-read", e["x_request_id"])
	assert.Equal(t, "127.0.0.1", e["client_ip"])
}

func TestIdentityConfig(t *testing.T) {
	env := envOf
	cfg, err := loadConfig(env())
	require.NoError(t, err)
	assert.False(t, cfg.API.RequireKnownUsers)
	assert.Equal(t, 30*time.Second, cfg.API.UserCacheTTL)
	assert.Empty(t, cfg.API.TrustedProxies)

	cfg, err = loadConfig(env("PYXIS_REQUIRE_KNOWN_USERS", "true", "PYXIS_USER_CACHE_TTL", "5s",
		"PYXIS_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7"))
	require.NoError(t, err)
	assert.True(t, cfg.API.RequireKnownUsers)
	assert.Equal(t, 5*time.Second, cfg.API.UserCacheTTL)
	assert.Equal(t, []string{"10.0.0.0/8", "192.168.1.7"}, cfg.API.TrustedProxies)
	assert.Contains(t, cfg.String(), "require_known_users=true")

	_, err = loadConfig(env("PYXIS_REQUIRE_KNOWN_USERS", "sometimes", "PYXIS_USER_CACHE_TTL", "2m", "PYXIS_TRUSTED_PROXIES", "everyone"))
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
		_, err := loadConfig(env(append([]string{"PYXIS_JWKS_URL", url}, idp...)...))
		if ok {
			assert.NoError(t, err, url)
			continue
		}
		if assert.Error(t, err, url) {
			assert.Contains(t, err.Error(), "PYXIS_JWKS_URL", url)
			assert.Contains(t, err.Error(), "https", url)
		}
	}
	// The api subcommand refuses to start with it.
	err = run(t.Context(), []string{"api"}, env(append([]string{"PYXIS_JWKS_URL", "http://idp.example/certs"}, idp...)...), &bytes.Buffer{})
	assert.ErrorContains(t, err, "configuration")
	assert.ErrorContains(t, err, "loopback")
}

func TestTokenCommand(t *testing.T) {
	secret := strings.Repeat("k", 32)
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
}

// TestDemoNursesWorkOnTheDemoCabinetsUnits keeps dev mode's nurses able to see their
// cabinets' requests.
func TestDemoNursesWorkOnTheDemoCabinetsUnits(t *testing.T) {
	units := map[string]string{}
	for _, c := range demoCabinets {
		units[c.Code] = c.Unit
	}
	nurses := map[string]string{}
	for _, u := range demoUsers {
		if u.Role == pyxis.RoleNurse {
			nurses[u.ID] = u.Unit
		}
	}
	assert.Equal(t, map[string]string{"nurse-ana": units["PYX-ICU-01"], "nurse-caio": units["PYX-3B-01"]}, nurses)
	assert.Equal(t, "Intensive Care Unit", nurses["nurse-ana"])
	assert.Equal(t, "Ward 3B (Medical)", nurses["nurse-caio"])
}

// TestDevBannerPrintsDemoUsersOnly starts from a seeded database whose directory also holds a
// cabinet interface, a user added on first sight and a deactivated demo user: the banner
// still prints, with tokens for the active demo users only.
func TestDevBannerPrintsDemoUsersOnly(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	ctx := t.Context()
	d, err := seedDemo(ctx, store)
	require.NoError(t, err)
	require.Len(t, d.Users, len(demoUsers))
	for _, u := range []db.User{
		{ID: "cab-icu", Name: "ICU interface", Role: pyxis.RoleCabinet, Active: true},
		{ID: "someone-else", Name: "Someone", Role: pyxis.RoleNurse, Active: true},
	} {
		_, err := store.CreateUser(ctx, u, pyxis.Actor{ID: "admin-fe", Role: pyxis.RoleAdmin})
		require.NoError(t, err)
	}
	_, err = store.UpdateUser(ctx, "tech-edu", db.UserPatch{Active: ptrTo(false)}, pyxis.Actor{ID: "admin-fe", Role: pyxis.RoleAdmin})
	require.NoError(t, err)

	d, err = seedDemo(ctx, store)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, printBanner(&out, banner{api: "http://localhost:8080", secret: strings.Repeat("s", 32), demo: d}))
	assert.Contains(t, out.String(), "NURSE_ANA_TOKEN")
	assert.Contains(t, out.String(), "PHARM_DORA_TOKEN")
	for _, absent := range []string{"CAB_ICU_TOKEN", "SOMEONE_ELSE_TOKEN", "TECH_EDU_TOKEN"} {
		assert.NotContains(t, out.String(), absent)
	}
}

func ptrTo[T any](v T) *T { return &v }
