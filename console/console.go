// Package console is the pharmacy and ward web console's browser side and its session
// rules: the page and its ES modules, embedded in the binary (no build step, nothing fetched
// from another origin), the Content Security Policy they run under, and the session cookie
// and CSRF token of a signed-in browser.
//
// The console is a client of the API: its scripts call the same /v1 routes as any other
// client, authenticated by the session instead of a bearer token, so the roles, the nurse's
// need-to-know scoping and the access log are the API's own. The api package mounts it at /
// (api/console.go) and keeps the sessions server-side, in Postgres: the browser holds only a
// random session id.
package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"time"
)

//go:embed assets
var assets embed.FS

// Assets returns the console's files: index.html and what it loads, served under /assets/.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}

// ContentSecurityPolicy is what the console's pages run under: its own scripts, styles and
// connections only; no inline script or style, no eval, no framing, no other origin.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// CookieName names the session cookie.
const CookieName = "pyxis_console"

// CSRFHeader is the header every change a session makes carries its CSRF token in.
const CSRFHeader = "X-CSRF-Token"

// DefaultSessionTTL is how long a session lasts unless configured otherwise.
const DefaultSessionTTL = 12 * time.Hour

// NewSecret returns a random, URL-safe secret of 256 bits: a session id or a CSRF token.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashID is how a session id is stored: its SHA-256, so the store never holds a usable cookie.
func HashID(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// SameSecret compares two secrets in constant time; an empty one matches nothing.
func SameSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Cookie is the session cookie for id: HttpOnly, SameSite=Strict, Secure when the console is
// served over https, for the whole site, ending with the session. An empty id with maxAge -1
// clears it.
func Cookie(id string, secure bool, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: CookieName, Value: id, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(maxAge.Seconds()),
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c
}

// Safe reports whether a method only reads: those need no CSRF token.
func Safe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}
