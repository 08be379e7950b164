package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
)

const (
	testIssuer   = "https://idp.test/realms/hospital"
	testAudience = "pyxis-api"
)

// idp is an identity provider for tests: its own RSA and EC keys, and a JWKS endpoint served
// by httptest that counts its fetches.
type idp struct {
	t       *testing.T
	srv     *httptest.Server
	fetches atomic.Int64

	mu   sync.Mutex
	keys map[string]any // kid -> private key
	pub  []jwk.Key
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	p := &idp{t: t, keys: map[string]any{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		set := jwk.NewSet()
		for _, k := range p.pub {
			require.NoError(t, set.AddKey(k))
		}
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		require.NoError(t, json.NewEncoder(w).Encode(set))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// addRSA publishes a new RSA key under kid.
func (p *idp) addRSA(kid string) *rsa.PrivateKey {
	p.t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(p.t, err)
	p.publish(kid, priv, &priv.PublicKey, "RS256")
	return priv
}

// addEC publishes a new P-256 key under kid.
func (p *idp) addEC(kid string) *ecdsa.PrivateKey {
	p.t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(p.t, err)
	p.publish(kid, priv, &priv.PublicKey, "ES256")
	return priv
}

func (p *idp) publish(kid string, priv, pub any, alg string) {
	k, err := jwk.Import(pub)
	require.NoError(p.t, err)
	require.NoError(p.t, k.Set(jwk.KeyIDKey, kid))
	require.NoError(p.t, k.Set(jwk.KeyUsageKey, "sig"))
	require.NoError(p.t, k.Set(jwk.AlgorithmKey, alg))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[kid] = priv
	p.pub = append(p.pub, k)
}

// claims are a valid token's claims, changed by the options.
func idpClaims(changes ...func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "u-123", "name": "Paula Pharmacist",
		"role": pyxis.RolePharmacist, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	for _, f := range changes {
		f(c)
	}
	return c
}

// sign signs claims with the key published under kid.
func (p *idp) sign(method jwt.SigningMethod, kid string, claims jwt.MapClaims) string {
	p.t.Helper()
	p.mu.Lock()
	key := p.keys[kid]
	p.mu.Unlock()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	require.NoError(p.t, err)
	return s
}

// authRouter serves GET /who behind the authenticator of cfg, answering with the actor.
func authRouter(t *testing.T, cfg Config) http.Handler {
	t.Helper()
	var keys *jwksKeys
	if cfg.JWKSURL != "" {
		var err error
		keys, err = newJWKSKeys(cfg.JWKSURL, cfg.JWKSRefreshInterval)
		require.NoError(t, err)
		t.Cleanup(keys.close)
	}
	r := gin.New()
	r.GET("/who", newAuthenticator(cfg, keys).authenticate(), func(c *gin.Context) { c.JSON(http.StatusOK, actor(c)) })
	return r
}

func idpConfig(p *idp) Config {
	cfg := DefaultConfig()
	cfg.JWTSecret = []byte("test-secret-test-secret-test-secret")
	cfg.JWKSURL = p.srv.URL
	cfg.JWTIssuer = testIssuer
	cfg.JWTAudience = testAudience
	cfg.JWKSRefreshInterval = 0
	return cfg
}

// who calls GET /who with token and returns the status and actor.
func who(t *testing.T, h http.Handler, token string) (int, pyxis.Actor) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/who", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var a pyxis.Actor
	if rec.Code == http.StatusOK {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &a))
	} else {
		var e ErrorBody
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rec.Body.String())
		assert.Equal(t, CodeUnauthorized, e.Error.Code)
	}
	return rec.Code, a
}

func TestJWKSTokens(t *testing.T) {
	p := newIDP(t)
	p.addRSA("rsa-1")
	p.addEC("ec-1")
	cfg := idpConfig(p)
	h := authRouter(t, cfg)
	hs, err := IssueToken(cfg.JWTSecret, "nurse-1", "Nina", pyxis.RoleNurse, time.Hour, time.Now())
	require.NoError(t, err)

	pemPub, err := x509.MarshalPKIXPublicKey(&p.keys["rsa-1"].(*rsa.PrivateKey).PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pemPub})
	confused := jwt.NewWithClaims(jwt.SigningMethodHS256, idpClaims())
	confused.Header["kid"] = "rsa-1"
	confusedTok, err := confused.SignedString(pubPEM)
	require.NoError(t, err)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, idpClaims())
	none.Header["kid"] = "rsa-1"
	noneTok, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	noKid, err := jwt.NewWithClaims(jwt.SigningMethodRS256, idpClaims()).SignedString(p.keys["rsa-1"])
	require.NoError(t, err)
	rs384 := jwt.NewWithClaims(jwt.SigningMethodRS384, idpClaims())
	rs384.Header["kid"] = "rsa-1"
	rs384Tok, err := rs384.SignedString(p.keys["rsa-1"])
	require.NoError(t, err)
	// An ES256 token naming the RSA key: the key does not suit the algorithm.
	mismatchedTok := jwt.NewWithClaims(jwt.SigningMethodES256, idpClaims())
	mismatchedTok.Header["kid"] = "rsa-1"
	mismatched, err := mismatchedTok.SignedString(p.keys["ec-1"])
	require.NoError(t, err)

	for _, tc := range []struct {
		name  string
		token string
		want  int
		role  string
	}{
		{"RS256", p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims()), http.StatusOK, pyxis.RolePharmacist},
		{"ES256", p.sign(jwt.SigningMethodES256, "ec-1", idpClaims(func(c jwt.MapClaims) { c["role"] = pyxis.RoleNurse })), http.StatusOK, pyxis.RoleNurse},
		{"audience in a list", p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(func(c jwt.MapClaims) { c["aud"] = []string{"account", testAudience} })), http.StatusOK, pyxis.RolePharmacist},
		{"HS256 still accepted", hs, http.StatusOK, pyxis.RoleNurse},
		{"expired within leeway", p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() })), http.StatusOK, pyxis.RolePharmacist},
		{"expired beyond leeway", p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() })), http.StatusUnauthorized, ""},
		{"not yet valid", p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(5 * time.Minute).Unix() })), http.StatusUnauthorized, ""},
		{"no expiry", p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(func(c jwt.MapClaims) { delete(c, "exp") })), http.StatusUnauthorized, ""},
		{"wrong issuer", p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })), http.StatusUnauthorized, ""},
		{"no issuer", p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(func(c jwt.MapClaims) { delete(c, "iss") })), http.StatusUnauthorized, ""},
		{"wrong audience", p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(func(c jwt.MapClaims) { c["aud"] = "another-app" })), http.StatusUnauthorized, ""},
		{"unknown role", p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(func(c jwt.MapClaims) { c["role"] = "surgeon" })), http.StatusUnauthorized, ""},
		{"no subject", p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims(func(c jwt.MapClaims) { delete(c, "sub") })), http.StatusUnauthorized, ""},
		{"alg none", noneTok, http.StatusUnauthorized, ""},
		{"HS256 signed with the RSA public key", confusedTok, http.StatusUnauthorized, ""},
		{"ES256 naming an RSA key", mismatched, http.StatusUnauthorized, ""},
		{"RS384 is not accepted", rs384Tok, http.StatusUnauthorized, ""},
		{"no kid", noKid, http.StatusUnauthorized, ""},
		{"garbage", "a.b.c", http.StatusUnauthorized, ""},
		{"no token", "", http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, a := who(t, h, tc.token)
			require.Equal(t, tc.want, status)
			if tc.want == http.StatusOK {
				assert.Equal(t, tc.role, a.Role)
				assert.NotEmpty(t, a.ID)
			}
		})
	}
}

func TestJWKSWithoutSecretRefusesHS256(t *testing.T) {
	p := newIDP(t)
	p.addRSA("rsa-1")
	cfg := idpConfig(p)
	cfg.JWTSecret = nil
	h := authRouter(t, cfg)
	// Signed with an empty key: must not pass just because no secret is configured.
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "x", "role": "admin", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte{})
	require.NoError(t, err)
	status, _ := who(t, h, tok)
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = who(t, h, p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims()))
	assert.Equal(t, http.StatusOK, status)
}

func TestJWKSKeyRotation(t *testing.T) {
	p := newIDP(t)
	p.addRSA("2025")
	h := authRouter(t, idpConfig(p))
	status, _ := who(t, h, p.sign(jwt.SigningMethodRS256, "2025", idpClaims()))
	require.Equal(t, http.StatusOK, status)
	before := p.fetches.Load()

	// The provider rotates: a new key appears in its JWKS, and tokens start naming it.
	p.addEC("2026")
	status, a := who(t, h, p.sign(jwt.SigningMethodES256, "2026", idpClaims()))
	require.Equal(t, http.StatusOK, status, "a new kid is fetched and accepted")
	assert.Equal(t, "u-123", a.ID)
	assert.Equal(t, before+1, p.fetches.Load(), "one refresh")
	status, _ = who(t, h, p.sign(jwt.SigningMethodES256, "2026", idpClaims()))
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, before+1, p.fetches.Load(), "then served from the cache")

	// A key that is not in the JWKS even after a refresh stays refused.
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, idpClaims())
	tok.Header["kid"] = "unknown"
	unknown, err := tok.SignedString(stranger)
	require.NoError(t, err)
	status, _ = who(t, h, unknown)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, before+2, p.fetches.Load(), "the unknown kid made it look again")
}

func TestJWKSRefreshIsRateLimited(t *testing.T) {
	p := newIDP(t)
	p.addRSA("rsa-1")
	cfg := idpConfig(p)
	cfg.JWKSRefreshInterval = time.Hour
	h := authRouter(t, cfg)
	status, _ := who(t, h, p.sign(jwt.SigningMethodRS256, "rsa-1", idpClaims()))
	require.Equal(t, http.StatusOK, status)
	fetched := p.fetches.Load()

	p.addRSA("rsa-2")
	for range 20 {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, idpClaims())
		tok.Header["kid"] = "made-up"
		s, err := tok.SignedString(p.keys["rsa-1"])
		require.NoError(t, err)
		status, _ := who(t, h, s)
		require.Equal(t, http.StatusUnauthorized, status)
	}
	status, _ = who(t, h, p.sign(jwt.SigningMethodRS256, "rsa-2", idpClaims()))
	assert.Equal(t, http.StatusUnauthorized, status, "no refresh within the interval, even for a real new key")
	assert.Equal(t, fetched, p.fetches.Load(), "made-up kids do not reach the provider")
}

func TestRoleClaim(t *testing.T) {
	p := newIDP(t)
	p.addRSA("k")
	for _, tc := range []struct {
		name, claim string
		set         func(jwt.MapClaims)
		want        string
	}{
		{"keycloak realm roles", "realm_access.roles", func(c jwt.MapClaims) {
			c["realm_access"] = map[string]any{"roles": []string{"offline_access", "uma_authorization", "technician", "admin"}}
		}, pyxis.RoleTechnician},
		{"nested string", "pyxis.role", func(c jwt.MapClaims) { c["pyxis"] = map[string]any{"role": "admin"} }, pyxis.RoleAdmin},
		{"namespaced claim with dots", "https://pyxis.example/role", func(c jwt.MapClaims) { c["https://pyxis.example/role"] = "nurse" }, pyxis.RoleNurse},
		{"array at top level", "roles", func(c jwt.MapClaims) { c["roles"] = []any{"x", 3, "pharmacist"} }, pyxis.RolePharmacist},
		{"no known role", "realm_access.roles", func(c jwt.MapClaims) {
			c["realm_access"] = map[string]any{"roles": []string{"offline_access"}}
		}, ""},
		{"path through a string", "role.name", func(c jwt.MapClaims) {}, ""},
		{"missing", "groups", func(c jwt.MapClaims) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := idpConfig(p)
			cfg.JWTRoleClaim = tc.claim
			h := authRouter(t, cfg)
			claims := idpClaims(func(c jwt.MapClaims) { delete(c, "role") }, tc.set)
			if tc.name == "path through a string" {
				claims["role"] = "nurse"
			}
			status, a := who(t, h, p.sign(jwt.SigningMethodRS256, "k", claims))
			if tc.want == "" {
				assert.Equal(t, http.StatusUnauthorized, status)
				return
			}
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, tc.want, a.Role)
		})
	}
}
