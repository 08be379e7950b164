package api

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/console"
	"github.com/medreq/pyxis/db"
)

// The web console (package console) is served at /: its page and assets, its sign-in and
// sign-out, who is signed in, and its live feed. Its scripts call the /v1 routes like any
// client; a signed-in browser is authenticated there by its session cookie, which stands for
// the bearer token the session was opened with, and every change it makes must carry the
// session's CSRF token (X-CSRF-Token). So the console gets the API's answers, roles, scoping
// and access log, and no second implementation of any of them.

// sessionStore is what the console's sessions need of the database (db.SessionStore).
type sessionStore interface {
	CreateSession(ctx context.Context, idHash []byte, s db.ConsoleSession) error
	GetSession(ctx context.Context, idHash []byte) (db.ConsoleSession, error)
	DeleteSession(ctx context.Context, idHash []byte) error
	DeleteExpiredSessions(ctx context.Context) (int64, error)
	UpdateSessionTokens(ctx context.Context, idHash []byte, token, refresh string) error
}

// errCSRF refuses a change made with a session but without its CSRF token.
var errCSRF = errors.New("a change made with a console session needs its CSRF token in " + console.CSRFHeader)

const sessionCSRFKey = "pyxis.console_csrf"

// sessionToken returns the bearer token of the browser's console session ("" without a
// live one), and its CSRF token. A change (any method but GET, HEAD, OPTIONS) without the
// session's CSRF token is errCSRF.
func (s *Server) sessionToken(c *gin.Context) (string, error) {
	id, err := c.Cookie(console.CookieName)
	if err != nil || id == "" || s.sessions == nil {
		return "", nil
	}
	sess, err := s.sessions.GetSession(c.Request.Context(), console.HashID(id))
	if errors.Is(err, pyxis.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if !console.Safe(c.Request.Method) && !console.SameSecret(c.GetHeader(console.CSRFHeader), sess.CSRF) {
		return "", errCSRF
	}
	c.Set(sessionCSRFKey, sess.CSRF)
	c.Set(sessionKey, sessionRef{idHash: console.HashID(id), refresh: sess.Refresh})
	return sess.Token, nil
}

const sessionKey = "pyxis.console_session"

// sessionRef is the request's console session, for a refresh of its tokens.
type sessionRef struct {
	idHash  []byte
	refresh string
}

// consoleRoutes mounts the console.
func (s *Server) consoleRoutes(r *gin.Engine) {
	assets := console.Assets()
	r.GET("/", func(c *gin.Context) { serveConsoleFile(c, assets, "index.html") })
	r.GET("/assets/:file", func(c *gin.Context) {
		name := c.Param("file")
		if !fs.ValidPath(name) || strings.Contains(name, "/") || name == "index.html" {
			abort(c, notFound("route"))
			return
		}
		serveConsoleFile(c, assets, name)
	})
	if s.cfg.ConsoleTokenSignIn {
		r.GET("/session", s.signInWithToken)
	}
	if s.oidc != nil {
		r.GET("/login", s.oidcLogin)
		r.GET("/auth/callback", s.oidcCallback)
	}
	r.POST("/session/end", s.signOut)
	r.GET("/console/me", s.consoleSignedIn, s.auth.authenticate(), s.consoleMe)
	r.GET("/console/events", s.auth.authenticate(), s.consoleEvents)
}

// serveConsoleFile answers one embedded file under the console's policy. Nothing is cached
// by shared caches; the browser revalidates, so a new binary's assets are used at once.
func serveConsoleFile(c *gin.Context, assets fs.FS, name string) {
	f, err := assets.Open(name)
	if err != nil {
		abort(c, notFound("route"))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		abort(c, notFound("route"))
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", console.ContentSecurityPolicy)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(c.Writer, c.Request, name, st.ModTime(), f.(io.ReadSeeker))
}

// signInWithToken opens a console session for a bearer token given in the query (dev mode,
// or Config.ConsoleTokenSignIn): the token is checked as the API checks it, kept
// server-side, and the browser is sent on to / with only the session cookie. A token in a
// URL ends up in histories and logs, which is why this route is off in production.
func (s *Server) signInWithToken(c *gin.Context) {
	raw := c.Query("token")
	ctx := c.Request.Context()
	p, err := s.auth.verify(ctx, raw)
	if err == nil && s.dir != nil {
		p, err = s.dir.resolve(ctx, p)
	}
	if err == nil && (p.Role == pyxis.RoleCabinet || s.sessions == nil) {
		err = errBadToken
	}
	if err != nil {
		abort(c, newError(http.StatusUnauthorized, CodeUnauthorized, "the token cannot open a console session", nil))
		return
	}
	s.openSession(c, raw, "")
}

// openSession stores a new session acting with token and sets its cookie.
func (s *Server) openSession(c *gin.Context, token, refresh string) {
	ttl := s.cfg.ConsoleSessionTTL
	if ttl <= 0 {
		ttl = console.DefaultSessionTTL
	}
	// Sessions are opened rarely: each opening sweeps the expired ones away.
	if _, err := s.sessions.DeleteExpiredSessions(c.Request.Context()); err != nil {
		slog.WarnContext(c.Request.Context(), "expired console sessions not removed", "error", err)
	}
	id := console.NewSecret()
	err := s.sessions.CreateSession(c.Request.Context(), console.HashID(id), db.ConsoleSession{
		Token: token, Refresh: refresh, CSRF: console.NewSecret(), ExpiresAt: time.Now().Add(ttl),
	})
	if err != nil {
		abort(c, err)
		return
	}
	http.SetCookie(c.Writer, console.Cookie(id, s.secureCookies(c), ttl))
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, "/")
}

// secureCookies: the cookie is Secure when the console is reached over https, directly or
// behind a proxy that terminates TLS (HSTS configured).
func (s *Server) secureCookies(c *gin.Context) bool {
	return c.Request.TLS != nil || s.cfg.HSTS
}

// signOut ends the browser's session ("Sign out"): the session is deleted server-side and the
// cookie cleared. It needs the session's CSRF token, like every change.
func (s *Server) signOut(c *gin.Context) {
	id, _ := c.Cookie(console.CookieName)
	if id != "" && s.sessions != nil {
		sess, err := s.sessions.GetSession(c.Request.Context(), console.HashID(id))
		switch {
		case err == nil && !console.SameSecret(c.GetHeader(console.CSRFHeader), sess.CSRF):
			abort(c, newError(http.StatusForbidden, CodeForbidden, errCSRF.Error(), nil))
			return
		case err == nil:
			if err := s.sessions.DeleteSession(c.Request.Context(), console.HashID(id)); err != nil {
				abort(c, err)
				return
			}
		case !errors.Is(err, pyxis.ErrNotFound):
			abort(c, err)
			return
		}
	}
	http.SetCookie(c.Writer, console.Cookie("", s.secureCookies(c), -1))
	c.Status(http.StatusNoContent)
}

// ConsoleMe is who the console is signed in as, and the CSRF token its changes carry.
type ConsoleMe struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
	Unit string `json:"unit,omitempty"`
	CSRF string `json:"csrf,omitempty"`
	// Live says whether GET /console/events follows the projection.
	Live bool `json:"live"`
}

// consoleSignedIn answers 204 to a browser that holds no live session and sends no token:
// the page then shows how to sign in, without a failed request in the browser's console.
func (s *Server) consoleSignedIn(c *gin.Context) {
	if c.GetHeader("Authorization") != "" {
		return
	}
	tok, err := s.sessionToken(c)
	if err == nil && tok == "" {
		c.Header("Cache-Control", "no-store")
		if s.oidc != nil {
			// The page then offers to sign in with the identity provider (GET /login).
			c.Header(consoleSignInHeader, "oidc")
		}
		c.AbortWithStatus(http.StatusNoContent)
	}
}

// consoleSignInHeader says, on the 204 of GET /console/me, how the console signs in.
const consoleSignInHeader = "X-Console-Sign-In"

func (s *Server) consoleMe(c *gin.Context) {
	p := principal(c)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, ConsoleMe{ID: p.ID, Name: p.Name, Role: p.Role, Unit: p.Unit,
		CSRF: c.GetString(sessionCSRFKey), Live: s.changes != nil})
}

// consoleKeepAlive is how often an idle event stream sends a comment, so proxies keep it.
const consoleKeepAlive = 15 * time.Second

// consoleEvents streams server-sent events: "change" whenever a request of the projection
// moves, so the console reads its lists again (through /v1, scoped and logged as ever). An
// event names no request and no patient: it is only a hint to read again.
func (s *Server) consoleEvents(c *gin.Context) {
	if s.changes == nil {
		abort(c, newError(http.StatusServiceUnavailable, CodeUnavailable, "live changes are not available; read again to see changes", nil))
		return
	}
	// Every request's changes (""): the same feed that answers ?wait, from the projection's
	// notifications (db.RequestChanges).
	changes, stop := s.changes.Subscribe(c.Request.Context(), "")
	defer stop()
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	rc := http.NewResponseController(c.Writer)
	// The stream outlives the server's read and write timeouts; each write extends its own.
	_ = rc.SetReadDeadline(time.Time{})
	send := func(msg string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(consoleKeepAlive + 10*time.Second))
		if _, err := io.WriteString(c.Writer, msg); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 1000\nevent: ready\ndata: {}\n\n") {
		return
	}
	ctx := c.Request.Context()
	tick := time.NewTicker(consoleKeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !send(": keep-alive\n\n") {
				return
			}
		case <-changes:
			// A burst of changes is one event: drain what is already there.
			for drained := false; !drained; {
				select {
				case <-changes:
				default:
					drained = true
				}
			}
			if !send("event: change\ndata: {}\n\n") {
				slog.DebugContext(ctx, "console event stream ended")
				return
			}
		}
	}
}
