package api

import (
	"errors"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Reasons a token is refused, as the server's log line for the request names them (attribute
// "reason"). The client gets the same 401 whatever the reason: telling it which check failed
// helps only whoever forges tokens.
const (
	refusedExpired       = "expired"
	refusedNotYetValid   = "not_yet_valid"
	refusedBadSignature  = "bad_signature"
	refusedUnknownKid    = "unknown_kid"
	refusedWrongIssuer   = "wrong_issuer"
	refusedWrongAudience = "wrong_audience"
	refusedMalformed     = "malformed"
)

// refusalKey holds, on the gin context, why the request's token was refused.
const refusalKey = "pyxis.token_refusal"

// tokenRefusal is errBadToken with the reason kept for the log.
type tokenRefusal struct{ reason string }

func (e tokenRefusal) Error() string        { return errBadToken.Error() + ": " + e.reason }
func (e tokenRefusal) Is(target error) bool { return target == errBadToken }

// refused classifies the error of a token's parse into a refusal.
func refused(err error) error {
	reason := refusedMalformed
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		reason = refusedExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = refusedNotYetValid
	case errors.Is(err, errUnknownKey):
		reason = refusedUnknownKid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		reason = refusedWrongIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		reason = refusedWrongAudience
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		// An algorithm this server does not accept is refused here too.
		reason = refusedBadSignature
	}
	return tokenRefusal{reason: reason}
}

// refusalReason is the reason of a refusal made by refused; malformed for any other.
func refusalReason(err error) string {
	var r tokenRefusal
	if errors.As(err, &r) {
		return r.reason
	}
	return refusedMalformed
}

// bearerToken reads the token of an Authorization header. The scheme is case-insensitive
// (RFC 7235): "bearer" is as good as "Bearer".
func bearerToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
