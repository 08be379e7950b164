package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/converter"

	"github.com/medreq/pyxis"
)

// codecCORSHeaders are the request headers the Temporal Web UI sends to a codec server.
var codecCORSHeaders = strings.Join([]string{"Authorization", "Authorization-Extras", "Content-Type", "X-Namespace"}, ", ")

// codecRoutes serves Temporal's codec-server protocol (POST /codec/encode and /codec/decode,
// a JSON {"payloads": [...]} in and out) with Config.Codec, so the Web UI can show the
// payloads that history keeps encrypted. Decoding reveals patient data: it takes a bearer
// token like /v1, and only the roles in mayDecode. Browsers calling from
// Config.CodecCORSOrigins get CORS headers; their preflight OPTIONS needs no token.
func (s *Server) codecRoutes(r *gin.Engine, mayDecode gin.HandlerFunc) {
	if s.cfg.Codec == nil {
		return
	}
	h := converter.NewPayloadCodecHTTPHandler(s.cfg.Codec)
	g := r.Group("/codec", s.codecCORS())
	for _, op := range []struct {
		path   string
		logged func(*gin.Context, []byte) error
	}{{"/encode", nil}, {"/decode", s.logDecode}} {
		g.OPTIONS(op.path, func(c *gin.Context) { c.Status(http.StatusNoContent) })
		g.POST(op.path, s.codecSessionToken(), s.auth.authenticate(), s.limiter.middleware(), mayDecode, serveCodec(h, op.logged))
	}
	if s.cfg.CodecSession != "" {
		g.GET("/session", s.codecSessionToken(), s.auth.authenticate(), mayDecode, s.startCodecSession)
	}
}

// codecSessionCookie holds a dev Web UI user's token for /codec (Config.CodecSession).
const codecSessionCookie = "pyxis_codec_token"

// codecSessionToken, when dev sessions are on, takes the bearer token from the ?token= of
// GET /codec/session or from the session cookie, for requests that carry no Authorization
// header. The token is then checked like any other.
func (s *Server) codecSessionToken() gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.cfg.CodecSession == "" || c.GetHeader("Authorization") != "" {
			c.Next()
			return
		}
		tok := ""
		if c.Request.Method == http.MethodGet {
			tok = c.Query("token")
		} else if ck, err := c.Cookie(codecSessionCookie); err == nil {
			tok = ck
		}
		if tok != "" {
			c.Request.Header.Set("Authorization", "Bearer "+tok)
		}
		c.Next()
	}
}

// startCodecSession stores the (already verified) token in an HttpOnly cookie scoped to
// /codec and sends the browser on to the Web UI, which can then decode payloads.
func (s *Server) startCodecSession(c *gin.Context) {
	tok, _ := bearerToken(c.GetHeader("Authorization"))
	http.SetCookie(c.Writer, &http.Cookie{
		Name: codecSessionCookie, Value: tok, Path: "/codec", HttpOnly: true,
		// Lax is sent by the UI's fetches: the dev UI and API share a host, so a site.
		SameSite: http.SameSiteLaxMode, MaxAge: 12 * 60 * 60,
	})
	c.Redirect(http.StatusSeeOther, s.cfg.CodecSession)
}

// codecCORS answers CORS for the allowed origins, credentials included. Other origins get no
// CORS headers, so browsers keep the answer from them.
func (s *Server) codecCORS() gin.HandlerFunc {
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		c.Writer.Header().Add("Vary", "Origin")
		if origin != "" && slices.Contains(s.cfg.CodecCORSOrigins, origin) {
			h := c.Writer.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			if c.Request.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", codecCORSHeaders)
				h.Set("Access-Control-Max-Age", "600")
			}
		}
		c.Next()
	}
}

// serveCodec runs the SDK's codec handler, but answers its failures with the error envelope
// instead of the handler's plain-text error (which would echo parser internals). When logged
// is set, it sees a successful answer before it is sent, and an error it returns is sent
// instead.
func serveCodec(h http.Handler, logged func(c *gin.Context, answer []byte) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		rec := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
		h.ServeHTTP(rec, c.Request)
		if rec.status != http.StatusOK {
			slog.WarnContext(c.Request.Context(), "codec request refused", "path", c.Request.URL.Path,
				"status", rec.status, "error", strings.TrimSpace(rec.body.String()), "request_id", c.GetString(requestIDKey))
			abort(c, newError(http.StatusBadRequest, CodeInvalidJSON, "the payloads could not be encoded or decoded", nil))
			return
		}
		if logged != nil {
			if err := logged(c, rec.body.Bytes()); err != nil {
				abort(c, err)
				return
			}
		}
		c.Data(http.StatusOK, "application/json", rec.body.Bytes())
	}
}

// logDecode records a decode in the access log: how many payloads were decoded, and the
// requests whose ids the decoded payloads hold (a workflow's input and state, an activity's
// arguments name their request), so a look at a request through the Web UI is found by the
// request like any other.
func (s *Server) logDecode(c *gin.Context, answer []byte) error {
	var decoded struct {
		Payloads []struct {
			Data []byte `json:"data"` // base64 in JSON, as the codec-server protocol sends it
		} `json:"payloads"`
	}
	_ = json.Unmarshal(answer, &decoded) // the SDK wrote it; a count of 0 says it was unreadable
	var ids []string
	for _, p := range decoded.Payloads {
		for _, id := range requestIDsIn.FindAllString(string(p.Data), -1) {
			if !slices.Contains(ids, id) && pyxis.ValidRequestID(id) {
				ids = append(ids, id)
			}
		}
	}
	return s.logAccess(c, AccessCodecDecode, ids, map[string]any{"payloads": len(decoded.Payloads)})
}

// requestIDsIn finds request ids (pyxis.ValidRequestID) in decoded payload data.
var requestIDsIn = regexp.MustCompile(`medreq-[0-9A-HJKMNP-TV-Z]{26}`)

// bufferedWriter keeps a handler's response until it is known to have succeeded.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedWriter) Header() http.Header         { return w.header }
func (w *bufferedWriter) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *bufferedWriter) WriteHeader(status int)      { w.status = status }
