package db

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis/db/gen"
)

// AuditHash lets the tests chain entries in-row as the version before migration 0015 did.
var AuditHash = auditHash

// OrderedByIndex lets the tests see which lists are read in their index's order.
var OrderedByIndex = orderedByIndex

// PagePlans are the plans Postgres takes for the first page of the approval queue and of the
// requests of a status, read in the transaction such pages are read in (orderedReadBegin), or,
// with ordered false, in a plain read-only one.
func (s *RequestStore) PagePlans(ctx context.Context, status string, ordered bool) (queue, list string, err error) {
	begin := "BEGIN READ ONLY"
	if ordered {
		begin = orderedReadBegin
	}
	explain := func(read func(q *gen.Queries) error) (string, error) {
		e := &explainer{}
		err := s.inTxBegun(ctx, begin, func(tx pgx.Tx) error {
			e.DBTX = tx
			return read(gen.New(e))
		})
		return e.plan.String(), err
	}
	if queue, err = explain(func(q *gen.Queries) error {
		_, err := q.ListApprovalQueue(ctx, gen.ListApprovalQueueParams{MaxRows: defaultPageSize + 1})
		return err
	}); err != nil {
		return "", "", err
	}
	list, err = explain(func(q *gen.Queries) error {
		_, err := q.ListRequests(ctx, gen.ListRequestsParams{MaxRows: defaultPageSize + 1,
			Status: gen.NullRequestStatus{RequestStatus: gen.RequestStatus(status), Valid: true}})
		return err
	})
	return queue, list, err
}

// explainer runs each query it is given twice: under EXPLAIN, keeping the plan, then as it is.
type explainer struct {
	gen.DBTX
	plan strings.Builder
}

func (e *explainer) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := e.DBTX.Query(ctx, "EXPLAIN "+sql, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		e.plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return e.DBTX.Query(ctx, sql, args...)
}
