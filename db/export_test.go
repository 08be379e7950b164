package db

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis/db/gen"
)

// AuditHash lets the tests chain entries in-row as the version before migration 0015 did.
var AuditHash = auditHash

// QueuePagePlan is the plan Postgres takes for the first page of the approval queue when it
// is read in the transaction ListApprovalQueue reads it in (queueReadBegin), or, with planned
// false, in a plain read-only one.
func (s *RequestStore) QueuePagePlan(ctx context.Context, planned bool) (string, error) {
	begin := "BEGIN READ ONLY"
	if planned {
		begin = queueReadBegin
	}
	e := &explainer{}
	err := s.inReadTx(ctx, begin, func(tx pgx.Tx) error {
		e.DBTX = tx
		_, err := gen.New(e).ListApprovalQueue(ctx, gen.ListApprovalQueueParams{MaxRows: defaultPageSize + 1})
		return err
	})
	return e.plan.String(), err
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
