package cabsim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/medreq/pyxis/cabinet/hl7"
)

// Kinds of report in the outbox.
const (
	kindVend     = "vend"
	kindOverride = "override"
	kindEvent    = "event"
)

// Pacing of resends: a report not acknowledged AA is sent again after reportBackoff,
// doubling up to reportMaxBackoff, for as long as it takes.
const (
	reportBackoff    = time.Second
	reportMaxBackoff = 30 * time.Second
	// maxFailures is how many reports refused AE the stats remember, newest last.
	maxFailures = 20
)

// outReport is a report waiting in the outbox for the system's AA.
type outReport struct {
	savedReport
	// gen is the state generation that holds the report: it is sent once that is on disk.
	gen uint64
	// done is closed when the report leaves the outbox: err is nil after an AA, the refusal
	// after an AE.
	done chan struct{}
	err  error
}

// ReportFailure is a report the system refused AE: it is not sent again.
type ReportFailure struct {
	ControlID string    `json:"control_id"`
	Cabinet   string    `json:"cabinet"`
	Kind      string    `json:"kind"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// encodeReports builds and encodes reports for the outbox without queueing them: nothing is
// queued when one of them cannot be encoded.
func encodeReports(kind string, reports []hl7.Report, build func(hl7.Report) (*hl7.Message, error), now time.Time) ([]*outReport, error) {
	out := make([]*outReport, 0, len(reports))
	for _, r := range reports {
		msg, err := build(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadEvent, err)
		}
		raw, err := msg.Encode()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadEvent, err)
		}
		out = append(out, &outReport{
			savedReport: savedReport{ControlID: r.Event.MessageControlID, Cabinet: r.Event.CabinetCode, Kind: kind,
				Message: string(raw), QueuedAt: now},
			done: make(chan struct{}),
		})
	}
	return out, nil
}

// enqueueLocked puts reports at the end of their cabinets' queues, as one change of the
// durable state together with whatever the caller changed before, and wakes the senders.
func (s *Sim) enqueueLocked(rs []*outReport) {
	for _, r := range rs {
		r.Seq = s.nextReport
		s.nextReport++
		s.outbox[r.Cabinet] = append(s.outbox[r.Cabinet], r)
		s.outboxLen++
	}
	gen := s.changedLocked()
	for _, r := range rs {
		r.gen = gen
		s.startSenderLocked(r.Cabinet)
	}
}

// startSenderLocked starts the sender of a cabinet's queue unless it runs.
func (s *Sim) startSenderLocked(cabinetCode string) {
	if !s.started || s.closed || s.senders[cabinetCode] || s.reporter == nil {
		return
	}
	s.senders[cabinetCode] = true
	s.wg.Add(1)
	go s.sendLoop(cabinetCode)
}

// sendLoop delivers a cabinet's queue in order: the first report until the system answers AA
// (it leaves the queue) or AE (it leaves the queue, counted as failed), then the next. A
// report answered AR, or not answered, is sent again after a back-off, however long that
// takes; nothing behind it overtakes it.
func (s *Sim) sendLoop(cabinetCode string) {
	defer s.wg.Done()
	wait := s.backoff
	for {
		s.mu.Lock()
		q := s.outbox[cabinetCode]
		if len(q) == 0 || s.closed {
			delete(s.senders, cabinetCode)
			s.mu.Unlock()
			return
		}
		r := q[0]
		s.mu.Unlock()

		// What a report says must be on disk before the system hears it: otherwise a crash
		// after the send would forget the withdrawal, and do it again.
		err := s.durable(s.ctx, r.gen)
		sent := err == nil
		if sent {
			err = s.sendReport(s.ctx, r)
		}
		if err != nil && s.ctx.Err() != nil {
			// Closing: the report stays in the outbox, and is sent after a restart.
			s.mu.Lock()
			delete(s.senders, cabinetCode)
			s.mu.Unlock()
			return
		}
		refused := errors.Is(err, ErrReportRefused)
		s.mu.Lock()
		switch {
		case err == nil:
			s.stats.ReportsSent++
			s.finishLocked(r, nil)
		case refused:
			s.stats.ReportsFailed++
			s.stats.Failures = append(s.stats.Failures, ReportFailure{ControlID: r.ControlID, Cabinet: r.Cabinet,
				Kind: r.Kind, Reason: err.Error(), At: time.Now()})
			if n := len(s.stats.Failures); n > maxFailures {
				s.stats.Failures = slices.Clone(s.stats.Failures[n-maxFailures:])
			}
			s.finishLocked(r, err)
		default:
			if sent {
				r.Attempts++
			}
			r.LastError = err.Error()
		}
		s.mu.Unlock()
		if err == nil || refused {
			if refused {
				s.logger.Warn("report refused AE: not sent again", "control_id", r.ControlID, "kind", r.Kind, "error", err)
			}
			wait = s.backoff
			continue
		}
		s.logger.Info("report not taken, resending later", "control_id", r.ControlID, "kind", r.Kind,
			"attempts", r.Attempts, "retry_in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
		}
		wait = min(2*wait, s.maxBackoff)
	}
}

// finishLocked takes the first report of its cabinet's queue out of the outbox.
func (s *Sim) finishLocked(r *outReport, err error) {
	q := s.outbox[r.Cabinet]
	if len(q) > 0 && q[0] == r {
		q[0] = nil
		if len(q) == 1 {
			delete(s.outbox, r.Cabinet)
		} else {
			s.outbox[r.Cabinet] = q[1:]
		}
		s.outboxLen--
	}
	s.changedLocked()
	r.err = err
	close(r.done)
}

// await waits until the system has answered every report: nil when it took them all (AA),
// the refusal when it refused one (AE). When ctx ends or the simulator closes first, it
// returns an error wrapping ErrQueued: the reports stay in the outbox and are delivered later.
func (s *Sim) await(ctx context.Context, rs []*outReport) error {
	for _, r := range rs {
		select {
		case <-r.done:
			if r.err != nil {
				return r.err
			}
			continue
		case <-ctx.Done():
			return fmt.Errorf("%w: report %s not acknowledged yet: %w", ErrQueued, r.ControlID, ctx.Err())
		case <-s.ctx.Done():
			return fmt.Errorf("%w: report %s not acknowledged before the simulator closed", ErrQueued, r.ControlID)
		}
	}
	return nil
}

// controlIDs returns the reports' control ids.
func controlIDs(rs []*outReport) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ControlID
	}
	return ids
}

// sendReport sends a report once (twice under the duplicate fault, with the same control id)
// and reads the answer.
func (s *Sim) sendReport(ctx context.Context, r *outReport) error {
	sends := 1
	if s.Faults().Duplicate {
		sends = 2
	}
	for range sends {
		if err := s.sendOnce(ctx, []byte(r.Message), r.ControlID); err != nil {
			return err
		}
	}
	return nil
}

// sendOnce sends a message and reads its acknowledgment: nil for AA (CA), an error wrapping
// ErrReportRefused for AE (CE), another error for AR (CR), no answer or an answer that does
// not read.
func (s *Sim) sendOnce(ctx context.Context, raw []byte, controlID string) error {
	answer, err := s.reporter.Send(ctx, raw)
	if err != nil {
		return err
	}
	ack, err := hl7.ParseACK(answer)
	if err != nil {
		return fmt.Errorf("unreadable acknowledgment: %w", err)
	}
	if ack.ControlID != controlID {
		return fmt.Errorf("acknowledgment of %q, not %q", ack.ControlID, controlID)
	}
	switch {
	case ack.Code.Accepted():
		return nil
	case ack.Code.Refused():
		return fmt.Errorf("%w: report %s answered %s %s: %s", ErrReportRefused, controlID, ack.Code, ack.Condition, ack.Text)
	}
	return fmt.Errorf("report %s not taken now (%s %s): %s", controlID, ack.Code, ack.Condition, ack.Text)
}
