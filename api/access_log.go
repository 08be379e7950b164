package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/internal/textcheck"
)

// Actions of the access log: what kind of read of patient data an entry records.
// Every answer that carries patient data is logged, not only reads: a create (and its
// idempotent replay), an approval, rejection or cancellation, and a withdrawal report answer
// the request's state. A refused look at a request that exists is logged too (denied).
const (
	AccessRequestRead     = "request.read"
	AccessRequestList     = "request.list"
	AccessRequestAudit    = "request.audit"
	AccessRequestCreate   = "request.create"
	AccessRequestApprove  = "request.approve"
	AccessRequestReject   = "request.reject"
	AccessRequestCancel   = "request.cancel"
	AccessRequestWithdraw = "request.withdrawal"
	AccessDenied          = "denied"
	AccessCodecDecode     = "codec.decode"
	AccessLogRead         = "access_log.read"
)

// logAccess records that the caller is reading patient data: who (id and role), what (action
// and route), which requests, from which client address, under which X-Request-ID. It is
// called once the answer is computed and before it is sent, and costs one INSERT (the access
// log takes no lock, unlike the audit chain). When the entry cannot be written the read is
// refused: it returns an error that answers 503, and no patient data leaves unlogged.
func (s *Server) logAccess(c *gin.Context, action string, requestIDs []string, details map[string]any) error {
	if s.audit == nil {
		return newError(http.StatusServiceUnavailable, CodeUnavailable, "reads of patient data cannot be logged; try again shortly", nil)
	}
	me := actor(c)
	err := s.audit.LogAccess(c.Request.Context(), db.AccessEntry{
		Actor: pyxis.Actor{ID: me.ID, Role: me.Role}, Action: action, Endpoint: c.Request.Method + " " + c.FullPath(),
		RequestIDs: requestIDs, ClientIP: c.ClientIP(), HTTPRequestID: c.GetString(requestIDKey), Details: details,
	})
	if err != nil {
		slog.ErrorContext(c.Request.Context(), "access log not written; read refused", "error", err,
			"action", action, "request_id", c.GetString(requestIDKey))
		return newError(http.StatusServiceUnavailable, CodeUnavailable, "the read could not be recorded in the access log; try again shortly", nil)
	}
	return nil
}

// deny records a refused look at request id, which exists, by a caller who may not see it
// (action names what was tried), and returns the 404 the caller gets: the same answer as for
// a request that does not exist. An entry that cannot be written is 503, as for a read.
func (s *Server) deny(c *gin.Context, id, action string) error {
	if err := s.logAccess(c, AccessDenied, []string{id}, map[string]any{"attempted": action}); err != nil {
		return err
	}
	return notFound("request")
}

// AccessEntryView is one entry of the access log.
type AccessEntryView struct {
	ID            int64          `json:"id"`
	At            time.Time      `json:"at"`
	Actor         pyxis.Actor    `json:"actor"`
	Action        string         `json:"action"`
	Endpoint      string         `json:"endpoint"`
	RequestIDs    []string       `json:"request_ids"`
	ClientIP      string         `json:"client_ip"`
	HTTPRequestID string         `json:"x_request_id"`
	Details       map[string]any `json:"details"`
}

func accessEntryView(e db.AccessEntry) AccessEntryView {
	return AccessEntryView{
		ID: e.ID, At: e.At, Actor: pyxis.Actor{ID: e.Actor.ID, Role: e.Actor.Role}, Action: e.Action,
		Endpoint: e.Endpoint, RequestIDs: e.RequestIDs, ClientIP: e.ClientIP, HTTPRequestID: e.HTTPRequestID, Details: e.Details,
	}
}

// listAccessLog answers GET /v1/access-log?request_id=&actor_id=&from=&to=&limit=&cursor=,
// newest first. The read itself is logged once (access_log.read, with its filter); what it
// lists is not logged again.
func (s *Server) listAccessLog(c *gin.Context, p ListAccessLogParams) {
	f := db.AccessFilter{RequestID: deref(p.RequestId), ActorID: deref(p.ActorId), Cursor: deref(p.Cursor)}
	var fe fields
	if f.RequestID != "" && !pyxis.ValidRequestID(f.RequestID) {
		fe.add("request_id", "is not a request id")
	}
	if len(f.ActorID) > maxSubjectLen || textcheck.Check(f.ActorID, textcheck.Line) != nil {
		fe.add("actor_id", "is not a user id")
	}
	f.From = fe.queryTime("from", deref(p.From))
	f.To = fe.queryTime("to", deref(p.To))
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		fe.add("to", "must be after from")
	}
	f.Limit = fe.limit(p.Limit)
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	entries, next, err := s.audit.ListAccess(c.Request.Context(), f)
	if err != nil {
		abort(c, err)
		return
	}
	filter := queryFilter{}
	filter.add("request_id", f.RequestID)
	filter.add("actor_id", f.ActorID)
	filter.add("from", deref(p.From))
	filter.add("to", deref(p.To))
	filter.add("cursor", f.Cursor)
	if err := s.logAccess(c, AccessLogRead, nil, map[string]any{"filter": map[string]any(filter), "entries": len(entries)}); err != nil {
		abort(c, err)
		return
	}
	writeList(c, entries, accessEntryView, next)
}

// queryTime checks an optional RFC 3339 time query parameter ("" when absent), noting a bad
// one.
func (f *fields) queryTime(name, v string) *time.Time {
	if v == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		f.add(name, "must be a time such as 2026-03-02T08:00:00Z")
		return nil
	}
	return &t
}
