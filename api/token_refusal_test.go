package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
)

// TestRefusedTokenReasonIsLogged refuses a token for each reason: the client gets the same
// 401 every time, and the server's log line for the request names the reason. It swaps the
// default logger, so it does not run in parallel.
func TestRefusedTokenReasonIsLogged(t *testing.T) {
	p := newIDP(t)
	p.addRSA("k1")
	cfg := idpConfig(p)
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	var keys *jwksKeys
	keys, err := newJWKSKeys(cfg.JWKSURL, cfg.JWKSRefreshInterval)
	require.NoError(t, err)
	t.Cleanup(keys.close)
	r := gin.New()
	r.Use(logRequests())
	r.GET("/who", newAuthenticator(cfg, keys).authenticate(), func(c *gin.Context) { c.JSON(http.StatusOK, actor(c)) })

	hs := func(secret []byte, change func(jwt.MapClaims)) string {
		now := time.Now()
		c := jwt.MapClaims{"sub": "nurse-ana", "role": pyxis.RoleNurse, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if change != nil {
			change(c)
		}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		require.NoError(t, err)
		return s
	}
	past, future := time.Now().Add(-time.Hour).Unix(), time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		reason, token string
	}{
		{"expired", hs(cfg.JWTSecret, func(c jwt.MapClaims) { c["exp"] = past })},
		{"not_yet_valid", hs(cfg.JWTSecret, func(c jwt.MapClaims) { c["nbf"] = future })},
		{"bad_signature", hs([]byte("another-secret-another-secret-another"), nil)},
		{"unknown_kid", func() string {
			p.addRSA("k2")
			tok := p.sign(jwt.SigningMethodRS256, "k2", idpClaims())
			p.mu.Lock()
			p.pub = p.pub[:1] // k2 was never published, as far as the server can tell
			p.mu.Unlock()
			return tok
		}()},
		{"wrong_issuer", p.sign(jwt.SigningMethodRS256, "k1", idpClaims(func(c jwt.MapClaims) { c["iss"] = "https://elsewhere" }))},
		{"wrong_audience", p.sign(jwt.SigningMethodRS256, "k1", idpClaims(func(c jwt.MapClaims) { c["aud"] = "another-api" }))},
		{"malformed", "not.a-token"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			logs.Reset()
			req := httptest.NewRequest(http.MethodGet, "/who", nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			require.Equal(t, http.StatusUnauthorized, rec.Code)
			assert.JSONEq(t, `{"error": {"code": "unauthorized", "message": "invalid or expired token"}}`, rec.Body.String(), "the client learns no reason")
			var line map[string]any
			for raw := range bytes.SplitSeq(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
				var l map[string]any
				require.NoError(t, json.Unmarshal(raw, &l), logs.String())
				if l["msg"] == "http request" {
					line = l
				}
			}
			require.NotNil(t, line, "no request log line: %s", logs.String())
			assert.Equal(t, tc.reason, line["reason"])
		})
	}
}

// TestBearerSchemeIsCaseInsensitive accepts "bearer" and "BEARER" as RFC 7235 wants, and
// still refuses another scheme.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	cfg := DefaultConfig()
	cfg.JWTSecret = []byte("test-secret-test-secret-test-secret")
	h := authRouter(t, cfg)
	tok, err := IssueToken(cfg.JWTSecret, "nurse-ana", "Ana", pyxis.RoleNurse, time.Hour, time.Now())
	require.NoError(t, err)
	for header, want := range map[string]int{
		"bearer " + tok: http.StatusOK, "BEARER " + tok: http.StatusOK, "Bearer  " + tok: http.StatusOK,
		"Basic " + tok: http.StatusUnauthorized, "bearer": http.StatusUnauthorized, tok: http.StatusUnauthorized,
	} {
		req := httptest.NewRequest(http.MethodGet, "/who", nil)
		req.Header.Set("Authorization", header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, want, rec.Code, header)
	}
}
