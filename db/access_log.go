package db

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// AccessEntry is one read of patient data, as the append-only access log keeps it.
type AccessEntry struct {
	ID int64
	// At is when it was logged; set by the database.
	At    time.Time
	Actor pyxis.Actor
	// Action names what was read: request.read, request.list, request.audit, codec.decode,
	// access_log.read.
	Action string
	// Endpoint is the route that served it, such as "GET /v1/requests/:id".
	Endpoint string
	// RequestIDs are the requests whose data the answer held.
	RequestIDs []string
	ClientIP   string
	// HTTPRequestID is the X-Request-ID of the HTTP request.
	HTTPRequestID string
	Details       map[string]any
}

// AccessFilter selects and pages access-log entries. Zero values mean no filter; From and To
// bound At as [From, To); Limit 0 means 50 and is capped at 200; Cursor is the next cursor
// returned by the previous page.
type AccessFilter struct {
	ActorID   string
	RequestID string
	From, To  *time.Time
	Limit     int
	Cursor    string
}

// LogAccess appends e to the access log and returns once it is committed: a read is logged
// before its answer. Concurrent calls share one statement and one commit (access_batch.go);
// its ID and At are set by the database. It takes no lock: the access log is not chained like
// the audit log.
func (s *AuditStore) LogAccess(ctx context.Context, e AccessEntry) error {
	details, err := marshalDetails(e.Details)
	if err != nil {
		return wrap("log access", err)
	}
	ids := e.RequestIDs
	if ids == nil {
		ids = []string{}
	}
	return wrap("log access", s.access.log(ctx, s.q, gen.InsertAccessBatchParams{
		ActorID: e.Actor.ID, ActorRole: e.Actor.Role, Action: e.Action, Endpoint: e.Endpoint,
		RequestIds: ids, ClientIp: e.ClientIP, HttpRequestID: e.HTTPRequestID, Details: details,
	}))
}

// ListAccess returns access-log entries newest first (by id) that match every non-zero field
// of f, and the cursor of the next page ("" on the last). A cursor it did not issue gives
// ErrInvalidCursor.
func (s *AuditStore) ListAccess(ctx context.Context, f AccessFilter) ([]AccessEntry, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	limit = min(limit, maxPageSize)
	params := gen.ListAccessParams{
		ActorID:   pgtype.Text{String: f.ActorID, Valid: f.ActorID != ""},
		RequestID: pgtype.Text{String: f.RequestID, Valid: f.RequestID != ""},
		FromAt:    f.From,
		ToAt:      f.To,
		MaxRows:   int32(limit + 1),
	}
	if f.Cursor != "" {
		id, err := decodeAccessCursor(f.Cursor)
		if err != nil {
			return nil, "", wrap("list access", err)
		}
		params.BeforeID = pgtype.Int8{Int64: id, Valid: true}
	}
	rows, err := s.q.ListAccess(ctx, params)
	if err != nil {
		return nil, "", wrap("list access", err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = encodeAccessCursor(rows[limit-1].ID)
	}
	out := make([]AccessEntry, len(rows))
	for i, r := range rows {
		details := map[string]any{}
		if err := json.Unmarshal(r.Details, &details); err != nil {
			return nil, "", wrap("list access", err)
		}
		out[i] = AccessEntry{
			ID: r.ID, At: r.At, Actor: pyxis.Actor{ID: r.ActorID, Role: r.ActorRole}, Action: r.Action,
			Endpoint: r.Endpoint, RequestIDs: r.RequestIds, ClientIP: r.ClientIp,
			HTTPRequestID: r.HttpRequestID, Details: details,
		}
	}
	return out, next, nil
}

// accessCursorPrefix tells an access-log cursor from a request-list one.
const accessCursorPrefix = "a,"

func encodeAccessCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(accessCursorPrefix + strconv.FormatInt(id, 10)))
}

func decodeAccessCursor(cursor string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) <= len(accessCursorPrefix) || string(raw[:len(accessCursorPrefix)]) != accessCursorPrefix {
		return 0, pyxis.ErrInvalidCursor
	}
	id, err := strconv.ParseInt(string(raw[len(accessCursorPrefix):]), 10, 64)
	if err != nil || id <= 0 {
		return 0, pyxis.ErrInvalidCursor
	}
	return id, nil
}
