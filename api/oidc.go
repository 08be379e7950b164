package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/console"
)

// The console signs in with the hospital's identity provider by the OpenID Connect
// authorization code flow with PKCE, as a backend for frontend: the server sends the browser
// to the provider (GET /login), takes the code back (GET /auth/callback), exchanges it for
// tokens itself, and keeps them in the session; the browser holds only the session cookie.
// The access token is then checked on every call as any bearer token of the provider is
// (PYXIS_JWKS_URL, issuer, audience, role claim, users directory): one code path.

// loginCookie carries a sign-in in progress (its state and PKCE verifier) from /login to the
// callback. SameSite=Lax, because the callback is a navigation from the provider's site.
const loginCookie = "pyxis_login"

// oidcClient reads the provider's discovery document and exchanges codes for tokens.
type oidcClient struct {
	issuer, clientID, clientSecret, redirectURL string
	hc                                          *http.Client

	mu      sync.Mutex
	disc    oidcDiscovery
	fetched time.Time
}

type oidcDiscovery struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
}

// discoveryTTL is how long the discovery document is kept.
const discoveryTTL = time.Hour

func newOIDCClient(cfg Config) *oidcClient {
	return &oidcClient{
		issuer: strings.TrimSuffix(cfg.OIDCIssuer, "/"), clientID: cfg.OIDCClientID,
		clientSecret: cfg.OIDCClientSecret, redirectURL: cfg.OIDCRedirectURL,
		hc: &http.Client{Timeout: 10 * time.Second},
	}
}

// discover returns the provider's endpoints from {issuer}/.well-known/openid-configuration,
// checked: the document names the configured issuer, and its endpoints are https (or http on
// a loopback host, for tests and a local provider).
func (o *oidcClient) discover(ctx context.Context) (oidcDiscovery, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.disc.TokenEndpoint != "" && time.Since(o.fetched) < discoveryTTL {
		return o.disc, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return oidcDiscovery{}, err
	}
	resp, err := o.hc.Do(req)
	if err != nil {
		return oidcDiscovery{}, fmt.Errorf("oidc discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return oidcDiscovery{}, fmt.Errorf("oidc discovery: status %d", resp.StatusCode)
	}
	var d oidcDiscovery
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&d); err != nil {
		return oidcDiscovery{}, fmt.Errorf("oidc discovery: %w", err)
	}
	if strings.TrimSuffix(d.Issuer, "/") != o.issuer {
		return oidcDiscovery{}, fmt.Errorf("oidc discovery: the document names issuer %q, not %q", d.Issuer, o.issuer)
	}
	for _, u := range []string{d.AuthorizationEndpoint, d.TokenEndpoint} {
		if err := CheckJWKSURL(u); err != nil {
			return oidcDiscovery{}, fmt.Errorf("oidc discovery: %w", err)
		}
	}
	o.disc, o.fetched = d, time.Now()
	return d, nil
}

// redirect is the callback URL: configured, or this server's own /auth/callback.
func (o *oidcClient) redirect(c *gin.Context, secure bool) string {
	if o.redirectURL != "" {
		return o.redirectURL
	}
	scheme := "http"
	if secure {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host + "/auth/callback"
}

// oidcTokens are what the token endpoint answers.
type oidcTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// exchange trades an authorization code and its PKCE verifier for tokens.
func (o *oidcClient) exchange(ctx context.Context, endpoint, code, verifier, redirect string) (oidcTokens, error) {
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"client_id": {o.clientID}, "code_verifier": {verifier},
	}
	if o.clientSecret != "" {
		form.Set("client_secret", o.clientSecret)
	}
	return o.post(ctx, endpoint, form)
}

// post sends a form to the token endpoint and reads the tokens it answers.
func (o *oidcClient) post(ctx context.Context, endpoint string, form url.Values) (oidcTokens, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return oidcTokens{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := o.hc.Do(req)
	if err != nil {
		return oidcTokens{}, fmt.Errorf("oidc token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return oidcTokens{}, fmt.Errorf("oidc token: status %d", resp.StatusCode)
	}
	var t oidcTokens
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&t); err != nil {
		return oidcTokens{}, fmt.Errorf("oidc token: %w", err)
	}
	if t.AccessToken == "" {
		return oidcTokens{}, errors.New("oidc token: no access token")
	}
	return t, nil
}

// refreshed trades a refresh token for new tokens; the provider may keep the refresh token
// (none answered) or rotate it.
func (o *oidcClient) refreshed(ctx context.Context, endpoint, refresh string) (oidcTokens, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {o.clientID}}
	if o.clientSecret != "" {
		form.Set("client_secret", o.clientSecret)
	}
	t, err := o.post(ctx, endpoint, form)
	if err == nil && t.RefreshToken == "" {
		t.RefreshToken = refresh
	}
	return t, err
}

// refreshSession renews the tokens of the request's console session when its access token no
// longer verifies (expired), and keeps them in the session; "" when it cannot (no refresh
// token, or the provider refuses: the user signs in again).
func (s *Server) refreshSession(c *gin.Context) string {
	v, ok := c.Get(sessionKey)
	ref, _ := v.(sessionRef)
	if !ok || ref.refresh == "" {
		return ""
	}
	ctx := c.Request.Context()
	d, err := s.oidc.discover(ctx)
	if err != nil {
		slog.WarnContext(ctx, "identity provider unavailable; session not refreshed", "error", err)
		return ""
	}
	t, err := s.oidc.refreshed(ctx, d.TokenEndpoint, ref.refresh)
	if err != nil {
		slog.InfoContext(ctx, "session not refreshed", "error", err)
		return ""
	}
	if err := s.sessions.UpdateSessionTokens(ctx, ref.idHash, t.AccessToken, t.RefreshToken); err != nil {
		slog.WarnContext(ctx, "refreshed tokens not kept", "error", err)
		return ""
	}
	return t.AccessToken
}

// pkceChallenge is the S256 challenge of a verifier.
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// oidcLogin sends the browser to the provider with a fresh state and PKCE challenge.
func (s *Server) oidcLogin(c *gin.Context) {
	d, err := s.oidc.discover(c.Request.Context())
	if err != nil {
		slog.ErrorContext(c.Request.Context(), "identity provider unavailable", "error", err)
		abort(c, newError(http.StatusServiceUnavailable, CodeUnavailable, "the identity provider is not answering; try again shortly", nil))
		return
	}
	state, verifier := console.NewSecret(), console.NewSecret()
	secure := s.secureCookies(c)
	http.SetCookie(c.Writer, &http.Cookie{
		Name: loginCookie, Value: state + "." + verifier, Path: "/auth/callback", HttpOnly: true,
		Secure: secure, SameSite: http.SameSiteLaxMode, MaxAge: 600,
	})
	q := url.Values{
		"response_type": {"code"}, "client_id": {s.oidc.clientID}, "redirect_uri": {s.oidc.redirect(c, secure)},
		"scope": {"openid profile"}, "state": {state},
		"code_challenge": {pkceChallenge(verifier)}, "code_challenge_method": {"S256"},
	}
	sep := "?"
	if strings.Contains(d.AuthorizationEndpoint, "?") {
		sep = "&"
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, d.AuthorizationEndpoint+sep+q.Encode())
}

// oidcCallback takes the provider's answer: the state must be the one /login set, the code
// is exchanged with the verifier, and the access token must be one the API accepts; then a
// session is opened as GET /session opens one.
func (s *Server) oidcCallback(c *gin.Context) {
	refuse := func(msg string) {
		abort(c, newError(http.StatusUnauthorized, CodeUnauthorized, msg, nil))
	}
	raw, _ := c.Cookie(loginCookie)
	http.SetCookie(c.Writer, &http.Cookie{Name: loginCookie, Path: "/auth/callback", MaxAge: -1, HttpOnly: true})
	state, verifier, ok := strings.Cut(raw, ".")
	if !ok || !console.SameSecret(c.Query("state"), state) {
		refuse("the sign-in was not started here, or took too long; sign in again")
		return
	}
	if c.Query("error") != "" || c.Query("code") == "" {
		refuse("the identity provider did not sign you in")
		return
	}
	ctx := c.Request.Context()
	d, err := s.oidc.discover(ctx)
	if err != nil {
		slog.ErrorContext(ctx, "identity provider unavailable", "error", err)
		abort(c, newError(http.StatusServiceUnavailable, CodeUnavailable, "the identity provider is not answering; try again shortly", nil))
		return
	}
	tokens, err := s.oidc.exchange(ctx, d.TokenEndpoint, c.Query("code"), verifier, s.oidc.redirect(c, s.secureCookies(c)))
	if err != nil {
		slog.WarnContext(ctx, "oidc code exchange refused", "error", err)
		refuse("the identity provider did not confirm the sign-in")
		return
	}
	p, err := s.auth.verify(ctx, tokens.AccessToken)
	if err == nil && s.dir != nil {
		p, err = s.dir.resolve(ctx, p)
	}
	if err == nil && (p.Role == pyxis.RoleCabinet || s.sessions == nil) {
		err = errBadToken
	}
	if err != nil {
		refuse("the identity provider's token is not accepted here")
		return
	}
	s.openSession(c, tokens.AccessToken, tokens.RefreshToken)
}
