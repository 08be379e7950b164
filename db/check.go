package db

import (
	"context"
	"time"

	"github.com/medreq/pyxis/db/gen"
)

// PocketProblem is a pocket that breaks the stock invariant: reserved is not the sum of its
// held reservations, on_hand is not the sum of its ledger, or 0 <= reserved <= on_hand fails.
type PocketProblem struct {
	CabinetID, MedicationID int64
	OnHand, Reserved        int32
	// Held is the sum of its held reservations, Balance the sum of its ledger.
	Held, Balance int32
}

// RequestStock is a request of the projection with what the stock says of it.
type RequestStock struct {
	ID                                   string
	CabinetID                            int64
	Status                               string
	Seq                                  int32
	UpdatedAt                            time.Time
	ApprovalDeadline, WithdrawalDeadline *time.Time
	// Dispensed is what its dispensed movements took; Held what its reservations still hold;
	// Reserved what they held at first; NotInLedger what vends took beyond what the ledger
	// held; Vended what its withdrawal reports said (-1: they did not say, the whole order).
	Dispensed, Held, Reserved, NotInLedger, Vended int32
}

// CheckScope limits a check to some cabinets; none means every cabinet.
type CheckScope struct {
	CabinetIDs []int64
}

func (c CheckScope) ids() []int64 {
	if len(c.CabinetIDs) == 0 {
		return nil
	}
	return c.CabinetIDs
}

// PocketProblems returns the pockets that break the stock invariant.
func (s *StockStore) PocketProblems(ctx context.Context, scope CheckScope) ([]PocketProblem, error) {
	rows, err := s.q.CheckPockets(ctx, scope.ids())
	if err != nil {
		return nil, wrap("check pockets", err)
	}
	out := make([]PocketProblem, len(rows))
	for i, r := range rows {
		out[i] = PocketProblem{CabinetID: r.CabinetID, MedicationID: r.MedicationID, OnHand: r.OnHand, Reserved: r.Reserved, Held: r.Held, Balance: r.Balance}
	}
	return out, nil
}

// RequestStocks returns every request of the projection with what the stock says of it.
func (s *RequestStore) RequestStocks(ctx context.Context, scope CheckScope) ([]RequestStock, error) {
	rows, err := s.q.CheckRequestSummaries(ctx, scope.ids())
	if err != nil {
		return nil, wrap("check requests", err)
	}
	out := make([]RequestStock, len(rows))
	for i, r := range rows {
		out[i] = RequestStock{
			ID: r.ID, CabinetID: r.CabinetID, Status: string(r.Status), Seq: r.Seq, UpdatedAt: r.UpdatedAt,
			ApprovalDeadline: r.ApprovalDeadline, WithdrawalDeadline: r.WithdrawalDeadline,
			Dispensed: r.Dispensed, Held: r.Held, Reserved: r.ReservedTotal, NotInLedger: r.NotInLedger, Vended: r.Vended,
		}
	}
	return out, nil
}

// InboxProblems counts cabinet reports given up on, and those pending since before
// pendingBefore.
func (s *CabinetStore) InboxProblems(ctx context.Context, scope CheckScope, pendingBefore time.Time) (failed, overdue int64, err error) {
	r, err := s.q.CheckInbox(ctx, gen.CheckInboxParams{CabinetIds: scope.ids(), PendingBefore: pendingBefore})
	if err != nil {
		return 0, 0, wrap("check inbox", err)
	}
	return r.Failed, r.Overdue, nil
}

// InboxOutcomes counts the cabinet reports of the inbox by state and outcome, as
// "state/outcome".
func (s *CabinetStore) InboxOutcomes(ctx context.Context) (map[string]int64, error) {
	rows, err := s.q.InboxOutcomes(ctx)
	if err != nil {
		return nil, wrap("inbox outcomes", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Outcome] = r.Reports
	}
	return out, nil
}
