package db

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis"

	"github.com/medreq/pyxis/db/gen"
)

// Page sizes of ListRequests.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// GetRequest returns one request of the projection with its lines, or ErrNotFound.
func (s *RequestStore) GetRequest(ctx context.Context, id string) (RequestSummary, error) {
	row, err := s.q.GetRequest(ctx, id)
	if err != nil {
		return RequestSummary{}, wrap("get request", err)
	}
	out := []RequestSummary{summaryFromGen(gen.ListRequestsRow(row))}
	if err := attachLines(ctx, s.q, out); err != nil {
		return RequestSummary{}, wrap("get request", err)
	}
	return out[0], nil
}

// ListRequests returns requests newest first (by created_at, then id, descending) that match
// every non-zero field of f, with their lines and cabinet code. It also returns the cursor of
// the next page, or "" when this page is the last. A cursor it did not issue gives
// ErrInvalidCursor; an unknown status gives ErrInvalid.
func (s *RequestStore) ListRequests(ctx context.Context, f RequestFilter) ([]RequestSummary, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	limit = min(limit, maxPageSize)
	params := gen.ListRequestsParams{MaxRows: int32(limit + 1)}
	if f.Status != "" {
		status := gen.RequestStatus(f.Status)
		if !status.Valid() {
			return nil, "", wrap("list requests", invalidf("unknown request status %q", f.Status))
		}
		params.Status = gen.NullRequestStatus{RequestStatus: status, Valid: true}
	}
	if f.CabinetID != 0 {
		params.CabinetID = pgtype.Int8{Int64: f.CabinetID, Valid: true}
	}
	if f.RequesterID != "" {
		params.RequesterID = pgtype.Text{String: f.RequesterID, Valid: true}
	}
	if v := f.VisibleTo; v != nil {
		params.ViewerID = pgtype.Text{String: v.ID, Valid: true}
		params.ViewerUnit = pgtype.Text{String: v.Unit, Valid: true}
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", wrap("list requests", err)
		}
		params.AfterCreatedAt = &at
		params.AfterID = pgtype.Text{String: id, Valid: true}
	}
	var (
		out  []RequestSummary
		next string
	)
	read := func(q *gen.Queries) (err error) {
		out, next, err = readRequestPage(ctx, q, params, limit)
		return err
	}
	var err error
	if orderedByIndex(f) {
		err = s.readOrdered(ctx, read)
	} else {
		err = read(s.q)
	}
	if err != nil {
		return nil, "", wrap("list requests", err)
	}
	return out, next, nil
}

// orderedByIndex reports whether one index holds exactly the requests f lists, newest first:
// f filters by status alone, by cabinet alone, by requester alone, or not at all, for a
// reader who sees every request. Such a page is best read in the index's order whatever the
// statistics say (orderedReadBegin). Other filters keep Postgres's choice: a nurse's own
// requests, among many, are better found and sorted than searched for in the order of all.
func orderedByIndex(f RequestFilter) bool {
	filters := 0
	for _, set := range []bool{f.Status != "", f.CabinetID != 0, f.RequesterID != ""} {
		if set {
			filters++
		}
	}
	return f.VisibleTo == nil && filters <= 1
}

// readRequestPage reads a page of ListRequests and the lines of its requests with q.
func readRequestPage(ctx context.Context, q *gen.Queries, params gen.ListRequestsParams, limit int) ([]RequestSummary, string, error) {
	rows, err := q.ListRequests(ctx, params)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		next = encodeCursor(last.CreatedAt, last.ID)
	}
	out := make([]RequestSummary, len(rows))
	for i, r := range rows {
		out[i] = summaryFromGen(r)
	}
	if err := attachLines(ctx, q, out); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// attachLines loads the lines of all the given requests with one query of q.
func attachLines(ctx context.Context, q *gen.Queries, reqs []RequestSummary) error {
	if len(reqs) == 0 {
		return nil
	}
	ids := make([]string, len(reqs))
	index := make(map[string]int, len(reqs))
	for i, r := range reqs {
		ids[i] = r.ID
		index[r.ID] = i
	}
	lines, err := q.ListRequestLines(ctx, ids)
	if err != nil {
		return err
	}
	for _, l := range lines {
		i := index[l.RequestID]
		reqs[i].Lines = append(reqs[i].Lines, pyxis.Line{MedicationID: l.MedicationID, Quantity: l.Quantity})
	}
	return nil
}

// summaryFromGen converts a generated row to the domain type, with an empty, non-nil Lines.
func summaryFromGen(r gen.ListRequestsRow) RequestSummary {
	return RequestSummary{
		ID: r.ID,
		RequestHeader: pyxis.RequestHeader{
			Requester: pyxis.Actor{ID: r.RequesterID, Name: r.RequesterName},
			Patient:   pyxis.Patient{MRN: r.PatientMrn, Bed: r.PatientBed, Family: r.PatientFamily, Given: r.PatientGiven},
			CabinetID: r.CabinetID,
			Priority:  pyxis.Priority(r.Priority),
			Lines:     []pyxis.Line{},
		},
		CabinetCode: r.CabinetCode,
		Status:      string(r.Status),
		Reason:      r.Reason,
		ReasonCode:  r.ReasonCode,
		CreatedAt:   r.CreatedAt,
		UpdatedAt:   r.UpdatedAt,
	}
}

// encodeCursor makes the opaque cursor that resumes a listing after (createdAt, id).
func encodeCursor(createdAt time.Time, id string) string {
	raw := strconv.FormatInt(createdAt.UnixNano(), 10) + "," + id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor reverses encodeCursor, returning ErrInvalidCursor for anything else.
func decodeCursor(cursor string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return time.Time{}, "", pyxis.ErrInvalidCursor
	}
	return parseTimeID(string(raw))
}

// parseTimeID reads the "<unix nanos>,<id>" a cursor ends with (encodeCursor,
// encodeQueueCursor), returning ErrInvalidCursor for anything else.
func parseTimeID(raw string) (time.Time, string, error) {
	nanos, id, ok := strings.Cut(raw, ",")
	if !ok || id == "" {
		return time.Time{}, "", pyxis.ErrInvalidCursor
	}
	n, err := strconv.ParseInt(nanos, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, "", pyxis.ErrInvalidCursor
	}
	return time.Unix(0, n), id, nil
}

// GetRequestDetail returns one request with its lines and transitions, or ErrNotFound. One
// statement reads them all (GetRequestDetail's rows: the request on each, a transition per
// row), so they are one snapshot, and a read costs one round trip where it cost three.
func (s *RequestStore) GetRequestDetail(ctx context.Context, id string) (RequestDetail, error) {
	rows, err := s.q.GetRequestDetail(ctx, id)
	if err == nil && len(rows) == 0 {
		err = pgx.ErrNoRows
	}
	if err != nil {
		return RequestDetail{}, wrap("get request detail", err)
	}
	row := rows[0]
	d := RequestDetail{
		RequestSummary: summaryFromGen(gen.ListRequestsRow{
			ID: row.ID, RequesterID: row.RequesterID, RequesterName: row.RequesterName,
			PatientMrn: row.PatientMrn, PatientBed: row.PatientBed, PatientFamily: row.PatientFamily,
			PatientGiven: row.PatientGiven, CabinetID: row.CabinetID,
			CabinetCode: row.CabinetCode, Priority: row.Priority, Status: row.Status, Reason: row.Reason,
			ReasonCode: row.ReasonCode, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt,
		}),
		Seq:                row.Seq,
		Version:            row.Version,
		ApprovalDeadline:   row.ApprovalDeadline,
		WithdrawalDeadline: row.WithdrawalDeadline,
		Transitions:        []pyxis.Transition{},
	}
	d.RequiredApprovals = row.RequiredApprovals
	if row.DeliveryCommand.Valid && row.DeliverySince != nil {
		d.CabinetDelivery = &pyxis.CabinetDelivery{Command: row.DeliveryCommand.String, Attempts: row.DeliveryAttempts.Int32,
			LastError: row.DeliveryLastError.String, Since: *row.DeliverySince}
	}
	if len(row.LineMedicationIds) != len(row.LineQuantities) {
		return RequestDetail{}, wrap("get request detail", fmt.Errorf("request %s: %d line medications for %d quantities",
			id, len(row.LineMedicationIds), len(row.LineQuantities)))
	}
	for i, m := range row.LineMedicationIds {
		d.Lines = append(d.Lines, pyxis.Line{MedicationID: m, Quantity: row.LineQuantities[i]})
	}
	for _, r := range rows {
		if !r.TSeq.Valid {
			continue // the request's one row when it has no transition yet
		}
		vended, err := linesFromJSON(r.TVended)
		if err != nil {
			return RequestDetail{}, wrap("get request detail", err)
		}
		var at time.Time
		if r.TAt != nil {
			at = *r.TAt
		}
		d.Transitions = append(d.Transitions, pyxis.Transition{
			Vended:    vended,
			RequestID: id, Seq: r.TSeq.Int32, From: string(r.TFromStatus.RequestStatus), Status: string(r.TToStatus.RequestStatus),
			Action: r.TAction.String, Actor: pyxis.Actor{ID: r.TActorID.String, Name: r.TActorName.String, Role: r.TActorRole.String},
			At: at, Reason: r.TReason.String, ReasonCode: r.TReasonCode.String, Note: r.TNote.String, ReportID: r.TReportID.String,
			Registration: r.TRegistration.String,
		})
	}
	// Transitions are numbered from 1 without gaps: all are here when the last one is.
	d.Complete = row.HasTransitions && int32(len(d.Transitions)) == row.Seq
	return d, nil
}

// InactiveApprovers returns the ids of the users who recorded an approval of the request
// (approval_recorded, the first of two) and are deactivated now, ordered by id.
func (s *RequestStore) InactiveApprovers(ctx context.Context, requestID string) ([]string, error) {
	ids, err := s.q.InactiveApprovers(ctx, requestID)
	if err != nil {
		return nil, wrap("inactive approvers", err)
	}
	return ids, nil
}
