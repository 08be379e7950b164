package cabsim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
)

// Errors of Withdraw and SendEvent.
var (
	// ErrUnknownOrder: no accepted order has this request id.
	ErrUnknownOrder = errors.New("cabsim: unknown order")
	// ErrNotPending: the order was cancelled or already withdrawn.
	ErrNotPending = errors.New("cabsim: order not pending")
	// ErrNoReportTo: the simulator has nowhere to send reports.
	ErrNoReportTo = errors.New("cabsim: no report-to address")
	// ErrBadEvent: a pocket event that cannot be sent as asked.
	ErrBadEvent = errors.New("cabsim: bad pocket event")
)

// reportAttempts and reportBackoff pace the resending of a report the system did not take.
const (
	reportAttempts = 5
	reportBackoff  = 200 * time.Millisecond
)

// nurse is who withdraws in the simulation.
const nurse = "SIM-NURSE"

// Withdraw reports the withdrawal of an accepted order now, one report per line (control ids
// "<request id>-V1", "-V2", ...), in the configured format, and takes the quantities out of
// the stock. It returns the control ids once the system has acknowledged them all.
func (s *Sim) Withdraw(ctx context.Context, requestID string) ([]string, error) {
	if s.reporter == nil {
		return nil, ErrNoReportTo
	}
	s.mu.Lock()
	o := s.orders[requestID]
	switch {
	case o == nil:
		s.mu.Unlock()
		return nil, fmt.Errorf("%w %q", ErrUnknownOrder, requestID)
	case o.cancelled || o.withdrawn:
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %q was cancelled or withdrawn", ErrNotPending, requestID)
	}
	o.withdrawn = true
	if o.timer != nil && o.timer.Stop() {
		s.wg.Done()
	}
	now := time.Now()
	reports := make([]hl7.Report, len(o.order.Lines))
	for i, l := range o.order.Lines {
		e := cabinet.Event{
			MessageControlID: fmt.Sprintf("%s-V%d", requestID, i+1),
			Kind:             cabinet.EventVend,
			CabinetCode:      o.order.CabinetCode,
			RequestID:        requestID,
			MedicationCode:   l.MedicationCode,
			Amount:           l.Quantity,
			User:             nurse,
			At:               now,
		}
		if s.stock != nil {
			if p := s.stock.byCode(l.MedicationCode); p != nil {
				e.Drawer, e.Pocket = p.Drawer, p.Pocket
				e.ControlledClass, e.ParLevel = p.ControlledClass, p.ParLevel
				e.Expected = p.Quantity
				p.Quantity = max(p.Quantity-l.Quantity, 0)
				p.pending = max(p.pending-l.Quantity, 0)
				e.Actual, e.Balance = p.Quantity, p.Quantity
			}
		}
		reports[i] = hl7.Report{Event: e, MedicationName: l.MedicationName, Unit: l.Unit}
	}
	s.mu.Unlock()
	ids := make([]string, 0, len(reports))
	for _, r := range reports {
		build := hl7.BuildRDS
		if s.cfg.ReportFormat == FormatPADE {
			build = hl7.BuildOMS
		}
		if err := s.deliver(ctx, r, build); err != nil {
			return ids, err
		}
		ids = append(ids, r.Event.MessageControlID)
	}
	s.logger.Info("withdrawal reported", "request_id", requestID, "reports", ids)
	return ids, nil
}

// deliver sends one report (twice under the duplicate fault) and counts it.
func (s *Sim) deliver(ctx context.Context, r hl7.Report, build func(hl7.Report) (*hl7.Message, error)) error {
	msg, err := build(r)
	if err != nil {
		return err
	}
	raw, err := msg.Encode()
	if err != nil {
		return err
	}
	sends := 1
	if s.Faults().Duplicate {
		sends = 2
	}
	for range sends {
		if err := s.send(ctx, raw, r.Event.MessageControlID); err != nil {
			s.mu.Lock()
			s.stats.ReportsFailed++
			s.mu.Unlock()
			return err
		}
	}
	s.mu.Lock()
	s.stats.ReportsSent++
	s.mu.Unlock()
	return nil
}

// send sends one report until the system acknowledges it AA, resending with backoff after a
// transport failure or an AE; an AR (the system cannot read it) is final.
func (s *Sim) send(ctx context.Context, raw []byte, controlID string) error {
	wait := s.backoff
	var last error
	for attempt := 1; attempt <= reportAttempts; attempt++ {
		last = s.sendOnce(ctx, raw, controlID)
		if last == nil || errors.Is(last, errFinal) {
			return last
		}
		s.logger.Info("report not taken, resending", "control_id", controlID, "attempt", attempt, "error", last)
		if attempt == reportAttempts {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("report %s: %w (last error: %v)", controlID, ctx.Err(), last)
		}
		wait *= 2
	}
	return fmt.Errorf("report %s not taken after %d attempts: %w", controlID, reportAttempts, last)
}

var errFinal = errors.New("rejected")

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
	switch ack.Code {
	case hl7.AckAccept:
		return nil
	case hl7.AckReject:
		return fmt.Errorf("report %s %w (AR): %s", controlID, errFinal, ack.Text)
	}
	return fmt.Errorf("report %s refused (AE): %s", controlID, ack.Text)
}
