package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/console"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// signIn opens a console session with tok and returns its cookie.
func signIn(t *testing.T, h http.Handler, tok string) *http.Cookie {
	t.Helper()
	rec := call(h, "GET", "/session?token="+tok, "", "")
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	assert.Equal(t, "/", rec.Header().Get("Location"))
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	return cookies[0]
}

// withCookie sends a request with the session cookie (and headers).
func withCookie(h http.Handler, method, path string, c *http.Cookie, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.AddCookie(c)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// A token opens a session whose cookie is HttpOnly and SameSite=Strict; the session then
// reads /v1 as the token would, a change without the CSRF token is refused, and signing out
// ends the session on the server.
func TestConsoleSession(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	h := serverWith(t, store, func(c *Config) { c.ConsoleTokenSignIn = true })
	cookie := signIn(t, h, testToken(t, "admin-1", pyxis.RoleAdmin))
	assert.Equal(t, console.CookieName, cookie.Name)
	assert.True(t, cookie.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, cookie.SameSite)
	assert.False(t, cookie.Secure, "plain http in this test")
	assert.Len(t, cookie.Value, 43, "256 random bits")

	rec := withCookie(h, "GET", "/console/me", cookie, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	me := decode[ConsoleMe](t, rec)
	assert.Equal(t, "admin-1", me.ID)
	assert.Equal(t, pyxis.RoleAdmin, me.Role)
	require.NotEmpty(t, me.CSRF)

	rec = withCookie(h, "GET", "/v1/queue", cookie, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	body := `{"id": "nurse-ana", "name": "Ana", "role": "nurse", "unit": "ICU"}`
	rec = withCookie(h, "POST", "/v1/users", cookie, body, "Content-Type", "application/json")
	requireError(t, rec, http.StatusForbidden, CodeForbidden)
	rec = withCookie(h, "POST", "/v1/users", cookie, body, "Content-Type", "application/json", console.CSRFHeader, "wrong")
	requireError(t, rec, http.StatusForbidden, CodeForbidden)
	rec = withCookie(h, "POST", "/v1/users", cookie, body, "Content-Type", "application/json", console.CSRFHeader, me.CSRF)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())

	requireError(t, withCookie(h, "POST", "/session/end", cookie, ""), http.StatusForbidden, CodeForbidden)
	rec = withCookie(h, "POST", "/session/end", cookie, "", console.CSRFHeader, me.CSRF)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	cleared := rec.Result().Cookies()
	require.Len(t, cleared, 1)
	assert.Equal(t, -1, cleared[0].MaxAge)
	assert.Equal(t, http.StatusNoContent, withCookie(h, "GET", "/console/me", cookie, "").Code, "signed out")
	requireError(t, withCookie(h, "GET", "/v1/queue", cookie, ""), http.StatusUnauthorized, CodeUnauthorized)
}

// The session's rights are the token's: a nurse's session may not read the queue.
func TestConsoleSessionKeepsRoles(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	h := serverWith(t, store, func(c *Config) { c.ConsoleTokenSignIn = true })
	cookie := signIn(t, h, testToken(t, "nurse-1", pyxis.RoleNurse))
	requireError(t, withCookie(h, "GET", "/v1/queue", cookie, ""), http.StatusForbidden, CodeForbidden)
	rec := withCookie(h, "GET", "/v1/requests", cookie, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
}

// Behind TLS (HSTS configured) the cookie is Secure.
func TestConsoleCookieSecureOverHTTPS(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	h := serverWith(t, store, func(c *Config) { c.ConsoleTokenSignIn, c.HSTS = true, true })
	assert.True(t, signIn(t, h, testToken(t, "ph-1", pyxis.RolePharmacist)).Secure)
}

// Signing in with a token in the URL exists only when configured, and takes only tokens the
// API takes, of people.
func TestConsoleTokenSignInGuards(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	off := serverWith(t, store, nil)
	requireError(t, call(off, "GET", "/session?token="+testToken(t, "ph-1", pyxis.RolePharmacist), "", ""), http.StatusNotFound, "not_found")

	on := serverWith(t, store, func(c *Config) { c.ConsoleTokenSignIn = true })
	requireError(t, call(on, "GET", "/session?token=not-a-token", "", ""), http.StatusUnauthorized, CodeUnauthorized)
	requireError(t, call(on, "GET", "/session", "", ""), http.StatusUnauthorized, CodeUnauthorized)
	cab, err := IssueCabinetToken(testSecret, "cab-1", "cab", "CAB-1", time.Hour, time.Now())
	require.NoError(t, err)
	requireError(t, call(on, "GET", "/session?token="+cab, "", ""), http.StatusUnauthorized, CodeUnauthorized)
}

// The page and its assets are served under the console's policy: no inline script or style,
// no eval, no framing, nothing from another origin; nothing outside the assets is served.
func TestConsolePageAndPolicy(t *testing.T) {
	h := serverWith(t, nil, nil)
	rec := call(h, "GET", "/", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Header().Get("Content-Type"), "text/html")
	csp := rec.Header().Get("Content-Security-Policy")
	assert.Equal(t, console.ContentSecurityPolicy, csp)
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.NotContains(t, csp, "unsafe-eval")
	assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	assert.Contains(t, rec.Body.String(), `<script type="module" src="/assets/app.js">`)
	assert.NotContains(t, rec.Body.String(), "<script>", "no inline script")

	rec = call(h, "GET", "/assets/app.js", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Header().Get("Content-Type"), "javascript")
	for _, path := range []string{"/assets/..%2Frouter.go", "/assets/", "/assets/nope.js", "/assets/index.html"} {
		assert.Equal(t, http.StatusNotFound, call(h, "GET", path, "", "").Code, path)
	}
	// Without a session the page learns that nobody is signed in; a bad token is still 401.
	assert.Equal(t, http.StatusNoContent, call(h, "GET", "/console/me", "", "").Code)
	requireError(t, call(h, "GET", "/console/me", "bad", ""), http.StatusUnauthorized, CodeUnauthorized)
	requireError(t, call(h, "GET", "/console/events", "", ""), http.StatusUnauthorized, CodeUnauthorized)
}
