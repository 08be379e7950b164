package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/internal/metrics"
	"github.com/medreq/pyxis/internal/obs"
)

// Applier settings.
const (
	// pollInterval is how often the applier looks for reports another process accepted, or
	// that are due again, when nothing woke it.
	pollInterval = time.Second
	// batchSize bounds the reports read per round.
	batchSize = 500
	// maxCabinets bounds the cabinets whose reports are applied at once.
	maxCabinets = 8
	// retryFirst and retryMax bound the back-off of a report that could not be applied yet.
	retryFirst, retryMax = time.Second, time.Minute
)

// InboxLeaderKey is the advisory lock of the one process that applies the inbox ("inbx").
const InboxLeaderKey int64 = 0x696e6278

// Notify wakes the applier: a report was accepted.
func (in *Intake) Notify() {
	select {
	case in.wakeChan() <- struct{}{}:
	default:
	}
}

func (in *Intake) wakeChan() chan struct{} {
	if in.wake == nil {
		in.wake = make(chan struct{}, 1)
	}
	return in.wake
}

// Run applies the inbox until ctx ends: the reports each cabinet sent, in the order it sent
// them, each exactly once (applying is idempotent per report, and a report is marked applied
// only after it was). One process applies at a time (a Postgres advisory lock): every api
// replica runs Run, and another takes over when the applier's process or connection goes.
// A report that cannot be applied yet (the database or Temporal does not answer, or its
// request's authorization is still being confirmed) is tried again with a back-off, and the
// cabinet's later reports wait for it; one that can never be applied is marked failed,
// audited, and passed.
func (in *Intake) Run(ctx context.Context) error {
	_ = in.wakeChan()
	for {
		lead, err := in.Store.TryLead(ctx, InboxLeaderKey)
		if err == nil && lead != nil {
			err = in.lead(ctx, lead)
			lead.Release()
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			in.logger().WarnContext(ctx, "cabinet inbox: not applying for now", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pollInterval):
		}
	}
}

// DefaultRawRetention is how long the raw message of a settled report is kept by default.
const DefaultRawRetention = 30 * 24 * time.Hour

// PurgeRaw blanks the raw messages of the settled reports received more than RawRetention
// before now, and returns how many: the parsed facts stay. The applier calls it while it
// holds the lead, every RawPurgeInterval.
func (in *Intake) PurgeRaw(ctx context.Context, now time.Time) (int64, error) {
	retention := in.RawRetention
	if retention <= 0 {
		retention = DefaultRawRetention
	}
	n, err := in.Store.PurgeInboxRaw(ctx, now.Add(-retention))
	if err == nil && n > 0 {
		in.logger().InfoContext(ctx, "cabinet inbox: raw messages past their retention purged", "reports", n, "retention", retention.String())
	}
	return n, err
}

// lead applies the inbox while this process holds the lead; once an hour (RawPurgeInterval)
// it forgets the reports older than the id retention and blanks raw messages past theirs.
func (in *Intake) lead(ctx context.Context, lead *db.Lead) error {
	every := in.RawPurgeInterval
	if every <= 0 {
		every = time.Hour
	}
	var purged time.Time
	for {
		if err := lead.Check(ctx); err != nil {
			return err
		}
		if time.Since(purged) >= every {
			n, err := in.Store.PurgeReports(ctx, in.idRetention())
			if err != nil {
				return err
			}
			if n > 0 {
				in.logger().InfoContext(ctx, "cabinet inbox: reports older than the id retention forgotten", "rows", n, "retention", in.idRetention())
			}
			if _, err := in.PurgeRaw(ctx, time.Now()); err != nil {
				in.logger().WarnContext(ctx, "cabinet inbox: raw messages not purged for now", "error", err)
			}
			purged = time.Now()
		}
		progressed, err := in.applyRound(ctx)
		if err != nil {
			return err
		}
		if progressed {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-in.wake:
		case <-time.After(pollInterval):
		}
	}
}

// applyRound applies what is due of the pending reports, cabinets side by side, each
// cabinet's in order; it reports whether any report was settled.
func (in *Intake) applyRound(ctx context.Context) (bool, error) {
	pending, err := in.Store.PendingReports(ctx, batchSize)
	if err != nil {
		return false, err
	}
	var queues [][]db.InboxReport
	for i, r := range pending {
		if i == 0 || r.CabinetID != pending[i-1].CabinetID {
			queues = append(queues, nil)
		}
		queues[len(queues)-1] = append(queues[len(queues)-1], r)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		settled  bool
		firstErr error
		slots    = make(chan struct{}, maxCabinets)
	)
	for _, q := range queues {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			n, err := in.applyQueue(ctx, q)
			mu.Lock()
			defer mu.Unlock()
			settled = settled || n > 0
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	return settled, firstErr
}

// applyQueue applies one cabinet's pending reports in order, stopping at the first that is
// not due or cannot be applied yet. It returns how many it settled.
//
// In order means: a report is applied after every report before it that it could depend
// on. Vends for different medication requests commute (each moves its own request, and what
// they take from a shared pocket adds up the same in any order), so a run of them is
// applied together (at most maxRun); any other report (a load, a count, a vend without one
// request, a second vend of the same request) waits for everything before it, and everything
// after it waits for it. A cabinet that reports many vends in a burst is then not held to one
// workflow Update at a time.
func (in *Intake) applyQueue(ctx context.Context, q []db.InboxReport) (int, error) {
	n := 0
	for i := 0; i < len(q); {
		run := commutingRun(q[i:])
		if len(run) == 0 {
			return n, nil // the next report is not due yet
		}
		rctxs := make([]context.Context, len(run))
		outcomes := make([]string, len(run))
		errs := make([]error, len(run))
		var wg sync.WaitGroup
		for k, r := range run {
			wg.Go(func() { rctxs[k], outcomes[k], errs[k] = in.applyTraced(ctx, r) })
		}
		wg.Wait()
		// Every report of the run was applied or not on its own: each is settled or deferred
		// by its own result, logged with what applying it learnt (cabinet, request); a
		// deferred one stops the queue behind the run.
		deferred := false
		for k, r := range run {
			settled, err := in.settle(rctxs[k], r, outcomes[k], errs[k])
			if err != nil {
				return n, err
			}
			if settled {
				n++
			} else {
				deferred = true
			}
		}
		if deferred {
			return n, nil
		}
		i += len(run)
	}
	return n, nil
}

// maxRun bounds the reports of one cabinet applied together.
const maxRun = 8

// commutingRun returns the reports at the head of q to apply together: the first alone
// unless it is a vend for one medication request, then it and the due vends after it for
// other requests, up to maxRun. It is empty when the first is not due.
func commutingRun(q []db.InboxReport) []db.InboxReport {
	now := time.Now()
	if len(q) == 0 || now.Before(q[0].NextAttemptAt) {
		return nil
	}
	seen := map[string]bool{}
	end := 0
	for end < len(q) && end < maxRun && !now.Before(q[end].NextAttemptAt) {
		id := vendRequest(q[end])
		if id == "" || seen[id] {
			break
		}
		seen[id] = true
		end++
	}
	return q[:max(end, 1)]
}

// vendRequest is the medication request a vend report is for, "" for any other report (or
// a vend of several orders, or one the store cannot read: applying it says why).
func vendRequest(r db.InboxReport) string {
	if r.Kind != string(cabinet.EventVend) {
		return ""
	}
	var e struct{ RequestID string }
	if json.Unmarshal(r.Report, &e) != nil || !pyxis.ValidRequestID(e.RequestID) {
		return ""
	}
	return e.RequestID
}

// applyTraced applies one report in a span of its own, and returns the context it applied
// it in, which carries what applying learnt for the log lines about it.
func (in *Intake) applyTraced(ctx context.Context, r db.InboxReport) (context.Context, string, error) {
	rctx, span := obs.StartSpan(ctx, "cabinet report apply", attribute.Int64("pyxis.cabinet_id", r.CabinetID),
		obs.AttrReportKind.String(r.Kind), obs.AttrControlID.String(r.MessageControlID))
	rctx, _ = obs.Start(rctx)
	outcome, err := in.applyReport(rctx, r)
	obs.End(span, err)
	return rctx, outcome, err
}

// settle records what applying r came to: settled with its outcome, deferred with a back-off
// when it may apply later (false), or settled as failed and audited when it never will.
func (in *Intake) settle(ctx context.Context, r db.InboxReport, outcome string, applyErr error) (bool, error) {
	switch {
	case applyErr == nil:
		if err := in.Store.SettleReport(ctx, r.ID, false, outcome, ""); err != nil {
			return false, err
		}
		in.Metrics.Observe(r.Kind, outcome)
		return true, nil
	case retryable(applyErr):
		delay := min(retryFirst<<min(r.Attempts, 6), retryMax)
		in.logger().WarnContext(ctx, "cabinet report not applied yet", "report", r.MessageControlID,
			"cabinet_id", r.CabinetID, "attempt", r.Attempts+1, "retry_in", delay, "error", applyErr)
		return false, in.Store.DeferReport(ctx, r.ID, applyErr.Error(), time.Now().Add(delay))
	default:
		in.logger().ErrorContext(ctx, "cabinet report cannot be applied", "report", r.MessageControlID,
			"cabinet_id", r.CabinetID, "error", applyErr)
		if err := in.Store.SettleReport(ctx, r.ID, true, "failed", applyErr.Error()); err != nil {
			return false, err
		}
		in.Metrics.Observe(r.Kind, metrics.ReportFailed)
		in.auditFailed(ctx, r, applyErr)
		return true, nil
	}
}

// applyReport applies one report of the inbox and returns its outcome.
func (in *Intake) applyReport(ctx context.Context, r db.InboxReport) (string, error) {
	var e cabinet.Event
	if err := json.Unmarshal(r.Report, &e); err != nil {
		return "", fmt.Errorf("%w: stored report unreadable: %v", ErrInvalidReport, err)
	}
	cab, err := in.Store.GetCabinet(ctx, r.CabinetID)
	if err != nil {
		return "", fmt.Errorf("cabinet %d: %w", r.CabinetID, err)
	}
	obs.SetActor(ctx, "cabinet:"+cab.Code)
	trace.SpanFromContext(ctx).SetAttributes(obs.AttrCabinet.String(cab.Code))
	if pyxis.ValidRequestID(e.RequestID) {
		obs.SetWorkflowID(ctx, e.RequestID)
		trace.SpanFromContext(ctx).SetAttributes(obs.AttrWorkflowID.String(e.RequestID))
	}
	if e.Kind != cabinet.EventVend {
		return in.apply(ctx, cab, e)
	}
	return in.applyVendReport(ctx, cab, e)
}

// retryable reports whether applying may succeed later: anything but a report the database
// refuses for good (invalid, a row it needs missing) or that makes no sense.
func retryable(err error) bool {
	switch {
	case errors.Is(err, ErrInvalidReport), errors.Is(err, pyxis.ErrInvalid), errors.Is(err, pyxis.ErrNotFound),
		errors.Is(err, pyxis.ErrStockBelowReserved), errors.Is(err, pyxis.ErrSettled):
		return false
	}
	return true
}

// auditFailed records a report given up on, for the people who keep stock to look at.
func (in *Intake) auditFailed(ctx context.Context, r db.InboxReport, cause error) {
	err := in.Store.AppendAudit(ctx, pyxis.AuditEntry{
		Actor: pyxis.System, Action: "report_failed",
		Details: map[string]any{
			"cabinet_id": r.CabinetID, "message_control_id": r.MessageControlID, "transaction": r.Kind,
			"inbox_id": r.ID, "reason": cause.Error(),
		},
	}, fmt.Sprintf("inbox/%d/failed", r.ID))
	if err != nil {
		in.logger().ErrorContext(ctx, "audit of a failed cabinet report", "error", err)
	}
}
