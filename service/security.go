package service

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/codec"
)

// CodecConfig is how workflow payloads are encrypted (package codec).
type CodecConfig struct {
	// Keys come from PYXIS_CODEC_KEYS; the last one encrypts.
	Keys []codec.Key
	// Disabled (PYXIS_CODEC_DISABLED=true) runs without encryption, deliberately.
	Disabled bool
}

// loadSecurity reads the identity, payload-encryption, rate-limit and header settings.
func loadSecurity(getenv func(string) string, c *Config) []error {
	var errs []error
	a := &c.API
	a.JWKSURL = getenv("PYXIS_JWKS_URL")
	errs = append(errs, loadAuth(getenv, c)...)
	a.JWTIssuer = getenv("PYXIS_JWT_ISSUER")
	a.JWTAudience = getenv("PYXIS_JWT_AUDIENCE")
	a.JWTRoleClaim = envOr(getenv, "PYXIS_JWT_ROLE_CLAIM", a.JWTRoleClaim)
	if a.JWKSURL != "" {
		if err := api.CheckJWKSURL(a.JWKSURL); err != nil {
			errs = append(errs, fmt.Errorf("PYXIS_JWKS_URL: %w", err))
		}
		if a.JWTIssuer == "" || a.JWTAudience == "" {
			errs = append(errs, errors.New("PYXIS_JWKS_URL needs PYXIS_JWT_ISSUER and PYXIS_JWT_AUDIENCE: without them any token of the provider would do"))
		}
	}
	durationAtLeast := func(name string, dst *time.Duration) {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a duration such as 30s", name, v))
				return
			}
			*dst = d
		}
	}
	durationAtLeast("PYXIS_JWT_LEEWAY", &a.JWTLeeway)
	if a.JWTLeeway > api.MaxJWTLeeway {
		errs = append(errs, fmt.Errorf("PYXIS_JWT_LEEWAY=%s: at most %s; clocks that far apart need fixing, not tolerating", a.JWTLeeway, api.MaxJWTLeeway))
	}
	durationAtLeast("PYXIS_JWKS_REFRESH_INTERVAL", &a.JWKSRefreshInterval)
	errs = append(errs, loadIdentity(getenv, a)...)

	keys, err := codec.ParseKeys(getenv("PYXIS_CODEC_KEYS"))
	if err != nil {
		errs = append(errs, fmt.Errorf("PYXIS_CODEC_KEYS: %w", err))
	}
	c.Codec.Keys = keys
	boolSetting(getenv, &errs, "PYXIS_CODEC_DISABLED", &c.Codec.Disabled)
	for o := range strings.SplitSeq(getenv("PYXIS_CODEC_CORS_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" {
			errs = append(errs, fmt.Errorf("PYXIS_CODEC_CORS_ORIGINS: %q is not an origin such as https://temporal-ui.example", o))
			continue
		}
		a.CodecCORSOrigins = append(a.CodecCORSOrigins, o)
	}

	if v := getenv("PYXIS_RATE_LIMIT"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			errs = append(errs, fmt.Errorf("PYXIS_RATE_LIMIT=%q: want requests per second, 0 for no limit", v))
		}
		a.RateLimit = f
	}
	if v := getenv("PYXIS_RATE_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("PYXIS_RATE_BURST=%q: want a positive number", v))
		}
		a.RateBurst = n
	}
	boolSetting(getenv, &errs, "PYXIS_CONSOLE_TOKEN_SIGNIN", &a.ConsoleTokenSignIn)
	if v := getenv("PYXIS_CONSOLE_SESSION_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("PYXIS_CONSOLE_SESSION_TTL=%q: want a positive duration such as 12h", v))
		}
		a.ConsoleSessionTTL = d
	}
	a.OIDCIssuer, a.OIDCClientID = getenv("PYXIS_OIDC_ISSUER"), getenv("PYXIS_OIDC_CLIENT_ID")
	a.OIDCClientSecret, a.OIDCRedirectURL = getenv("PYXIS_OIDC_CLIENT_SECRET"), getenv("PYXIS_OIDC_REDIRECT_URL")
	if a.OIDCIssuer != "" {
		if err := api.CheckJWKSURL(a.OIDCIssuer); err != nil {
			errs = append(errs, fmt.Errorf("PYXIS_OIDC_ISSUER: %w", err))
		}
		if a.OIDCClientID == "" {
			errs = append(errs, errors.New("PYXIS_OIDC_ISSUER needs PYXIS_OIDC_CLIENT_ID"))
		}
	}
	boolSetting(getenv, &errs, "PYXIS_HSTS", &a.HSTS)
	return errs
}

// loadIdentity reads the users-directory and client-address settings.
func loadIdentity(getenv func(string) string, a *api.Config) []error {
	var errs []error
	boolSetting(getenv, &errs, "PYXIS_REQUIRE_KNOWN_USERS", &a.RequireKnownUsers)
	if v := getenv("PYXIS_USER_CACHE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > api.MaxUserCacheTTL {
			errs = append(errs, fmt.Errorf("PYXIS_USER_CACHE_TTL=%q: want a duration from 0 (no cache) to %s, so a deactivated user is refused within it", v, api.MaxUserCacheTTL))
		}
		a.UserCacheTTL = d
	}
	for p := range strings.SplitSeq(getenv("PYXIS_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			errs = append(errs, fmt.Errorf("PYXIS_TRUSTED_PROXIES: %q is not an address or CIDR such as 10.0.0.0/8", p))
			continue
		}
		a.TrustedProxies = append(a.TrustedProxies, p)
	}
	return errs
}

// loadAuth reads PYXIS_AUTH, how tokens are verified: jwks (the identity provider's tokens
// only; PYXIS_JWT_SECRET is then not read at all) or hs256 (the shared secret, for
// development and small sites). Unset, it is jwks when PYXIS_JWKS_URL is set and hs256
// otherwise.
func loadAuth(getenv func(string) string, c *Config) []error {
	mode := strings.ToLower(strings.TrimSpace(getenv("PYXIS_AUTH")))
	switch {
	case mode == "" && c.API.JWKSURL != "":
		mode = api.AuthJWKS
	case mode == "":
		mode = api.AuthHS256
	}
	c.API.Auth = mode
	switch mode {
	case api.AuthJWKS:
		return nil
	case api.AuthHS256:
		if c.API.JWKSURL != "" {
			return []error{errors.New("PYXIS_JWKS_URL is set with PYXIS_AUTH=hs256: the provider's tokens are verified with PYXIS_AUTH=jwks, which turns HS256 off")}
		}
		c.JWTSecret = getenv("PYXIS_JWT_SECRET")
		return nil
	}
	return []error{fmt.Errorf("PYXIS_AUTH=%q: want jwks or hs256", mode)}
}

// requireAuth checks that the API can verify tokens: with jwks a JWKS URL, with hs256 a
// secret that is not a known placeholder and has the entropy of at least 96 random bits.
func (c Config) requireAuth() error {
	if c.API.Auth == api.AuthJWKS {
		if c.API.JWKSURL == "" {
			return errors.New("PYXIS_AUTH=jwks needs PYXIS_JWKS_URL, PYXIS_JWT_ISSUER and PYXIS_JWT_AUDIENCE")
		}
		return nil
	}
	return CheckJWTSecret(c.JWTSecret)
}

// placeholderSecrets are secrets published in this repository's examples (deploy/): a
// deployment that copied one verifies tokens anyone can sign.
var placeholderSecrets = []string{
	"CHANGE-ME-to-at-least-32-random-characters", // secrets.example.yaml, before PYXIS_AUTH=jwks
}

// minSecretBits is the least entropy CheckJWTSecret accepts, estimated from the secret's
// characters: `openssl rand -hex 32` has about 230, a 32-character hex secret about 120.
const minSecretBits = 96

// CheckJWTSecret refuses an HS256 secret that is missing, shorter than 32 characters, a known
// placeholder, or of little entropy (repeated or few distinct characters): whoever holds the
// secret can mint any token.
func CheckJWTSecret(secret string) error {
	switch {
	case secret == "":
		return errors.New("set PYXIS_JWT_SECRET (at least 32 random characters: openssl rand -hex 32), or PYXIS_AUTH=jwks with PYXIS_JWKS_URL: tokens cannot be verified otherwise")
	case len(secret) < 32:
		return errors.New("PYXIS_JWT_SECRET must be at least 32 characters")
	case slices.Contains(placeholderSecrets, secret) || strings.Contains(strings.ToLower(secret), "change-me"):
		return errors.New("PYXIS_JWT_SECRET is a placeholder from the examples: generate one (openssl rand -hex 32)")
	case secretBits(secret) < minSecretBits:
		return fmt.Errorf("PYXIS_JWT_SECRET has too little entropy (about %.0f bits, want %d): generate one (openssl rand -hex 32)", secretBits(secret), minSecretBits)
	}
	return nil
}

// secretBits estimates a secret's entropy as its length times the Shannon entropy of its
// characters' frequencies: a fair estimate for random strings, and an overestimate for words,
// which the placeholder list covers.
func secretBits(s string) float64 {
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	var perChar float64
	for _, k := range counts {
		p := float64(k) / float64(n)
		perChar -= p * math.Log2(p)
	}
	return perChar * float64(n)
}

// requireCodec refuses to run without payload encryption unless that was asked for.
func (c Config) requireCodec() error {
	if len(c.Codec.Keys) == 0 && !c.Codec.Disabled {
		return errors.New("PYXIS_CODEC_KEYS is not set: workflow payloads (patient data) would reach Temporal unencrypted; " +
			"set it (docs/security.md), or set PYXIS_CODEC_DISABLED=true to run without encryption deliberately")
	}
	return nil
}

// payloadCodec returns the codec of the configured keys; nil when encryption is off.
func (c Config) payloadCodec() (*codec.Codec, error) {
	if c.Codec.Disabled || len(c.Codec.Keys) == 0 {
		return nil, nil
	}
	return codec.New(c.Codec.Keys)
}

// securityString describes the security settings without their secrets.
func (c Config) securityString() string {
	enc := "off"
	if !c.Codec.Disabled && len(c.Codec.Keys) > 0 {
		ids := make([]string, len(c.Codec.Keys))
		for i, k := range c.Codec.Keys {
			ids[i] = k.ID
		}
		enc = "keys " + strings.Join(ids, ",") + " (encrypting with " + ids[len(ids)-1] + ")"
	}
	jwks := "(unset, auth=" + c.API.Auth + ")"
	if c.API.JWKSURL != "" {
		jwks = fmt.Sprintf("%s issuer=%s audience=%s role_claim=%s", c.API.JWKSURL, c.API.JWTIssuer, c.API.JWTAudience, c.API.JWTRoleClaim)
	}
	return fmt.Sprintf("jwks=%s payload_encryption=%s codec_cors=%v rate_limit=%g/s burst %d hsts=%t require_known_users=%t user_cache_ttl=%s trusted_proxies=%v",
		jwks, enc, c.API.CodecCORSOrigins, c.API.RateLimit, c.API.RateBurst, c.API.HSTS,
		c.API.RequireKnownUsers, c.API.UserCacheTTL, c.API.TrustedProxies)
}
