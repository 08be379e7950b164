package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/medreq/pyxis/internal/textcheck"
	"github.com/medreq/pyxis/workflows"
)

// Claims are what a bearer token signed with the HS256 secret says about its holder.
type Claims struct {
	Name string `json:"name"`
	Role string `json:"role"`
	jwt.RegisteredClaims
}

// tokenRoles are the roles a token may carry. "cabinet" is for a cabinet interface that
// reports withdrawals through the API.
var tokenRoles = []string{
	workflows.RoleNurse, workflows.RolePharmacist, workflows.RoleTechnician, workflows.RoleAdmin, workflows.RoleCabinet,
}

// ValidRole reports whether role may appear in a token.
func ValidRole(role string) bool { return slices.Contains(tokenRoles, role) }

// IssueToken signs an HS256 token for a user, as `pyxis token` prints it.
func IssueToken(secret []byte, sub, name, role string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("no signing secret configured (PYXIS_JWT_SECRET)")
	}
	if sub == "" || !ValidRole(role) {
		return "", fmt.Errorf("a token needs a subject and one of the roles %v", tokenRoles)
	}
	claims := Claims{
		Name: name,
		Role: role,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
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
type authenticator struct {
	secret    []byte
	hs        *jwt.Parser
	idp       *jwt.Parser
	keys      *jwksKeys // nil without a JWKS URL
	roleClaim string
}

func newAuthenticator(cfg Config, keys *jwksKeys) *authenticator {
	leeway := cfg.JWTLeeway
	if leeway < 0 {
		leeway = 0
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
		secret: cfg.JWTSecret,
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

// verify checks a raw token and returns the actor it names.
func (a *authenticator) verify(ctx context.Context, raw string) (workflows.Actor, error) {
	unverified, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return workflows.Actor{}, errBadToken
	}
	alg, _ := unverified.Header["alg"].(string)
	switch {
	case alg == jwt.SigningMethodHS256.Alg() && len(a.secret) > 0:
		var claims Claims
		if _, err := a.hs.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return a.secret, nil }); err != nil {
			return workflows.Actor{}, errBadToken
		}
		if claims.Subject == "" || !ValidRole(claims.Role) {
			return workflows.Actor{}, errNoRole
		}
		return checkClaims(raw, workflows.Actor{ID: claims.Subject, Name: claims.Name, Role: claims.Role})
	case (alg == jwt.SigningMethodRS256.Alg() || alg == jwt.SigningMethodES256.Alg()) && a.keys != nil:
		claims := jwt.MapClaims{}
		if _, err := a.idp.ParseWithClaims(raw, claims, a.publicKey(ctx)); err != nil {
			return workflows.Actor{}, errBadToken
		}
		sub, _ := claims.GetSubject()
		role := roleFrom(claims, a.roleClaim)
		if sub == "" || role == "" {
			return workflows.Actor{}, errNoRole
		}
		name, _ := claims["name"].(string)
		if name == "" {
			name, _ = claims["preferred_username"].(string)
		}
		return checkClaims(raw, workflows.Actor{ID: sub, Name: name, Role: role})
	}
	return workflows.Actor{}, errBadToken
}

var (
	errNoRole    = errors.New("token lacks a subject or a known role")
	errBadClaims = errors.New("token claims hold control characters or invalid UTF-8")
)

// checkClaims refuses a verified token whose claims hold what textcheck refuses: the actor's
// id and name reach workflow histories, the audit trail and logs. The claims segment is read
// raw as well, because encoding/json turns invalid UTF-8 into U+FFFD unseen.
func checkClaims(raw string, a workflows.Actor) (workflows.Actor, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return workflows.Actor{}, errBadToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !utf8.Valid(payload) {
		return workflows.Actor{}, errBadClaims
	}
	for _, v := range []string{a.ID, a.Name, a.Role} {
		if textcheck.Check(v, textcheck.Line) != nil {
			return workflows.Actor{}, errBadClaims
		}
	}
	return a, nil
}

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

const actorKey = "pyxis.actor"

// authenticate verifies the bearer token and puts its actor on the context.
func (a *authenticator) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		raw = strings.TrimSpace(raw)
		if !ok || raw == "" {
			abort(c, newError(http.StatusUnauthorized, CodeUnauthorized, "a bearer token is required", nil))
			return
		}
		actor, err := a.verify(c.Request.Context(), raw)
		switch {
		case errors.Is(err, errNoRole), errors.Is(err, errBadClaims):
			abort(c, newError(http.StatusUnauthorized, CodeUnauthorized, err.Error(), nil))
			return
		case err != nil:
			abort(c, newError(http.StatusUnauthorized, CodeUnauthorized, "invalid or expired token", nil))
			return
		}
		c.Set(actorKey, actor)
		c.Next()
	}
}

// allow lets only the given roles through.
func allow(roles ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if a := actor(c); !slices.Contains(roles, a.Role) {
			abort(c, newError(http.StatusForbidden, CodeForbidden,
				fmt.Sprintf("role %q may not do this; allowed: %s", a.Role, strings.Join(roles, ", ")), nil))
			return
		}
		c.Next()
	}
}

// actor returns the authenticated caller.
func actor(c *gin.Context) workflows.Actor {
	a, _ := c.MustGet(actorKey).(workflows.Actor)
	return a
}

// cabinetClaim returns the cabinet code a cabinet token is bound to, "" for none.
// TODO(identity): read the token's cabinet claim once tokens carry it.
func cabinetClaim(c *gin.Context) string { return c.GetString(cabinetClaimKey) }

const cabinetClaimKey = "pyxis.cabinet_claim"
