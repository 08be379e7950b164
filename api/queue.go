package api

import (
	"context"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

// queueReads is what the approval queue reads of the database (db.RequestStore).
type queueReads interface {
	ListApprovalQueue(ctx context.Context, limit int, cursor string) ([]db.QueueItem, string, error)
}

// QueueItemView is a request awaiting approval as the queue lists it.
type QueueItemView struct {
	ID                string              `json:"id"`
	Priority          string              `json:"priority"`
	CabinetID         int64               `json:"cabinet_id"`
	CabinetCode       string              `json:"cabinet_code"`
	Patient           PatientBody         `json:"patient"`
	RequesterID       string              `json:"requester_id"`
	Requester         string              `json:"requester_name"`
	Items             []ItemBody          `json:"items"`
	CreatedAt         time.Time           `json:"created_at"`
	ApprovalDeadline  *time.Time          `json:"approval_deadline,omitempty"`
	RequiredApprovals int32               `json:"required_approvals"`
	Approvals         []QueueApprovalView `json:"approvals"`
}

// QueueApprovalView is an approval a queued request has.
type QueueApprovalView struct {
	Actor pyxis.Actor `json:"actor"`
	At    time.Time   `json:"at"`
}

func queueItemView(q db.QueueItem) QueueItemView {
	s := summaryView(q.RequestSummary)
	approvals := make([]QueueApprovalView, len(q.Approvals))
	for i, a := range q.Approvals {
		approvals[i] = QueueApprovalView{Actor: a.Actor, At: a.At}
	}
	return QueueItemView{
		ID: s.ID, Priority: s.Priority, CabinetID: s.CabinetID, CabinetCode: s.CabinetCode, Patient: s.Patient,
		RequesterID: s.RequesterID, Requester: s.Requester, Items: s.Items, CreatedAt: s.CreatedAt,
		ApprovalDeadline: q.ApprovalDeadline, RequiredApprovals: q.RequiredApprovals, Approvals: approvals,
	}
}

// listApprovalQueue answers GET /v1/queue: a page of the requests awaiting approval, STAT
// first, then oldest first. The read is logged like a listing of requests.
func (s *Server) listApprovalQueue(c *gin.Context, p ListApprovalQueueParams) {
	var fe fields
	limit := fe.limit(p.Limit)
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	rows, next, err := s.queue.ListApprovalQueue(c.Request.Context(), limit, deref(p.Cursor))
	if err == nil {
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		filter := queryFilter{"queue": "awaiting_approval"}
		filter.add("limit", optionalText(p.Limit))
		filter.add("cursor", deref(p.Cursor))
		err = s.logAccess(c, AccessRequestList, ids, map[string]any{"filter": map[string]any(filter)})
	}
	if err != nil {
		abort(c, err)
		return
	}
	writeList(c, rows, queueItemView, next)
}
