package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/trace"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/internal/obs"
	"github.com/medreq/pyxis/internal/textcheck"
	"github.com/medreq/pyxis/internal/token"
)

// Claims are what a bearer token signed with the HS256 secret says about its holder
// (internal/token signs them).
type Claims = token.Claims

// CabinetClaim names the claim that holds a cabinet principal's cabinet code, in HS256 and
// identity-provider tokens alike.
const CabinetClaim = "cabinet"

// Bounds of what a token may say about its holder.
const (
	maxSubjectLen = 200
	maxNameLen    = 200
	maxCabinetLen = 64
)

// tokenRoles are the roles a token may carry. "cabinet" is for a cabinet interface that
// reports withdrawals through the API.
var tokenRoles = []string{
	pyxis.RoleNurse, pyxis.RolePharmacist, pyxis.RoleTechnician, pyxis.RoleAdmin, pyxis.RoleCabinet,
}

// ValidRole reports whether role may appear in a token.
func ValidRole(role string) bool { return slices.Contains(tokenRoles, role) }

// Ways the API verifies tokens (Config.Auth, PYXIS_AUTH).
const (
	// AuthHS256 verifies tokens signed with the shared secret: whoever holds it can mint any
	// token, so the secret itself is the boundary. For development and small sites.
	AuthHS256 = "hs256"
	// AuthJWKS verifies only the identity provider's tokens, and the role comes from each
	// token: HS256 is off entirely.
	AuthJWKS = "jwks"
)

// MaxTokenTTL bounds the lifetime of an HS256 token the API issues: a leaked one is good
// for a day at most.
const MaxTokenTTL = 24 * time.Hour

// MaxJWTLeeway bounds the clock skew allowed on exp, nbf and iat.
const MaxJWTLeeway = 2 * time.Minute

// IssueToken signs an HS256 token for a user, as `pyxis token` prints it, valid for ttl (at
// most MaxTokenTTL). A cabinet's token names its cabinet: IssueCabinetToken makes those.
func IssueToken(secret []byte, sub, name, role string, ttl time.Duration, now time.Time) (string, error) {
	if role == pyxis.RoleCabinet {
		return "", errors.New("a cabinet token must name its cabinet (IssueCabinetToken, pyxis token --cabinet)")
	}
	return issue(secret, sub, name, role, "", ttl, now)
}

// IssueCabinetToken signs an HS256 token of role cabinet for the interface of the cabinet
// with the given code (claim "cabinet").
func IssueCabinetToken(secret []byte, sub, name, cabinet string, ttl time.Duration, now time.Time) (string, error) {
	if cabinet == "" || len(cabinet) > maxCabinetLen || textcheck.Check(cabinet, textcheck.Line) != nil {
		return "", fmt.Errorf("a cabinet token needs the cabinet's code (1 to %d printable characters)", maxCabinetLen)
	}
	return issue(secret, sub, name, pyxis.RoleCabinet, cabinet, ttl, now)
}

func issue(secret []byte, sub, name, role, cabinet string, ttl time.Duration, now time.Time) (string, error) {
	if sub == "" || !ValidRole(role) {
		return "", fmt.Errorf("a token needs a subject and one of the roles %v", tokenRoles)
	}
	if ttl <= 0 || ttl > MaxTokenTTL {
		return "", fmt.Errorf("a token lives from a moment to %s, not %s", MaxTokenTTL, ttl)
	}
	return token.Sign(secret, token.Holder{Subject: sub, Name: name, Role: role, Cabinet: cabinet}, ttl, now)
}

// authenticator verifies bearer tokens of two kinds, told apart by their "alg" header:
//
//   - HS256, signed with the shared secret: the tokens `pyxis token` and dev mode print.
//     The role is the "role" claim.
//   - RS256 or ES256, signed by an identity provider whose public keys are published as a
//     JWKS: verified against the key named by "kid", and checked for issuer and audience.
//     The role is read from the configured claim.
//
// Each kind has its own parser that accepts only its algorithms, and each key is checked to
// be of the type its algorithm needs, so no token can be verified with the wrong kind of key
// (an HS256 token "signed" with an RSA public key, alg "none", and the like).
//
// A token's holder is then looked up in the users directory (directory.go), when there is one.
type authenticator struct {
	secret    []byte
	hs        *jwt.Parser
	idp       *jwt.Parser
	keys      *jwksKeys // nil without a JWKS URL
	roleClaim string
	dir       *directory // nil without a store (tests of the router alone)
	// session, when set, finds the token of a request's console session (the cookie) when it
	// has no Authorization header (console.go).
	session func(c *gin.Context) (string, error)
	// refresh, when set, renews the token of the request's console session with the identity
	// provider once it no longer verifies (oidc.go); "" when it cannot.
	refresh func(c *gin.Context) string
}

func newAuthenticator(cfg Config, keys *jwksKeys) *authenticator {
	leeway := min(max(cfg.JWTLeeway, 0), MaxJWTLeeway)
	secret := cfg.JWTSecret
	if cfg.Auth == AuthJWKS {
		secret = nil // HS256 is off entirely: no token signed with a shared secret passes
	}
	roleClaim := cfg.JWTRoleClaim
	if roleClaim == "" {
		roleClaim = "role"
	}
	idpOpts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithStrictDecoding(),
	}
	if cfg.JWTIssuer != "" {
		idpOpts = append(idpOpts, jwt.WithIssuer(cfg.JWTIssuer))
	}
	if cfg.JWTAudience != "" {
		idpOpts = append(idpOpts, jwt.WithAudience(cfg.JWTAudience))
	}
	return &authenticator{
		secret: secret,
		hs: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(leeway),
			jwt.WithStrictDecoding(),
		),
		idp:       jwt.NewParser(idpOpts...),
		keys:      keys,
		roleClaim: roleClaim,
	}
}

// errBadToken is every reason a token is refused; the caller learns no more than that.
var errBadToken = errors.New("invalid token")

// verify checks a raw token and returns the principal it names, as the token says.
func (a *authenticator) verify(ctx context.Context, raw string) (Principal, error) {
	unverified, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return Principal{}, refused(err)
	}
	alg, _ := unverified.Header["alg"].(string)
	var p Principal
	switch {
	case alg == jwt.SigningMethodHS256.Alg() && len(a.secret) > 0:
		var claims Claims
		if _, err := a.hs.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return a.secret, nil }); err != nil {
			return Principal{}, refused(err)
		}
		if claims.Subject == "" || !ValidRole(claims.Role) {
			return Principal{}, errNoRole
		}
		p = Principal{Actor: pyxis.Actor{ID: claims.Subject, Name: claims.Name, Role: claims.Role}, Cabinet: claims.Cabinet}
	case (alg == jwt.SigningMethodRS256.Alg() || alg == jwt.SigningMethodES256.Alg()) && a.keys != nil:
		claims := jwt.MapClaims{}
		if _, err := a.idp.ParseWithClaims(raw, claims, a.publicKey(ctx)); err != nil {
			return Principal{}, refused(err)
		}
		sub, _ := claims.GetSubject()
		role := roleFrom(claims, a.roleClaim)
		if sub == "" || role == "" {
			return Principal{}, errNoRole
		}
		name, _ := claims["name"].(string)
		if name == "" {
			name, _ = claims["preferred_username"].(string)
		}
		cabinet, _ := claims[CabinetClaim].(string)
		p = Principal{Actor: pyxis.Actor{ID: sub, Name: name, Role: role}, Cabinet: cabinet}
	default:
		// An algorithm this server is not set up to verify.
		return Principal{}, tokenRefusal{reason: refusedBadSignature}
	}
	if err := rawClaimsValid(raw); err != nil {
		return Principal{}, err
	}
	return p, p.check()
}

// rawClaimsValid refuses a token whose claims segment is not valid UTF-8: encoding/json turns
// invalid UTF-8 into U+FFFD unseen, so the raw bytes are read.
func rawClaimsValid(raw string) error {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return errBadToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !utf8.Valid(payload) {
		return errBadClaims
	}
	return nil
}

// check refuses a principal whose subject, name, role or cabinet hold what textcheck refuses
// (the actor's id and name reach workflow histories, the audit trail and logs), or are too
// long, and a cabinet principal that does not name its cabinet. Another role's cabinet claim
// is dropped.
func (p *Principal) check() error {
	if len(p.ID) > maxSubjectLen || textcheck.Check(p.ID, textcheck.Line) != nil {
		return errBadSubject
	}
	if len(p.Name) > maxNameLen || textcheck.Check(p.Name, textcheck.Line) != nil || textcheck.Check(p.Role, textcheck.Line) != nil {
		return errBadClaims
	}
	if p.Role != pyxis.RoleCabinet {
		p.Cabinet = ""
		return nil
	}
	if p.Cabinet == "" || len(p.Cabinet) > maxCabinetLen || textcheck.Check(p.Cabinet, textcheck.Line) != nil {
		return errNoCabinet
	}
	return nil
}

var (
	errNoRole     = errors.New("token lacks a subject or a known role")
	errBadSubject = errors.New("token's subject is not usable")
	errBadClaims  = errors.New("token claims hold control characters or invalid UTF-8")
	errNoCabinet  = errors.New("a cabinet token must name its cabinet")
)

// publicKey finds the JWKS key named by the token's kid and checks that it suits the
// token's algorithm: an RSA public key for RS256, a P-256 public key for ES256.
func (a *authenticator) publicKey(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		alg := t.Method.Alg()
		key, err := a.keys.lookup(ctx, kid, alg)
		if err != nil {
			return nil, err
		}
		switch k := key.(type) {
		case *rsa.PublicKey:
			if alg == jwt.SigningMethodRS256.Alg() {
				return k, nil
			}
		case *ecdsa.PublicKey:
			if alg == jwt.SigningMethodES256.Alg() && k.Curve == elliptic.P256() {
				return k, nil
			}
		}
		return nil, fmt.Errorf("key %q does not suit %s", kid, alg)
	}
}

// roleFrom reads the role from claim, which names a top-level claim or, failing that, a
// dotted path into nested objects ("realm_access.roles"). The value may be a string or an
// array; the first element that is a known role wins.
func roleFrom(claims map[string]any, claim string) string {
	v, ok := claims[claim]
	if !ok {
		var cur any = claims
		for part := range strings.SplitSeq(claim, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				return ""
			}
			cur = m[part]
		}
		v = cur
	}
	switch v := v.(type) {
	case string:
		if ValidRole(v) {
			return v
		}
	case []any:
		for _, e := range v {
			if s, _ := e.(string); ValidRole(s) {
				return s
			}
		}
	}
	return ""
}

// Principal is the authenticated caller of a request: the actor its token names, with the
// role and name the users directory holds (the directory wins over the token), the unit the
// directory places it on, and, for a cabinet interface, the cabinet its token speaks for.
type Principal struct {
	pyxis.Actor
	// Unit is the caller's unit in the users directory; "" for none.
	Unit string `json:"unit,omitempty"`
	// Registration is the caller's professional registration in the users directory; "" for
	// none (or without a directory).
	Registration string `json:"registration,omitempty"`
	// Cabinet is the code of the cabinet a principal of role cabinet speaks for (the token's
	// "cabinet" claim); "" for every other role.
	Cabinet string `json:"cabinet,omitempty"`
}

const principalKey = "pyxis.principal"

// authenticate verifies the bearer token, consults the users directory, and puts the
// principal on the context.
func (a *authenticator) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		header := c.GetHeader("Authorization")
		raw, ok := bearerToken(header)
		if header == "" && a.session != nil {
			tok, err := a.session(c)
			switch {
			case errors.Is(err, errCSRF):
				abort(c, newError(http.StatusForbidden, CodeForbidden, err.Error(), nil))
				return
			case err != nil:
				slog.ErrorContext(c.Request.Context(), "console sessions unavailable", "error", err, "request_id", c.GetString(requestIDKey))
				abort(c, newError(http.StatusServiceUnavailable, CodeUnavailable, "sessions are not answering; try again shortly", nil))
				return
			}
			raw, ok = tok, tok != ""
		}
		if !ok || raw == "" {
			abort(c, newError(http.StatusUnauthorized, CodeUnauthorized, "a bearer token is required", nil))
			return
		}
		ctx := c.Request.Context()
		p, err := a.verify(ctx, raw)
		if errors.Is(err, errBadToken) && a.refresh != nil && c.GetHeader("Authorization") == "" {
			if renewed := a.refresh(c); renewed != "" {
				p, err = a.verify(ctx, renewed)
			}
		}
		if err == nil && a.dir != nil {
			p, err = a.dir.resolve(ctx, p)
		}
		if err == nil {
			// The directory may have made the holder a cabinet.
			err = p.check()
		}
		switch {
		case err == nil:
		case errors.Is(err, errNoRole), errors.Is(err, errBadSubject), errors.Is(err, errNoCabinet),
			errors.Is(err, errBadClaims), errors.Is(err, errUnknownUser), errors.Is(err, errInactiveUser):
			abort(c, newError(http.StatusUnauthorized, CodeUnauthorized, err.Error(), nil))
			return
		case errors.Is(err, errBadToken):
			c.Set(refusalKey, refusalReason(err))
			abort(c, newError(http.StatusUnauthorized, CodeUnauthorized, "invalid or expired token", nil))
			return
		default:
			slog.ErrorContext(ctx, "users directory unavailable", "error", err, "request_id", c.GetString(requestIDKey))
			abort(c, newError(http.StatusServiceUnavailable, CodeUnavailable, "the users directory is not answering; try again shortly", nil))
			return
		}
		c.Set(principalKey, p)
		obs.SetActor(ctx, p.ID)
		trace.SpanFromContext(ctx).SetAttributes(obs.AttrActor.String(p.ID))
		c.Next()
	}
}

// principal returns the authenticated caller.
func principal(c *gin.Context) Principal {
	p, _ := c.MustGet(principalKey).(Principal)
	return p
}

// actor returns the authenticated caller as the workflows know actors.
func actor(c *gin.Context) pyxis.Actor { return principal(c).Actor }

// cabinetClaim returns the code of the cabinet the caller speaks for: the "cabinet" claim of a
// principal of role cabinet, "" for every other caller.
func cabinetClaim(c *gin.Context) string { return principal(c).Cabinet }
