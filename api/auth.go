package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/medreq/pyxis/workflows"
)

// Claims are what a bearer token says about its holder.
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

const actorKey = "pyxis.actor"

// authenticate verifies the bearer token and puts its actor on the context. Tokens must be
// HS256, unexpired and carry a subject and a known role.
func authenticate(secret []byte) gin.HandlerFunc {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
	)
	keyFunc := func(*jwt.Token) (any, error) { return secret, nil }
	return func(c *gin.Context) {
		raw, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok || raw == "" {
			abort(c, newError(http.StatusUnauthorized, CodeUnauthorized, "a bearer token is required", nil))
			return
		}
		var claims Claims
		if _, err := parser.ParseWithClaims(strings.TrimSpace(raw), &claims, keyFunc); err != nil {
			abort(c, newError(http.StatusUnauthorized, CodeUnauthorized, "invalid or expired token", nil))
			return
		}
		if claims.Subject == "" || !ValidRole(claims.Role) {
			abort(c, newError(http.StatusUnauthorized, CodeUnauthorized, "token lacks a subject or a known role", nil))
			return
		}
		c.Set(actorKey, workflows.Actor{ID: claims.Subject, Name: claims.Name, Role: claims.Role})
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
