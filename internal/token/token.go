// Package token signs the HS256 bearer tokens of the REST API: what `pyxis token` and dev
// mode print, and what the load tool's and the fault suite's simulated users carry. It only
// signs; the api verifies (and decides which roles a token may carry). It is a leaf, so that a
// client of the API can mint its users' tokens without linking the API server.
package token

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what a token says about its holder.
type Claims struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Cabinet is the code of the cabinet a token of role cabinet speaks for; required for
	// that role, ignored for the others.
	Cabinet string `json:"cabinet,omitempty"`
	jwt.RegisteredClaims
}

// Holder is who a token is for.
type Holder struct {
	// Subject is the user's id (the token's sub), Name their display name, Role their role.
	Subject, Name, Role string
	// Cabinet is the cabinet a cabinet interface speaks for (role cabinet only).
	Cabinet string
}

// Sign returns an HS256 token for h, valid for ttl from now, signed with secret.
func Sign(secret []byte, h Holder, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("no signing secret configured (PYXIS_JWT_SECRET)")
	}
	if h.Subject == "" || h.Role == "" {
		return "", errors.New("a token needs a subject and a role")
	}
	claims := Claims{
		Name:    h.Name,
		Role:    h.Role,
		Cabinet: h.Cabinet,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   h.Subject,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}
