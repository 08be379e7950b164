package cabsim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	// ErrBadEvent: a pocket event or a vend that cannot be sent as asked.
	ErrBadEvent = errors.New("cabsim: bad pocket event")
)

// reportAttempts and reportBackoff pace the resending of a report the system did not take.
const (
	reportAttempts = 5
	reportBackoff  = 200 * time.Millisecond
)

// nurse is who withdraws in the simulation.
const nurse = "SIM-NURSE"

// VendLine changes what is vended for one line of an order (POST /withdraw "lines"): the
// drug, the amount, or both. Empty fields keep what was ordered.
type VendLine struct {
	MedicationCode string `json:"medication_code"`
	Amount         *int32 `json:"amount"`
}

// vended is one line as it is withdrawn.
type vended struct {
	code, name, units string
	amount, ordered   int32
	orderedCode       string
}

// Withdraw reports the withdrawal of an accepted order now and takes what was vended out of
// the stock. By default each line is vended as ordered; lines (optional) replace, line by
// line, the drug or the amount, and lines beyond the order's are vended too. It reports one
// RDS^O13 with an ORDER group per line (control id "RV" and a hash of the request id), or,
// in the PADE format, one OMS^O05 per line ("V1", "V2", ... and a hash). It returns the
// control ids once the system has acknowledged them all.
func (s *Sim) Withdraw(ctx context.Context, requestID string, lines []VendLine) ([]string, error) {
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
	vends, err := vendsOf(o.order, lines)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	o.withdrawn = true
	if o.timer != nil && o.timer.Stop() {
		s.wg.Done()
	}
	reports := s.vendReportsLocked(o.order, vends, time.Now())
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

// Override reports a vend the system did not order: a nurse's override at the cabinet, a vend
// for another system's order, or one without an order (order ""), as real cabinets do. The
// lines say what was taken (code and amount, both required); cabinet is the cabinet's code.
// It returns the report's control id once the system has acknowledged it.
func (s *Sim) Override(ctx context.Context, cabinetCode, order string, lines []VendLine) (string, error) {
	if s.reporter == nil {
		return "", ErrNoReportTo
	}
	if cabinetCode == "" || len(lines) == 0 {
		return "", fmt.Errorf("%w: an override names its cabinet and what it took", ErrBadEvent)
	}
	var vends []vended
	for i, l := range lines {
		if l.MedicationCode == "" || l.Amount == nil || *l.Amount <= 0 {
			return "", fmt.Errorf("%w: override line %d needs a medication code and a positive amount", ErrBadEvent, i+1)
		}
		vends = append(vends, vended{code: l.MedicationCode, amount: *l.Amount})
	}
	s.mu.Lock()
	s.overrides++
	o := cabinet.Order{CabinetCode: cabinetCode, RequestID: order}
	reports := s.vendReportsLocked(o, vends, time.Now())
	for i := range reports {
		// Every override is a report of its own, even for the same order.
		reports[i].Event.MessageControlID = hl7.ShortID("OV", fmt.Sprintf("%s|%s|%d|%d", cabinetCode, order, s.overrides, i))
	}
	s.mu.Unlock()
	build := hl7.BuildRDS
	if s.cfg.ReportFormat == FormatPADE {
		build = hl7.BuildOMS
	}
	for _, r := range reports {
		if err := s.deliver(ctx, r, build); err != nil {
			return "", err
		}
	}
	return reports[0].Event.MessageControlID, nil
}

// Order returns an order the simulator accepted, as it decoded it.
func (s *Sim) Order(requestID string) (cabinet.Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[requestID]
	if o == nil {
		return cabinet.Order{}, false
	}
	return o.order, true
}

// vendsOf applies the admin's changes to an order's lines.
func vendsOf(o cabinet.Order, lines []VendLine) ([]vended, error) {
	var out []vended
	for i := range max(len(o.Lines), len(lines)) {
		var v vended
		if i < len(o.Lines) {
			l := o.Lines[i]
			v = vended{code: l.MedicationCode, name: l.MedicationName, units: l.Unit, amount: l.Quantity,
				ordered: l.Quantity, orderedCode: l.MedicationCode}
		}
		if i < len(lines) {
			if c := lines[i].MedicationCode; c != "" && c != v.code {
				v.code, v.name = c, ""
			}
			if a := lines[i].Amount; a != nil {
				v.amount = *a
			}
		}
		if v.code == "" || v.amount <= 0 {
			return nil, fmt.Errorf("%w: vend line %d needs a medication code and a positive amount", ErrBadEvent, i+1)
		}
		out = append(out, v)
	}
	return out, nil
}

// vendReportsLocked builds the reports of a withdrawal and takes it out of the stock.
func (s *Sim) vendReportsLocked(o cabinet.Order, vends []vended, now time.Time) []hl7.Report {
	base := cabinet.Event{Kind: cabinet.EventVend, CabinetCode: o.CabinetCode, RequestID: o.RequestID, User: nurse, At: now}
	env := hl7.Envelope{ProcessingID: s.processingID()}
	var pocketEvents []cabinet.Event
	for _, v := range vends {
		e := base
		e.Lines = []cabinet.EventLine{{MedicationCode: v.code, MedicationName: v.name, Amount: cabinet.CountOf(v.amount), Units: v.units}}
		e.MedicationCode = v.code
		if s.stock != nil {
			if p := s.stock.byCode(v.orderedCode); p != nil {
				p.pending = max(p.pending-v.ordered, 0)
			}
			if p := s.stock.byCode(v.code); p != nil {
				e.Drawer, e.Pocket = p.Drawer, p.Pocket
				e.ControlledClass, e.ParLevel = p.ControlledClass, cabinet.CountOf(p.ParLevel)
				e.Expected = cabinet.CountOf(p.Quantity)
				p.Quantity = max(p.Quantity-v.amount, 0)
				e.Actual, e.Balance = cabinet.CountOf(p.Quantity), cabinet.CountOf(p.Quantity)
			}
		}
		pocketEvents = append(pocketEvents, e)
	}
	if s.cfg.ReportFormat == FormatPADE {
		out := make([]hl7.Report, len(pocketEvents))
		for i, e := range pocketEvents {
			e.MessageControlID = hl7.ShortID("V"+strconv.Itoa(i+1), o.CabinetCode+"|"+o.RequestID)
			out[i] = hl7.Report{Event: e, Envelope: env}
		}
		return out
	}
	e := base
	e.MessageControlID = hl7.ShortID("RV", o.CabinetCode+"|"+o.RequestID)
	for _, pe := range pocketEvents {
		e.Lines = append(e.Lines, pe.Lines...)
	}
	return []hl7.Report{{Event: e, Envelope: env}}
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
// transport failure or an AR (not now); an AE (the report is wrong) is final.
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

var errFinal = errors.New("refused")

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
		return fmt.Errorf("report %s %w (%s %s): %s", controlID, errFinal, ack.Code, ack.Condition, ack.Text)
	}
	return fmt.Errorf("report %s not taken now (%s %s): %s", controlID, ack.Code, ack.Condition, ack.Text)
}
