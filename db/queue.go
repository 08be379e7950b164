package db

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// QueueItem is a request awaiting approval as the pharmacist's queue shows it: the request,
// its approval deadline, how many approvals it needs and those it has.
type QueueItem struct {
	RequestSummary
	// ApprovalDeadline is when the request expires unapproved (nil: not recorded).
	ApprovalDeadline  *time.Time
	RequiredApprovals int32
	// Approvals are the approvals recorded so far that still count, in order.
	Approvals []QueueApproval
}

// QueueApproval is one approval a queued request has.
type QueueApproval struct {
	Actor pyxis.Actor
	At    time.Time
}

// orderedReadBegin begins the transaction a page of requests is read in when one index holds
// exactly the requests it lists, in its order: the approval queue (its partial index,
// medication_requests_queue), and a list filtered by status alone, by cabinet alone, by
// requester alone, or not at all (ListRequests, orderedByIndex). The page then reads the
// index's first rows, 51 at most, when Postgres knows how many requests match; when its
// statistics say few do, it gathers all of them and sorts them instead. They say so on a table
// never analyzed, or on a large one after a surge, until autovacuum's next ANALYZE (a tenth of
// the table must change first), which is when the queue is long: with 10,000 requests awaiting
// approval, the queue's page took 24.6 ms that way under load where the ordered read took 0.46
// ms, and the list by status 14.3 against 0.12 ms (EXPLAIN ANALYZE, docs/performance.md). With
// sorting off for this transaction alone, the ordered read is the plan. Read-only and
// repeatable read: a page and what is read with it (lines, approvals) are one snapshot.
const orderedReadBegin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL enable_sort = off"

// readOrdered runs read in the transaction of orderedReadBegin.
func (c conn) readOrdered(ctx context.Context, read func(q *gen.Queries) error) error {
	return c.inTxBegun(ctx, orderedReadBegin, func(tx pgx.Tx) error { return read(c.q.WithTx(tx)) })
}

// ListApprovalQueue returns a page of the requests awaiting approval, STAT first and then
// oldest first, with their lines and approvals, and the cursor of the next page ("" at the
// last). A cursor it did not issue gives ErrInvalidCursor. Each page is a keyset read of a
// partial index (orderedReadBegin), so the time to the next page does not grow with the queue.
func (s *RequestStore) ListApprovalQueue(ctx context.Context, limit int, cursor string) ([]QueueItem, string, error) {
	if limit <= 0 {
		limit = defaultPageSize
	}
	limit = min(limit, maxPageSize)
	params := gen.ListApprovalQueueParams{MaxRows: int32(limit + 1)}
	if cursor != "" {
		notStat, at, id, err := decodeQueueCursor(cursor)
		if err != nil {
			return nil, "", wrap("list approval queue", err)
		}
		params.AfterNotStat = pgtype.Bool{Bool: notStat, Valid: true}
		params.AfterCreatedAt = &at
		params.AfterID = pgtype.Text{String: id, Valid: true}
	}
	var (
		out  []QueueItem
		next string
	)
	err := s.readOrdered(ctx, func(q *gen.Queries) (err error) {
		out, next, err = readQueuePage(ctx, q, params, limit)
		return err
	})
	if err != nil {
		return nil, "", wrap("list approval queue", err)
	}
	return out, next, nil
}

// readQueuePage reads a page of the queue, its lines and its approvals with q.
func readQueuePage(ctx context.Context, q *gen.Queries, params gen.ListApprovalQueueParams, limit int) ([]QueueItem, string, error) {
	rows, err := q.ListApprovalQueue(ctx, params)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		next = encodeQueueCursor(last.Priority != gen.RequestPriorityStat, last.CreatedAt, last.ID)
	}
	out := make([]QueueItem, len(rows))
	summaries := make([]RequestSummary, len(rows))
	for i, r := range rows {
		summaries[i] = summaryFromGen(gen.ListRequestsRow{
			ID: r.ID, RequesterID: r.RequesterID, RequesterName: r.RequesterName, PatientMrn: r.PatientMrn,
			PatientBed: r.PatientBed, PatientFamily: r.PatientFamily, PatientGiven: r.PatientGiven,
			CabinetID: r.CabinetID, CabinetCode: r.CabinetCode, Priority: r.Priority,
			Status: gen.RequestStatusAwaitingApproval, CreatedAt: r.CreatedAt, UpdatedAt: r.CreatedAt,
		})
	}
	if err := attachLines(ctx, q, summaries); err != nil {
		return nil, "", err
	}
	index := make(map[string]int, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		out[i] = QueueItem{
			RequestSummary: summaries[i], ApprovalDeadline: r.ApprovalDeadline,
			RequiredApprovals: r.RequiredApprovals, Approvals: []QueueApproval{},
		}
		index[r.ID], ids[i] = i, r.ID
	}
	if len(ids) == 0 {
		return out, next, nil
	}
	ts, err := q.ListApprovalTransitions(ctx, ids)
	if err != nil {
		return nil, "", err
	}
	for _, t := range ts {
		item := &out[index[t.RequestID]]
		if t.Action == "approval_voided" {
			// As the request's state is rebuilt (requests.stateFromProjection): the note names
			// the pharmacist whose approval no longer counts.
			item.Approvals = slices.DeleteFunc(item.Approvals, func(a QueueApproval) bool { return a.Actor.ID == t.Note })
			continue
		}
		item.Approvals = append(item.Approvals, QueueApproval{
			Actor: pyxis.Actor{ID: t.ActorID, Name: t.ActorName, Role: pyxis.RolePharmacist}, At: t.At,
		})
	}
	return out, next, nil
}

// encodeQueueCursor makes the opaque cursor that resumes the queue after a row.
func encodeQueueCursor(notStat bool, createdAt time.Time, id string) string {
	raw := "q," + strconv.FormatBool(notStat) + "," + strconv.FormatInt(createdAt.UnixNano(), 10) + "," + id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeQueueCursor reverses encodeQueueCursor, returning ErrInvalidCursor for anything else.
func decodeQueueCursor(cursor string) (bool, time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return false, time.Time{}, "", pyxis.ErrInvalidCursor
	}
	parts := strings.SplitN(string(raw), ",", 3)
	if len(parts) != 3 || parts[0] != "q" {
		return false, time.Time{}, "", pyxis.ErrInvalidCursor
	}
	notStat, err := strconv.ParseBool(parts[1])
	if err != nil {
		return false, time.Time{}, "", pyxis.ErrInvalidCursor
	}
	at, id, err := parseTimeID(parts[2])
	return notStat, at, id, err
}
