package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/console"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// oidcProvider is an OpenID Connect provider for tests, in process: discovery, an authorize
// endpoint that signs the user in at once, and a token endpoint that checks the PKCE
// verifier, issuing access tokens signed with a key of the JWKS idp serves.
type oidcProvider struct {
	*idp
	srv *httptest.Server

	mu    sync.Mutex
	codes map[string]struct{ challenge, redirect string }
}

const oidcClientID = "pyxis-console"

func newOIDCProvider(t *testing.T) *oidcProvider {
	t.Helper()
	p := &oidcProvider{idp: newIDP(t), codes: map[string]struct{ challenge, redirect string }{}}
	p.addRSA("k1")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{
			"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize",
			"token_endpoint": p.srv.URL + "/token", "jwks_uri": p.idp.srv.URL,
		})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != oidcClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
			q.Get("code_challenge") == "" || !strings.Contains(q.Get("scope"), "openid") {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		code := console.NewSecret()
		p.mu.Lock()
		p.codes[code] = struct{ challenge, redirect string }{q.Get("code_challenge"), q.Get("redirect_uri")}
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		if r.PostForm.Get("grant_type") == "refresh_token" {
			if r.PostForm.Get("refresh_token") != "r-1" || r.PostForm.Get("client_id") != oidcClientID {
				http.Error(w, `{"error": "invalid_grant"}`, http.StatusBadRequest)
				return
			}
			access := p.sign(jwt.SigningMethodRS256, "k1", idpClaims(func(c jwt.MapClaims) { c["iss"] = p.srv.URL; c["jti"] = "renewed" }))
			_ = json.NewEncoder(w).Encode(map[string]string{"access_token": access, "refresh_token": "r-2", "token_type": "Bearer"})
			return
		}
		p.mu.Lock()
		grant, ok := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		p.mu.Unlock()
		if !ok || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("client_id") != oidcClientID ||
			r.PostForm.Get("redirect_uri") != grant.redirect || pkceChallenge(r.PostForm.Get("code_verifier")) != grant.challenge {
			http.Error(w, `{"error": "invalid_grant"}`, http.StatusBadRequest)
			return
		}
		access := p.sign(jwt.SigningMethodRS256, "k1", idpClaims(func(c jwt.MapClaims) { c["iss"] = p.srv.URL }))
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": access, "refresh_token": "r-1", "token_type": "Bearer"})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// noFollow is a client that shows redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// startLogin calls GET /login and the provider's authorize endpoint, and returns the
// callback's path and query and the login cookie.
func startLogin(t *testing.T, h http.Handler) (string, *http.Cookie) {
	t.Helper()
	rec := call(h, "GET", "/login", "", "")
	require.Equal(t, http.StatusFound, rec.Code, rec.Body.String())
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	login := cookies[0]
	assert.True(t, login.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, login.SameSite)
	resp, err := noFollow.Get(rec.Header().Get("Location"))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	back, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "/auth/callback", back.Path)
	return back.RequestURI(), login
}

// The console signs in with the provider: authorization code with PKCE, the tokens kept on
// the server, the browser given only the session cookie; the session is the token's user.
func TestConsoleOIDCSignIn(t *testing.T) {
	p := newOIDCProvider(t)
	store := db.NewStore(dbtest.NewPool(t))
	cfg := idpConfig(p.idp)
	cfg.JWTIssuer = p.srv.URL
	cfg.OIDCIssuer, cfg.OIDCClientID = p.srv.URL, oidcClientID
	s := NewServer(store, nil, cfg)
	t.Cleanup(s.Close)
	h := s.Handler()

	rec := call(h, "GET", "/console/me", "", "")
	require.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, "oidc", rec.Header().Get("X-Console-Sign-In"), "the page offers the provider's sign-in")

	callback, login := startLogin(t, h)
	rec = withCookie(h, "GET", callback, login, "")
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	var session *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == console.CookieName {
			session = c
		}
	}
	require.NotNil(t, session)
	assert.True(t, session.HttpOnly)
	assert.NotContains(t, session.Value, ".", "the browser holds a session id, not a token")
	rec = withCookie(h, "GET", "/console/me", session, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	me := decode[ConsoleMe](t, rec)
	assert.Equal(t, "u-123", me.ID)
	assert.Equal(t, pyxis.RolePharmacist, me.Role)

	// Once the access token has expired, the session renews it with the refresh token and
	// keeps the new tokens; a refresh token the provider refuses ends the session.
	expired := p.sign(jwt.SigningMethodRS256, "k1", idpClaims(func(c jwt.MapClaims) {
		c["iss"] = p.srv.URL
		c["exp"] = time.Now().Add(-time.Hour).Unix()
	}))
	hash := console.HashID(session.Value)
	require.NoError(t, store.UpdateSessionTokens(t.Context(), hash, expired, "r-1"))
	rec = withCookie(h, "GET", "/console/me", session, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "u-123", decode[ConsoleMe](t, rec).ID)
	kept, err := store.GetSession(t.Context(), hash)
	require.NoError(t, err)
	assert.NotEqual(t, expired, kept.Token)
	assert.Equal(t, "r-2", kept.Refresh, "the rotated refresh token is kept")
	require.NoError(t, store.UpdateSessionTokens(t.Context(), hash, expired, "r-2"))
	requireError(t, withCookie(h, "GET", "/console/me", session, ""), http.StatusUnauthorized, CodeUnauthorized)

	// A callback whose state is not the one /login set is refused.
	callback, login = startLogin(t, h)
	requireError(t, withCookie(h, "GET", strings.Replace(callback, "state=", "state=x", 1), login, ""), http.StatusUnauthorized, CodeUnauthorized)
	// A login cookie with another PKCE verifier: the provider refuses the code.
	callback, login = startLogin(t, h)
	state, _, _ := strings.Cut(login.Value, ".")
	login.Value = state + "." + console.NewSecret()
	requireError(t, withCookie(h, "GET", callback, login, ""), http.StatusUnauthorized, CodeUnauthorized)
	// No login cookie at all.
	requireError(t, call(h, "GET", callback, "", ""), http.StatusUnauthorized, CodeUnauthorized)
}
