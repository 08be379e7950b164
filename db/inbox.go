package db

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis/db/gen"
)

// InboxReport is one report a cabinet sent, as the listener accepted it.
type InboxReport struct {
	ID               int64
	CabinetID        int64
	MessageControlID string
	// ContentHash identifies the report's content: a resend carries the same.
	ContentHash []byte
	Kind        string
	// Report is the decoded report as JSON; Raw the message as received.
	Report     []byte
	Raw        string
	Peer       string
	ReceivedAt time.Time
	Attempts   int32
	// NextAttemptAt is when a report that failed to apply may be tried again.
	NextAttemptAt time.Time
	// Retention is how long the cabinet's message control ids are remembered (0: for ever):
	// a settled report received longer ago no longer makes its id a conflict
	// (AcceptReport).
	Retention time.Duration
}

// Outcomes of accepting a report.
type AcceptOutcome int

const (
	// Accepted: a new report, kept until applied.
	Accepted AcceptOutcome = iota
	// Resent: the same report again (same id and content): nothing to do.
	Resent
	// Conflict: another report under an id the cabinet used before; refused.
	Conflict
)

// AcceptReport keeps a report in the inbox, in one short transaction, unless the cabinet sent
// one under the same message control id before: then it says whether that was this report
// again or a different one. A different one under an id older than r.Retention, whose report
// was settled, is no conflict: the old report is forgotten and this one kept.
func (s *CabinetStore) AcceptReport(ctx context.Context, r InboxReport) (AcceptOutcome, error) {
	var out AcceptOutcome
	err := s.inTx(ctx, func(q *gen.Queries) error {
		_, err := q.InsertInboxReport(ctx, gen.InsertInboxReportParams{
			CabinetID: r.CabinetID, MessageControlID: r.MessageControlID, ContentHash: r.ContentHash,
			Kind: r.Kind, Report: r.Report, Raw: r.Raw, Peer: r.Peer,
		})
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		prev, err := q.GetInboxReportByMessage(ctx, gen.GetInboxReportByMessageParams{CabinetID: r.CabinetID, MessageControlID: r.MessageControlID})
		if err != nil {
			return err
		}
		out = Resent
		if bytes.Equal(prev.ContentHash, r.ContentHash) {
			return nil
		}
		out = Conflict
		if r.Retention <= 0 || prev.State == gen.InboxStatePending || time.Since(prev.ReceivedAt) < r.Retention {
			return nil
		}
		// The id aged out: a cabinet whose counter restarted. Forget the old report (it
		// was settled long ago; what it did stays in the ledger and the audit trail) and
		// keep this one.
		if err := q.ForgetInboxReport(ctx, prev.ID); err != nil {
			return err
		}
		_, err = q.InsertInboxReport(ctx, gen.InsertInboxReportParams{
			CabinetID: r.CabinetID, MessageControlID: r.MessageControlID, ContentHash: r.ContentHash,
			Kind: r.Kind, Report: r.Report, Raw: r.Raw, Peer: r.Peer,
		})
		out = Accepted
		return err
	})
	if err != nil {
		return 0, wrap("accept report", err)
	}
	return out, nil
}

// PendingReports returns up to limit reports not yet applied, in the order each cabinet sent
// them (grouped by cabinet).
func (s *CabinetStore) PendingReports(ctx context.Context, limit int) ([]InboxReport, error) {
	rows, err := s.q.ListPendingInbox(ctx, int32(limit))
	if err != nil {
		return nil, wrap("pending reports", err)
	}
	out := make([]InboxReport, len(rows))
	for i, r := range rows {
		out[i] = InboxReport{
			ID: r.ID, CabinetID: r.CabinetID, MessageControlID: r.MessageControlID, Kind: r.Kind, Report: r.Report,
			Raw: r.Raw, Peer: r.Peer, ReceivedAt: r.ReceivedAt, Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt,
		}
	}
	return out, nil
}

// SettleReport records that a pending report was applied (failed false) or given up on, with
// what happened.
func (s *CabinetStore) SettleReport(ctx context.Context, id int64, failed bool, outcome, lastError string) error {
	state := gen.InboxStateApplied
	if failed {
		state = gen.InboxStateFailed
	}
	return wrap("settle report", s.q.SettleInboxReport(ctx, gen.SettleInboxReportParams{
		ID: id, State: state, Outcome: outcome, LastError: lastError,
	}))
}

// DeferReport records a failed attempt at a pending report, to try again at next.
func (s *CabinetStore) DeferReport(ctx context.Context, id int64, lastError string, next time.Time) error {
	return wrap("defer report", s.q.DeferInboxReport(ctx, gen.DeferInboxReportParams{
		ID: id, LastError: lastError, NextAttemptAt: next,
	}))
}

// PurgeReports forgets what is older than retention: settled reports of the inbox, and the
// claims of applied reports (cabinet_messages) but those of a report still pending. Their ids
// may then be used again by the cabinet. It returns how many rows went.
func (s *CabinetStore) PurgeReports(ctx context.Context, retention time.Duration) (int64, error) {
	if retention <= 0 {
		return 0, nil
	}
	before := time.Now().Add(-retention)
	var n int64
	err := s.inTx(ctx, func(q *gen.Queries) error {
		a, err := q.PurgeInbox(ctx, before)
		if err != nil {
			return err
		}
		b, err := q.PurgeCabinetMessages(ctx, before)
		n = a + b
		return err
	})
	return n, wrap("purge reports", err)
}

// InboxBacklog returns how many reports wait to be applied and how old the oldest is.
func (s *CabinetStore) InboxBacklog(ctx context.Context) (int64, time.Duration, error) {
	row, err := s.q.InboxBacklog(ctx)
	if err != nil {
		return 0, 0, wrap("inbox backlog", err)
	}
	return row.Pending, time.Duration(row.OldestSeconds * float64(time.Second)), nil
}

// InboxState is where a report stands in the inbox.
type InboxState struct {
	// State is pending, applied or failed; Outcome what applying it did.
	State, Outcome, LastError string
	Attempts                  int32
}

// InboxReportState returns where a cabinet's report stands, or ErrNotFound.
func (s *CabinetStore) InboxReportState(ctx context.Context, cabinetID int64, messageControlID string) (InboxState, error) {
	r, err := s.q.GetInboxReportState(ctx, gen.GetInboxReportStateParams{CabinetID: cabinetID, MessageControlID: messageControlID})
	if err != nil {
		return InboxState{}, wrap("inbox report state", err)
	}
	return InboxState{State: string(r.State), Outcome: r.Outcome, LastError: r.LastError, Attempts: r.Attempts}, nil
}

// PurgeInboxRaw blanks the raw message of every settled report received before cutoff, and
// returns how many it blanked. The parsed report, its outcome and its place in the ledger
// stay: only the message as received, which holds patient data verbatim, goes.
func (s *CabinetStore) PurgeInboxRaw(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := s.q.PurgeInboxRaw(ctx, cutoff)
	return n, wrap("purge inbox raw", err)
}
