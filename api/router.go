// Package api is the REST API: gin handlers that validate input, read the Postgres projection,
// and start, update and query the medication request workflows.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/internal/metrics"
	"github.com/medreq/pyxis/internal/obs"
	"github.com/medreq/pyxis/requests"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// Config is what the API needs to know beyond its dependencies.
type Config struct {
	// Auth is how tokens are verified: AuthJWKS admits only the identity provider's tokens
	// (HS256 is off, JWTSecret is ignored) and takes the role from each token; AuthHS256, or
	// "" (tests of the router), admits what JWTSecret and JWKSURL verify, with the directory's
	// role winning over the token's.
	Auth string
	// JWTSecret verifies HS256 bearer tokens; empty refuses them.
	JWTSecret []byte
	// JWKSURL, when set, also admits RS256 and ES256 tokens of an identity provider, verified
	// with the public keys it publishes there, and checked for JWTIssuer and JWTAudience.
	JWKSURL     string
	JWTIssuer   string
	JWTAudience string
	// JWTLeeway is the clock skew allowed when checking exp, nbf and iat.
	JWTLeeway time.Duration
	// JWTRoleClaim names the claim of a JWKS token that holds the role: a claim name or a
	// dotted path ("realm_access.roles"); a string or an array (the first known role wins).
	JWTRoleClaim string
	// JWKSRefreshInterval is the least time between two fetches of the JWKS forced by tokens
	// naming an unknown key id.
	JWKSRefreshInterval time.Duration
	// Codec, when set, is served at POST /codec/encode and /codec/decode for pharmacists and
	// admins, so the Temporal Web UI can show encrypted payloads.
	Codec converter.PayloadCodec
	// CodecCORSOrigins are the browser origins (the Web UI's) allowed to call the codec
	// endpoints.
	CodecCORSOrigins []string
	// CodecSession (dev mode only) lets a browser hold its token in an HttpOnly cookie for
	// /codec: the dev Web UI has no sign-in and cannot send one. GET /codec/session?token=
	// sets the cookie (pharmacist or admin tokens only) and redirects to CodecSession; the
	// codec endpoints then take the cookie when no Authorization header comes. Empty: off.
	CodecSession string
	// RateLimit (requests per second) and RateBurst bound each user's requests; 0 disables.
	RateLimit float64
	RateBurst int
	// HSTS adds Strict-Transport-Security to every response (when TLS terminates in front).
	HSTS bool
	// Policy is what requests are created and acted on under (approval deadlines, the
	// withdrawal window, cabinet attempts, how long an action may wait for its workflow, the
	// lists that need two pharmacists); its fields are the Config's own.
	requests.Policy
	// AllowSimulatedCabinets lets cabinets with the sim driver be created (dev mode, tests,
	// PYXIS_ALLOW_SIMULATED_CABINETS=true); /readyz then says so.
	AllowSimulatedCabinets bool
	// HL7ZoneUnset says PYXIS_HL7_TIMEZONE is not set: a cabinet with the hl7 driver is then
	// refused (422 naming driver), as the api and the worker refuse to start with one.
	HL7ZoneUnset bool
	// RequireKnownUsers refuses (401) a valid token whose subject is not in the users
	// directory; otherwise that user is added on first sight with the token's name and role.
	RequireKnownUsers bool
	// UserCacheTTL is how long each process caches a directory entry (at most
	// MaxUserCacheTTL; 0: no cache): a deactivated user is refused within it.
	UserCacheTTL time.Duration
	// TrustedProxies are the addresses or CIDRs of reverse proxies whose X-Forwarded-For
	// names the client (the access log records it); none: the peer is the client.
	TrustedProxies []string
	// Metrics, when set, records every request and is served at GET /metrics, without
	// authentication (deploy/OPERATIONS.md: keep it off the public ingress); the intake's
	// reports and the gauges read from the store are exported there too. Nil: no /metrics.
	Metrics *metrics.Registry
	// ConsoleTokenSignIn serves GET /session?token=, which opens a console session for a
	// bearer token (dev mode, PYXIS_CONSOLE_TOKEN_SIGNIN=true): off in production, where a
	// token in a URL would end up in logs and histories.
	ConsoleTokenSignIn bool
	// ConsoleSessionTTL is how long a console session lasts (0: 12h).
	ConsoleSessionTTL time.Duration
	// OIDCIssuer, when set, lets the console sign in with the identity provider: the OpenID
	// Connect authorization code flow with PKCE (GET /login, GET /auth/callback), discovered
	// from the issuer, for the client OIDCClientID (OIDCClientSecret for a confidential
	// client), returning to OIDCRedirectURL (default: this server's /auth/callback). The
	// access tokens it gets are checked as bearer tokens (JWKSURL, issuer, audience).
	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret string
	OIDCRedirectURL  string
	// AuditVerifyInterval is how often the audit chain is verified in the background for
	// pyxis_audit_chain_ok (with Metrics and a store); 0: never.
	AuditVerifyInterval time.Duration
}

// DefaultConfig returns the documented defaults; the secret is left empty.
func DefaultConfig() Config {
	return Config{
		Policy: requests.Policy{
			ApprovalTimeouts: map[pyxis.Priority]time.Duration{
				pyxis.PriorityStat:    15 * time.Minute,
				pyxis.PriorityUrgent:  time.Hour,
				pyxis.PriorityRoutine: 4 * time.Hour,
			},
			WithdrawalTimeout:    2 * time.Hour,
			CabinetRetryInterval: time.Second,
			UpdateTimeout:        10 * time.Second,
			DualApprovalLists:    []string{"A1", "A2", "A3", "B1", "B2"},
		},
		JWTLeeway:           30 * time.Second,
		JWTRoleClaim:        "role",
		JWKSRefreshInterval: time.Minute,
		RateLimit:           20,
		RateBurst:           40,
		UserCacheTTL:        MaxUserCacheTTL,
	}
}

// Server holds the API's dependencies: the database as each group of routes uses it, the
// request service, and Temporal.
type Server struct {
	reqs      requestReads
	queue     queueReads
	sessions  sessionStore
	catalogue catalogueStore
	stock     stockStore
	users     userStore
	audit     auditStore
	metrics   metricsStore
	ping      func(context.Context) error
	temporal  client.Client
	// requests creates requests and acts on them; it applies withdrawal reports through the
	// intake, the same path as the cabinets' own reports.
	requests *requests.Service
	cfg      Config
	auth     *authenticator
	keys     *jwksKeys // nil without Config.JWKSURL
	limiter  *userLimiter
	dir      *directory  // nil without a store
	oidc     *oidcClient // nil without Config.OIDCIssuer
	// draining is set once shutdown begins (Drain).
	draining atomic.Bool
	// stopAudit stops the audit chain verification NewServer started.
	stopAudit context.CancelFunc
	// changes wakes the reads that wait for a request to change (?wait); stopChanges ends
	// its listener, and drained, closed by Drain, answers the waiting ones at once.
	changes     requestChanges
	stopChanges context.CancelFunc
	drained     chan struct{}
	drainOnce   sync.Once
}

// NewServer returns the API server. With a JWKS URL it starts fetching the provider's keys;
// Close stops that. Tokens are checked against the users directory in store; a server
// without a store (nil: tests of the router alone) has no directory.
func NewServer(store Store, tc client.Client, cfg Config) *Server {
	s := &Server{temporal: tc, cfg: cfg, limiter: newUserLimiter(cfg.RateLimit, cfg.RateBurst), drained: make(chan struct{})}
	if store != nil {
		s.reqs, s.catalogue, s.stock, s.users, s.audit, s.metrics = store, store, store, store, store, store
		s.queue, s.sessions = store, store
		s.ping = store.Ping
		var ctx context.Context
		ctx, s.stopChanges = context.WithCancel(context.Background())
		s.changes = store.ListenChanges(ctx)
		s.dir = newDirectory(store, cfg.UserCacheTTL, cfg.RequireKnownUsers)
		s.dir.providerRoles = cfg.Auth == AuthJWKS
	}
	withdrawals := &intake.Intake{Store: store, Temporal: tc, UpdateTimeout: cfg.UpdateTimeout}
	s.requests = requests.New(store, tc, withdrawals, cfg.Policy, cfg.Codec)
	if cfg.JWKSURL != "" {
		var keys *jwksKeys
		err := CheckJWKSURL(cfg.JWKSURL)
		if err == nil {
			keys, err = newJWKSKeys(cfg.JWKSURL, cfg.JWKSRefreshInterval)
		}
		if err != nil {
			// Only a malformed or plain-http URL gets here, and the config check catches
			// those first: without keys, every identity-provider token is refused.
			slog.Error("jwks unavailable; identity-provider tokens will be refused", "error", err)
		} else {
			s.keys = keys
		}
	}
	s.auth = newAuthenticator(cfg, s.keys)
	s.auth.dir = s.dir
	s.auth.session = s.sessionToken
	if cfg.OIDCIssuer != "" {
		s.oidc = newOIDCClient(cfg)
		if store != nil {
			s.auth.refresh = s.refreshSession
		}
	}
	s.startMetrics()
	return s
}

// startMetrics exports what the api owns beyond its requests: the gauges read from the
// store at scrape time, and the audit chain verified in the background.
func (s *Server) startMetrics() {
	m := s.cfg.Metrics
	if m == nil || s.metrics == nil {
		return
	}
	m.WatchStore(storeMetrics{s.metrics})
	if s.cfg.AuditVerifyInterval > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		s.stopAudit = cancel
		go m.VerifyAudit(ctx, storeMetrics{s.metrics}, s.cfg.AuditVerifyInterval)
	}
}

// Close releases what NewServer started.
func (s *Server) Close() {
	if s.keys != nil {
		s.keys.close()
	}
	if s.stopAudit != nil {
		s.stopAudit()
	}
	if s.stopChanges != nil {
		s.stopChanges()
	}
}

// Handler returns the HTTP handler with every route.
func (s *Server) Handler() http.Handler {
	r := gin.New()
	// The access log records the client's address: X-Forwarded-For only from trusted proxies.
	if err := r.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		slog.Error("trusted proxies refused; trusting none", "error", err)
		_ = r.SetTrustedProxies(nil)
	}
	if s.cfg.Metrics != nil {
		// First, so that it times everything and sees the status a recovered panic got.
		r.Use(s.cfg.Metrics.HTTP().Middleware())
	}
	r.Use(otelgin.Middleware(ServiceName), requestID(), logRequests(), gin.CustomRecovery(func(c *gin.Context, v any) {
		slog.ErrorContext(c.Request.Context(), "panic in handler", "panic", v, "request_id", c.GetString(requestIDKey))
		c.AbortWithStatusJSON(http.StatusInternalServerError, ErrorBody{Error: ErrorDetail{Code: CodeInternal, Message: "internal error"}})
	}), securityHeaders(s.cfg.HSTS), limitBody())
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) { abort(c, notFound("route")) })
	r.NoMethod(func(c *gin.Context) {
		abort(c, newError(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed", nil))
	})

	// The service routes need no token; /openapi.json and /docs (openapi.go, docs.go) serve
	// the contract and its reference page.
	spec := mustContract()
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.ready)
	r.GET("/openapi.json", spec.serveOpenAPI)
	serveDocs(r)
	if s.cfg.Metrics != nil {
		r.GET("/metrics", gin.WrapH(s.cfg.Metrics.Handler()))
	}

	// Every /v1 route comes from openapi.yaml (server.gen.go), behind authentication, the
	// per-user rate limit, the text check of parameters, and the roles the document admits.
	// The group has no path of its own, so unknown routes still fall to NoRoute (404)
	// without asking for a token.
	v1 := r.Group("/", s.auth.authenticate(), s.limiter.middleware(), checkParams(), spec.authorize(s.hiddenFromNurse))
	RegisterHandlersWithOptions(v1, routes{s}, GinServerOptions{ErrorHandler: spec.paramError})
	s.codecRoutes(r, spec.authorize(nil))
	s.consoleRoutes(r)
	return r
}

// Drain marks the server as shutting down: from now on /readyz answers 503, so load
// balancers stop sending, while requests are still served; reads waiting for a change
// (?wait) are answered at once with what they hold, so they do not hold up the shutdown.
func (s *Server) Drain() {
	s.draining.Store(true)
	s.drainOnce.Do(func() { close(s.drained) })
}

// ready answers 200 only when Postgres and Temporal both answer, and 503 once the server
// drains.
func (s *Server) ready(c *gin.Context) {
	if s.draining.Load() {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "shutting down"})
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := gin.H{"postgres": "ok", "temporal": "ok"}
	status := http.StatusOK
	if err := s.ping(ctx); err != nil {
		checks["postgres"], status = "unreachable", http.StatusServiceUnavailable
	}
	if _, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"], status = "unreachable", http.StatusServiceUnavailable
	}
	out := gin.H{"status": map[bool]string{true: "ready", false: "not ready"}[status == http.StatusOK], "checks": checks}
	if s.cfg.AllowSimulatedCabinets {
		out["simulated_cabinets"] = "allowed"
	}
	c.JSON(status, out)
}

const requestIDKey = "pyxis.request_id"

// ServiceName names the API in its server spans.
const ServiceName = "pyxis-api"

// requestID gives every request an id, echoed in X-Request-ID and in its log lines. A caller's
// own id is kept when it is reasonable: at most 64 printable ASCII characters. It puts the
// request's log fields on its context (obs.Start: request_id here, the actor once
// authenticated, the workflow of a /v1/requests/:id route) and answers the trace id of the
// request's span (otelgin's) in X-Trace-ID.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r > '~' }) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(requestIDKey, id)
		c.Header("X-Request-ID", id)
		ctx, _ := obs.Start(c.Request.Context())
		obs.SetRequestID(ctx, id)
		span := trace.SpanFromContext(ctx)
		span.SetAttributes(obs.AttrRequestID.String(id))
		if sc := span.SpanContext(); sc.HasTraceID() {
			c.Header(TraceIDHeader, sc.TraceID().String())
		}
		if strings.HasPrefix(c.FullPath(), "/v1/requests/:id") && pyxis.ValidRequestID(c.Param("id")) {
			setWorkflowID(ctx, c.Param("id"))
		}
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// TraceIDHeader answers the trace id of every request: the id to look the request up by in
// the tracing backend and in the logs (trace_id).
const TraceIDHeader = "X-Trace-ID"

// setWorkflowID records the workflow a request works on, in its log lines and its span.
func setWorkflowID(ctx context.Context, id string) {
	obs.SetWorkflowID(ctx, id)
	trace.SpanFromContext(ctx).SetAttributes(obs.AttrWorkflowID.String(id))
}

func logRequests() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		attrs := []any{"method", c.Request.Method, "path", c.Request.URL.Path, "status", c.Writer.Status(),
			"duration_ms", time.Since(start).Milliseconds(), "request_id", c.GetString(requestIDKey)}
		// Whoever runs the server learns why a token was refused; its holder does not.
		if reason := c.GetString(refusalKey); reason != "" {
			attrs = append(attrs, "reason", reason)
		}
		slog.InfoContext(c.Request.Context(), "http request", attrs...)
	}
}

func limitBody() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
		c.Next()
	}
}
