package db

import (
	"context"
	"time"
)

// OperationalGauges are the counts operations watch (internal/metrics reads them at scrape
// time).
type OperationalGauges struct {
	OpenRestockTasks, OpenDiscrepancies, OpenOverrideReviews int64
	// AwaitingApprovalPastDeadline and ReadyAtCabinetPastDeadline count the requests still in
	// that status whose deadline passed before the time asked about.
	AwaitingApprovalPastDeadline, ReadyAtCabinetPastDeadline int64
	// AuditHeadSeq is the chain position of the newest audit entry.
	AuditHeadSeq int64
	// CabinetDeliveriesWaiting counts the cabinet commands not yet acknowledged, and
	// OldestCabinetDeliverySeconds is how long the oldest of them has waited (0: none).
	CabinetDeliveriesWaiting     int64
	OldestCabinetDeliverySeconds float64
}

// OperationalGauges reads the gauges in one query; requests count as past their deadline
// when it passed before pastDeadline.
func (s *RequestStore) OperationalGauges(ctx context.Context, pastDeadline time.Time) (OperationalGauges, error) {
	r, err := s.q.OperationalGauges(ctx, pastDeadline)
	if err != nil {
		return OperationalGauges{}, wrap("operational gauges", err)
	}
	return OperationalGauges(r), nil
}
